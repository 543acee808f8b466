//! The step every machine builder uses to reach its machine: connect the configured
//! communicator (`ssh` or `none`) within its time budget, and close it at cleanup.

use crate::plugin::{BuildCx, GeneratedData};
use crate::step::{ProvisionState, Step};
use crate::Result;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::ssh::{self, Target};
use kiln_comm::Communicator;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What the connect step needs from a builder's state.
pub trait ConnectState: ProvisionState {
    /// The address the builder found for the machine (None: use `ssh_host`).
    fn machine_host(&self) -> Option<String> {
        None
    }
    /// The port the builder reaches the machine's SSH on (a forwarded host port; None: use
    /// `ssh_port`).
    fn machine_port(&self) -> Option<u16> {
        None
    }
    /// Resolves, with why, when the machine is known to be gone (its emulator exited): the
    /// wait for SSH ends there rather than at `ssh_timeout`. None: the builder cannot tell.
    fn machine_gone(&self) -> Option<Pin<Box<dyn Future<Output = String> + Send>>> {
        None
    }
    /// Key material the builder generated, with a name for messages.
    fn machine_private_key(&self) -> Option<(String, String)> {
        None
    }
    /// The public line of a temporary key the builder put on the machine (cloud-init writes
    /// it to authorized_keys), to remove before the machine is captured.
    fn temporary_public_key(&self) -> Option<String> {
        None
    }
    /// Stores the connected communicator and how it reached the machine.
    fn set_communicator(&mut self, comm: Arc<dyn Communicator>, info: ConnInfo);
}

/// How the communicator reached the machine; provisioners that open their own connections
/// (the `ansible` provisioner) read it from the build's generated data.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// Address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub user: String,
    /// Private key text, when key authentication is used.
    pub private_key: Option<String>,
    /// Password, when password authentication is used.
    pub password: Option<String>,
}

impl ConnInfo {
    /// The entries for `{{ build "…" }}` and provisioners, with Packer's key names.
    pub fn data(&self) -> GeneratedData {
        let mut d = GeneratedData::new();
        d.insert("Host".into(), self.host.clone());
        d.insert("Port".into(), self.port.to_string());
        d.insert("User".into(), self.user.clone());
        d.insert(
            "SSHPrivateKey".into(),
            self.private_key.clone().unwrap_or_default(),
        );
        d.insert("Password".into(), self.password.clone().unwrap_or_default());
        d.insert("ConnType".into(), "ssh".into());
        d
    }
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
        crate::step::pause(&cx.ui, &cx.cancel, pause, "before connecting").await?;
        let host = state.machine_host().unwrap_or_default();
        let mut target = Target::from_config(&self.config, &host, state.machine_private_key())?;
        if let Some(port) = state.machine_port() {
            target.port = port;
        }
        cx.ui.say(&format!(
            "Using SSH communicator to connect: {}",
            target.host
        ));
        cx.ui.say("Waiting for SSH to become available...");
        let connecting = ssh::connect(&target, &cx.cancel);
        let comm = match state.machine_gone() {
            None => connecting.await?,
            Some(gone) => tokio::select! {
                r = connecting => r?,
                why = gone => {
                    return Err(crate::Error::msg(format!(
                        "The machine stopped before SSH became available: {why}"
                    )))
                }
            },
        };
        let comm = Arc::new(comm);
        cx.ui.say("Connected to SSH!");
        self.ssh = Some(comm.clone());
        let info = ConnInfo {
            host: target.host.clone(),
            port: target.port,
            user: target.username.clone(),
            private_key: target.auth.private_key.clone(),
            password: target.auth.password.clone(),
        };
        state.set_communicator(comm, info);
        Ok(())
    }

    async fn cleanup(&mut self, _cx: &BuildCx, _state: &mut S) {
        if let Some(c) = self.ssh.take() {
            c.close().await;
        }
    }
}
