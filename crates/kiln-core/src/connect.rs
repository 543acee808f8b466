//! The step every machine builder uses to reach its machine: connect the configured
//! communicator (`ssh` or `none`) within its time budget, and close it at cleanup.

use crate::plugin::BuildCx;
use crate::step::{ProvisionState, Step};
use crate::{Error, Result};
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::ssh::{self, Target};
use kiln_comm::{CommError, Communicator};
use std::sync::Arc;

/// What the connect step needs from a builder's state.
pub trait ConnectState: ProvisionState {
    /// The address the builder found for the machine (None: use `ssh_host`).
    fn machine_host(&self) -> Option<String> {
        None
    }
    /// Key material the builder generated, with a name for messages.
    fn machine_private_key(&self) -> Option<(String, String)> {
        None
    }
    /// Stores the connected communicator.
    fn set_communicator(&mut self, comm: Arc<dyn Communicator>);
}

/// Connects the communicator.
pub struct StepConnect {
    /// The communicator options.
    pub config: CommConfig,
    ssh: Option<Arc<ssh::SshCommunicator>>,
}

impl StepConnect {
    /// A connect step for these options.
    pub fn new(config: CommConfig) -> StepConnect {
        StepConnect { config, ssh: None }
    }
}

#[async_trait]
impl<S: ConnectState> Step<S> for StepConnect {
    fn name(&self) -> &'static str {
        "StepConnect"
    }

    async fn run(&mut self, cx: &BuildCx, state: &mut S) -> Result<()> {
        if self.config.communicator == "none" {
            return Ok(());
        }
        let pause = self.config.pause_before_connecting.0;
        if !pause.is_zero() {
            cx.ui.say(&format!(
                "Pausing {} before connecting...",
                kiln_template::duration::format_go_duration(pause)
            ));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
        let host = state.machine_host().unwrap_or_default();
        let target = Target::from_config(&self.config, &host, state.machine_private_key())?;
        cx.ui.say(&format!(
            "Using SSH communicator to connect: {}",
            target.host
        ));
        cx.ui.say("Waiting for SSH to become available...");
        let comm = match ssh::connect(&target, &cx.cancel).await {
            Ok(c) => Arc::new(c),
            Err(CommError::Cancelled) => return Err(Error::Cancelled),
            Err(e) => return Err(e.into()),
        };
        cx.ui.say("Connected to SSH!");
        self.ssh = Some(comm.clone());
        state.set_communicator(comm);
        Ok(())
    }

    async fn cleanup(&mut self, _cx: &BuildCx, _state: &mut S) {
        if let Some(c) = self.ssh.take() {
            c.close().await;
        }
    }
}
