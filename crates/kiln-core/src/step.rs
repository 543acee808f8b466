//! Steps: the unit a builder is made of. The runner runs them in order and cleans up the ones
//! that ran in reverse order, on success, failure and cancellation alike, honouring `-on-error`.

use crate::plugin::{BuildCx, GeneratedData, OnError};
use crate::{Error, Result};
use async_trait::async_trait;
use kiln_comm::Communicator;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

/// One step of a builder, over the builder's own typed state `S`.
#[async_trait]
pub trait Step<S: Send>: Send {
    /// Packer-style step name for `-debug` and errors (`StepCreateInstance`).
    fn name(&self) -> &'static str;
    /// Does the step's work. Long waits must watch `cx.cancel`.
    async fn run(&mut self, cx: &BuildCx, state: &mut S) -> Result<()>;
    /// Undoes what `run` created. Called for every step whose `run` was entered.
    async fn cleanup(&mut self, _cx: &BuildCx, _state: &mut S) {}
}

/// What the user chose at an `-on-error=ask` prompt.
enum Choice {
    Cleanup,
    Abort,
    Retry,
}

fn ask(cx: &BuildCx, step: &str, err: &Error) -> Choice {
    cx.ui.error(&format!("Step \"{step}\" failed"));
    cx.ui.error(&format!("{err}"));
    if !std::io::stdin().is_terminal() {
        cx.ui.error("-on-error=ask needs a terminal; cleaning up.");
        return Choice::Cleanup;
    }
    loop {
        cx.ui.say("[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?");
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
            return Choice::Cleanup;
        }
        match line.trim() {
            "c" | "C" => return Choice::Cleanup,
            "a" | "A" => return Choice::Abort,
            "r" | "R" => return Choice::Retry,
            other => cx.ui.error(&format!("Incorrect input: {other:?}")),
        }
    }
}

async fn debug_pause(cx: &BuildCx, step: &str) {
    cx.ui.say(&format!(
        "Pausing after run of step '{step}'. Press enter to continue."
    ));
    let cancel = cx.cancel.clone();
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    });
    tokio::select! {
        _ = read => {}
        _ = cancel.cancelled() => {}
    }
}

/// Runs `steps` over `state`; returns the first error after cleanup.
pub async fn run_steps<S: Send>(
    cx: &BuildCx,
    state: &mut S,
    mut steps: Vec<Box<dyn Step<S>>>,
) -> Result<()> {
    let mut entered = 0;
    let mut result = Ok(());
    let mut abort = false;
    'steps: for (i, step) in steps.iter_mut().enumerate() {
        loop {
            if cx.cancel.is_cancelled() {
                result = Err(Error::Cancelled);
                break 'steps;
            }
            entered = i + 1;
            match step.run(cx, state).await {
                Ok(()) => {
                    if cx.debug {
                        debug_pause(cx, step.name()).await;
                    }
                    continue 'steps;
                }
                Err(Error::Cancelled) => {
                    result = Err(Error::Cancelled);
                    break 'steps;
                }
                Err(e) if cx.cancel.is_cancelled() => {
                    result = Err(e);
                    break 'steps;
                }
                Err(e) => {
                    match cx.on_error {
                        OnError::Cleanup => {}
                        OnError::Abort | OnError::RunCleanupProvisioner => abort = true,
                        OnError::Ask => match ask(cx, step.name(), &e) {
                            Choice::Cleanup => {}
                            Choice::Abort => abort = true,
                            Choice::Retry => continue,
                        },
                    }
                    result = Err(e);
                    break 'steps;
                }
            }
        }
    }
    if abort {
        cx.ui
            .error("Aborting without cleanup: resources created by this build were left in place.");
        return result;
    }
    for step in steps[..entered].iter_mut().rev() {
        step.cleanup(cx, state).await;
    }
    result
}

/// Gives the provisioning step what it needs from a builder's state.
pub trait ProvisionState: Send {
    /// The communicator, once connected.
    fn communicator(&self) -> Option<Arc<dyn Communicator>>;
    /// Data for `{{ build "Key" }}`.
    fn generated_data(&self) -> GeneratedData;
}

/// The step every builder includes once its machine is reachable: runs the provisioners, and
/// the error-cleanup provisioner when they fail (unless `-on-error=abort`).
pub struct StepProvision;

#[async_trait]
impl<S: ProvisionState> Step<S> for StepProvision {
    fn name(&self) -> &'static str {
        "StepProvision"
    }

    async fn run(&mut self, cx: &BuildCx, state: &mut S) -> Result<()> {
        let comm = state
            .communicator()
            .unwrap_or_else(|| Arc::new(kiln_comm::NoneCommunicator));
        let data = state.generated_data();
        let result = cx.hook.provision(cx, comm.clone(), &data).await;
        if result.is_err() && cx.on_error != OnError::Abort {
            cx.ui.say(
                "Provisioning step had errors: Running the cleanup provisioner, if present...",
            );
            if let Err(e) = cx.hook.error_cleanup(cx, comm, &data).await {
                cx.ui
                    .error(&format!("Error-cleanup provisioner failed: {e}"));
            }
        }
        result
    }
}
