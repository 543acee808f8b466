//! Connects the `docker` communicator to the container (or none, with `"communicator":
//! "none"`): `docker exec` as `exec_user`, uploads handed to the container's user.

use super::builder::State;
use async_trait::async_trait;
use kiln_comm::docker::DockerCommunicator;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::sync::Arc;

/// Makes the communicator.
pub struct StepConnectDocker;

#[async_trait]
impl Step<State> for StepConnectDocker {
    fn name(&self) -> &'static str {
        "StepConnectDocker"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        if s.comm_config.communicator != "docker" {
            return Ok(());
        }
        cx.ui.say("Using docker communicator to connect:");
        let pause = s.comm_config.pause_before_connecting.0;
        kiln_core::step::pause(&cx.ui, &cx.cancel, pause, "before connecting").await?;
        let id = s.container.clone().unwrap_or_default();
        let user = kiln_comm::docker::docker(&["inspect", "--format", "{{.Config.User}}", &id])
            .await
            .map_err(|e| Error::msg(format!("Failed to inspect the container: {e}")))?;
        s.comm = Some(Arc::new(DockerCommunicator {
            container: id,
            exec_user: s.config.exec_user.clone(),
            pty: s.config.pty,
            fix_upload_owner: s.config.fix_upload_owner,
            container_user: user,
        }));
        Ok(())
    }
}
