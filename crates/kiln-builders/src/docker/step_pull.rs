//! `docker pull` of the image (unless `pull` is false), logged in to `login_server` first
//! when `login` is set and logged out after, as Packer does. The password goes to
//! `docker login` on its standard input, never on a command line.

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Pulls the image.
pub struct StepPull;

#[async_trait]
impl Step<State> for StepPull {
    fn name(&self) -> &'static str {
        "StepPull"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.config;
        if !c.pull {
            kiln_core::log::log(format_args!("[INFO] Pull disabled, won't docker pull"));
            return Ok(());
        }
        cx.ui.say(&format!("Pulling Docker image: {}", c.image));
        let login = if c.login {
            cx.ui.message("Logging in...");
            let l = kiln_comm::docker::login(&c.login_server, &c.login_username, &c.login_password)
                .await
                .map_err(|e| Error::msg(format!("Error logging in: {e}")))?;
            Some(l)
        } else {
            None
        };
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["pull", &c.image]);
        let pulled = kiln_core::process::run_streamed(cmd, &cx.ui, &cx.cancel).await;
        if let Some(l) = login {
            cx.ui.message("Logging out...");
            if let Err(e) = l.logout().await {
                cx.ui.error(&format!("Error logging out: {e}"));
            }
        }
        match pulled {
            Ok(0) => Ok(()),
            Ok(code) => Err(Error::msg(format!(
                "Error pulling Docker image: docker pull {} exited with status {code}",
                c.image
            ))),
            Err(Error::Cancelled) => Err(Error::Cancelled),
            Err(e) => Err(Error::msg(format!("Error pulling Docker image: {e}"))),
        }
    }
}
