//! Local child processes: streamed output, and on cancellation the whole process tree killed
//! (each command runs in its own process group).

use crate::ui::BuildUi;
use crate::{Error, Result};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio_util::sync::CancellationToken;

/// How long a process group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Runs `cmd` with its output streamed to `ui` (stdout as messages, stderr as errors), and
/// returns its exit code. On cancellation the process group is terminated, then killed, and
/// the result is [`Error::Cancelled`].
pub async fn run_streamed(
    cmd: tokio::process::Command,
    ui: &BuildUi,
    cancel: &CancellationToken,
) -> Result<i32> {
    run_streamed_with(cmd, ui, cancel, Arc::new(|_: &str| {})).await
}

/// [`run_streamed`], also handing every output line to `on_line` (to follow the output, e.g.
/// to find which task failed).
pub async fn run_streamed_with(
    mut cmd: tokio::process::Command,
    ui: &BuildUi,
    cancel: &CancellationToken,
    on_line: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<i32> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    crate::log::log(format_args!(
        "[INFO] ({}) executing {:?}",
        ui.name(),
        cmd.as_std()
    ));
    let mut child = cmd.spawn()?;
    let pgid = child.id().map(|p| p as i32);
    let out = pump(child.stdout.take(), ui.clone(), false, on_line.clone());
    let err = pump(child.stderr.take(), ui.clone(), true, on_line);
    let status = tokio::select! {
        s = child.wait() => Some(s?),
        _ = cancel.cancelled() => None,
    };
    match status {
        Some(s) => {
            let _ = tokio::join!(out, err);
            crate::log::log(format_args!("[INFO] ({}) command exited: {s}", ui.name()));
            Ok(s.code().unwrap_or(-1))
        }
        None => {
            if let Some(pg) = pgid {
                kill_group(pg, libc::SIGTERM);
                if tokio::time::timeout(TERM_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    kill_group(pg, libc::SIGKILL);
                    let _ = child.wait().await;
                }
                // Anything the command left behind in its group goes too.
                kill_group(pg, libc::SIGKILL);
            }
            Err(Error::Cancelled)
        }
    }
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

fn pump(
    stream: Option<impl AsyncRead + Unpin + Send + 'static>,
    ui: BuildUi,
    is_err: bool,
    on_line: Arc<dyn Fn(&str) + Send + Sync>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(stream) = stream else { return };
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            on_line(&line);
            if is_err {
                ui.error(&line);
            } else {
                ui.message(&line);
            }
        }
    })
}
