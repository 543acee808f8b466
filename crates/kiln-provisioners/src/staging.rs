//! Removing a provisioner's staging directory from the machine.

use kiln_comm::exec_quiet;
use kiln_core::plugin::ProvisionCx;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs `command` (which removes `staging`), also after a failure or an interrupt: it has its
/// own short budget rather than the build's cancellation. Says so when it cannot.
pub async fn remove(cx: &ProvisionCx<'_>, command: &str, staging: &str) {
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
