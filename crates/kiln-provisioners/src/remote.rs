//! What the provisioners that stage files on the machine share: quoting, running a command
//! with its output shown, removing the staging directory.

use kiln_comm::{exec_quiet, Output, RemoteCommand};
use kiln_core::plugin::ProvisionCx;
use kiln_core::{Error, Result};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Quotes a value as one single-quoted word of a POSIX shell (`KEY='value'`).
pub fn single_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\"'\"'"))
}

/// Runs `command` on the machine with its output shown (standard output as messages, errors
/// as errors), each line also given to `tap`; returns the exit code.
pub async fn run_shown(
    cx: &ProvisionCx<'_>,
    command: &str,
    tap: &(dyn Fn(&str) + Send + Sync),
) -> Result<i32> {
    let ui = cx.ui.clone();
    let on_output = |o: Output| match o {
        Output::Stdout(l) => {
            tap(&l);
            ui.message(&l)
        }
        Output::Stderr(l) => {
            tap(&l);
            ui.error(&l)
        }
    };
    cx.comm
        .exec(RemoteCommand {
            command,
            on_output: &on_output,
            cancel: cx.cancel.clone(),
        })
        .await
        .map_err(Error::from)
}

/// Runs `command` (which removes `staging`), also after a failure or an interrupt: it has its
/// own short budget rather than the build's cancellation. Says so when it cannot.
pub async fn remove_staging(cx: &ProvisionCx<'_>, command: &str, staging: &str) {
    let clean = tokio::time::timeout(
        Duration::from_secs(60),
        exec_quiet(cx.comm.as_ref(), command, CancellationToken::new()),
    )
    .await;
    if !matches!(clean, Ok(Ok(0))) {
        cx.ui
            .error(&format!("Could not remove the staging directory {staging}"));
    }
}
