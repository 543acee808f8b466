//! Powers the machine off: runs `shutdown_command` over the communicator and waits up to
//! `shutdown_timeout` for QEMU to exit (a connection the shutdown closes is expected); with
//! no command, stops the VM. With no communicator, waits for the machine to power itself
//! off.

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Shuts the machine down.
pub struct StepShutdown;

impl StepShutdown {
    /// Waits for QEMU to exit within the shutdown budget.
    async fn wait_off(cx: &BuildCx, s: &mut State, what: &str) -> Result<()> {
        let budget = s.settings.shutdown_timeout;
        let Some(vm) = s.vm.as_mut() else {
            return Ok(());
        };
        tokio::select! {
            _ = vm.wait() => Ok(()),
            _ = tokio::time::sleep(budget) => Err(Error::msg(what.to_string())),
            _ = cx.cancel.cancelled() => Err(Error::Cancelled),
        }
    }
}

#[async_trait]
impl Step<State> for StepShutdown {
    fn name(&self) -> &'static str {
        "stepShutdown"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        if s.comm_config.communicator == "none" {
            cx.ui.say("Waiting for shutdown...");
            return Self::wait_off(cx, s, "Failed to shutdown").await;
        }
        let command = s.settings.c.shutdown_command.clone();
        if command.is_empty() {
            cx.ui.say("Halting the virtual machine...");
            if let Some(vm) = s.vm.as_mut() {
                vm.kill().await;
            }
            return Ok(());
        }
        let comm = s
            .comm
            .clone()
            .ok_or_else(|| Error::msg("no communicator to send the shutdown command over"))?;
        cx.ui.say("Gracefully halting virtual machine...");
        kiln_core::log::log(format_args!("[INFO] executing shutdown command: {command}"));
        let ui = cx.ui.clone();
        let on_output = move |o: kiln_comm::Output| match o {
            kiln_comm::Output::Stdout(l) => ui.message(&l),
            kiln_comm::Output::Stderr(l) => ui.error(&l),
        };
        // The machine going down may close the connection before the command's exit status
        // arrives: only QEMU's exit says whether it worked.
        let sent = comm
            .exec(kiln_comm::RemoteCommand {
                command: &command,
                on_output: &on_output,
                cancel: cx.cancel.clone(),
            })
            .await;
        match sent {
            Err(kiln_comm::CommError::Cancelled) => return Err(Error::Cancelled),
            Err(e) => kiln_core::log::log(format_args!("[INFO] shutdown command: {e}")),
            Ok(code) => kiln_core::log::log(format_args!("[INFO] shutdown command exited {code}")),
        }
        Self::wait_off(cx, s, "Timeout while waiting for machine to shut down.").await
    }
}
