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
    /// Whether the cleanup still runs with `-on-error=run-cleanup-provisioner` (only the
    /// provisioning step's, which runs the error-cleanup provisioner).
    fn cleans_up_on_abort(&self) -> bool {
        false
    }
}

/// Packer's pauses (`pause_before_connecting`, `pause_before`, `pause_after`): says
/// "Pausing D WHEN..." and waits `d`, unless the build is cancelled first. Nothing for zero.
pub async fn pause(
    ui: &crate::ui::BuildUi,
    cancel: &tokio_util::sync::CancellationToken,
    d: std::time::Duration,
    when: &str,
) -> Result<()> {
    if d.is_zero() {
        return Ok(());
    }
    ui.say(&format!(
        "Pausing {} {when}...",
        kiln_template::duration::format_go_duration(d)
    ));
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(crate::Error::Cancelled),
    }
}

/// What the user chose at an `-on-error=ask` prompt.
#[derive(Debug, PartialEq, Eq)]
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
    read_choice(cx, &mut std::io::stdin().lock())
}

/// Prompts until the answer starts with c, a or r (any case, as Packer: "retry" is r); an
/// empty answer or the end of input means clean up.
fn read_choice(cx: &BuildCx, input: &mut dyn BufRead) -> Choice {
    loop {
        cx.ui.say("[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?");
        let mut line = String::new();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            return Choice::Cleanup;
        }
        let answer = line.trim_end_matches(['\r', '\n']);
        match answer.chars().next().map(|c| c.to_ascii_lowercase()) {
            None | Some('c') => return Choice::Cleanup,
            Some('a') => return Choice::Abort,
            Some('r') => return Choice::Retry,
            Some(_) => cx.ui.say(&format!("Incorrect input: {answer:?}")),
        }
    }
}

/// Where `-debug` pauses.
#[derive(Clone, Copy)]
enum Pause {
    AfterRun,
    BeforeCleanup,
}

async fn debug_pause(cx: &BuildCx, at: Pause, step: &str) {
    let at = match at {
        Pause::AfterRun => "after run of",
        Pause::BeforeCleanup => "before cleanup of",
    };
    cx.ui.say(&format!(
        "Pausing {at} step '{step}'. Press enter to continue."
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
    // Steps whose run succeeded: under -debug they pause again before their cleanup.
    let mut succeeded = 0;
    let mut result = Ok(());
    let mut abort = false;
    'steps: for (i, step) in steps.iter_mut().enumerate() {
        loop {
            if cx.cancel.is_cancelled() {
                result = Err(Error::Cancelled);
                break 'steps;
            }
            entered = i + 1;
            crate::log::log(format_args!(
                "[INFO] ({}) running step {}",
                cx.info.name,
                step.name()
            ));
            match step.run(cx, state).await {
                Ok(()) => {
                    succeeded = i + 1;
                    if cx.debug {
                        debug_pause(cx, Pause::AfterRun, step.name()).await;
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
        if cx.on_error == OnError::RunCleanupProvisioner {
            for step in steps[..entered].iter_mut().rev() {
                if step.cleans_up_on_abort() {
                    step.cleanup(cx, state).await;
                }
            }
        }
        cx.ui
            .error("Aborting without cleanup: resources created by this build were left in place.");
        return result;
    }
    for (i, step) in steps[..entered].iter_mut().enumerate().rev() {
        if cx.debug && i < succeeded {
            debug_pause(cx, Pause::BeforeCleanup, step.name()).await;
        }
        crate::log::log(format_args!(
            "[INFO] ({}) cleaning up step {}",
            cx.info.name,
            step.name()
        ));
        step.cleanup(cx, state).await;
    }
    result
}

/// A builder's state that knows when its temporaries became its product.
pub trait Succeeds: Send {
    /// From now on, what the build made is kept: cleanups release it rather than delete it.
    fn succeed(&mut self);
}

/// The last step of a builder whose product is kept only when every step before it worked.
pub struct StepMarkSuccess;

#[async_trait]
impl<S: Succeeds> Step<S> for StepMarkSuccess {
    fn name(&self) -> &'static str {
        "StepMarkSuccess"
    }
    async fn run(&mut self, _cx: &BuildCx, state: &mut S) -> Result<()> {
        state.succeed();
        Ok(())
    }
}

/// Gives the provisioning step what it needs from a builder's state.
pub trait ProvisionState: Send {
    /// The communicator, once connected.
    fn communicator(&self) -> Option<Arc<dyn Communicator>>;
    /// Data for `{{ build "Key" }}`.
    fn generated_data(&self) -> GeneratedData;
}

/// The step every builder includes once its machine is reachable: runs the provisioners; when
/// they fail, its cleanup runs the error-cleanup provisioner (as Packer: also with
/// `-on-error=run-cleanup-provisioner`, never with `abort`).
#[derive(Default)]
pub struct StepProvision {
    /// Packer's file builder gives its provisioners no build data at all.
    without_build_data: bool,
    /// Set when provisioning failed: what the error-cleanup provisioner runs over.
    failed: Option<(Arc<dyn Communicator>, GeneratedData)>,
}

impl StepProvision {
    /// The provisioning step, with the builder's data for `{{ build "Key" }}`.
    pub fn new() -> StepProvision {
        StepProvision::default()
    }

    /// The provisioning step of a builder that gives no build data (Packer's `file`).
    pub fn without_build_data() -> StepProvision {
        StepProvision {
            without_build_data: true,
            failed: None,
        }
    }
}

#[async_trait]
impl<S: ProvisionState> Step<S> for StepProvision {
    fn name(&self) -> &'static str {
        "StepProvision"
    }

    async fn run(&mut self, cx: &BuildCx, state: &mut S) -> Result<()> {
        self.failed = None; // a retried step starts afresh
        let comm = state
            .communicator()
            .unwrap_or_else(|| Arc::new(kiln_comm::NoneCommunicator));
        let mut data = GeneratedData::new();
        if !self.without_build_data {
            data = state.generated_data();
            // As Packer's provisioning step: what the builder does not serve is marked so.
            for (k, v) in [
                ("ID", crate::plugin::ID_NOT_IMPLEMENTED),
                ("PackerHTTPIP", crate::plugin::HTTP_IP_NOT_IMPLEMENTED),
                ("PackerHTTPPort", crate::plugin::HTTP_PORT_NOT_IMPLEMENTED),
                ("PackerHTTPAddr", crate::plugin::HTTP_ADDR_NOT_IMPLEMENTED),
            ] {
                data.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        }
        let result = cx.hook.provision(cx, comm.clone(), &data).await;
        if result.is_err() {
            self.failed = Some((comm, data));
        }
        result
    }

    async fn cleanup(&mut self, cx: &BuildCx, _state: &mut S) {
        let Some((comm, data)) = self.failed.take() else {
            return;
        };
        cx.ui
            .say("Provisioning step had errors: Running the cleanup provisioner, if present...");
        if let Err(e) = cx.hook.error_cleanup(cx, comm, &data).await {
            cx.ui
                .error(&format!("Error-cleanup provisioner failed: {e}"));
        }
    }

    fn cleans_up_on_abort(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{BuildInfo, Hook};
    use crate::ui::{Format, SharedBuffer, Ui};
    use std::sync::Mutex;
    use tokio_util::sync::CancellationToken;

    struct NoHook;

    #[async_trait]
    impl Hook for NoHook {
        async fn provision(
            &self,
            _: &BuildCx,
            _: Arc<dyn Communicator>,
            _: &GeneratedData,
        ) -> Result<()> {
            Ok(())
        }
        async fn error_cleanup(
            &self,
            _: &BuildCx,
            _: Arc<dyn Communicator>,
            _: &GeneratedData,
        ) -> Result<()> {
            Ok(())
        }
    }

    type Log = Arc<Mutex<Vec<String>>>;

    /// Records its run and cleanup; fails or cancels when told to.
    struct Rec {
        name: &'static str,
        fail: bool,
        cancel: Option<CancellationToken>,
    }

    #[async_trait]
    impl Step<Log> for Rec {
        fn name(&self) -> &'static str {
            self.name
        }
        async fn run(&mut self, _cx: &BuildCx, log: &mut Log) -> Result<()> {
            log.lock().unwrap().push(format!("run {}", self.name));
            if let Some(c) = &self.cancel {
                c.cancel();
                return Err(Error::Cancelled);
            }
            if self.fail {
                return Err(Error::msg("boom"));
            }
            Ok(())
        }
        async fn cleanup(&mut self, _cx: &BuildCx, log: &mut Log) {
            log.lock().unwrap().push(format!("cleanup {}", self.name));
        }
    }

    fn cx(on_error: OnError, cancel: CancellationToken) -> BuildCx {
        let ui = Ui::new(
            Format::Human {
                color: false,
                timestamps: false,
            },
            Box::new(SharedBuffer::default()),
        );
        BuildCx {
            ui: ui.for_build("t", 0),
            cancel,
            info: BuildInfo {
                name: "t".into(),
                display: "t".into(),
                builder_type: "null".into(),
                interp: kiln_template::interp::Context::new(chrono::Utc::now()),
                run_uuid: "u".into(),
                journal: Arc::new(crate::journal::Journal::disabled()),
                force: false,
            },
            on_error,
            debug: false,
            hook: Arc::new(NoHook),
        }
    }

    fn steps(
        fail_at: Option<usize>,
        cancel_at: Option<(usize, CancellationToken)>,
    ) -> Vec<Box<dyn Step<Log>>> {
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Box::new(Rec {
                    name: n,
                    fail: fail_at == Some(i),
                    cancel: cancel_at
                        .as_ref()
                        .filter(|(at, _)| *at == i)
                        .map(|(_, c)| c.clone()),
                }) as Box<dyn Step<Log>>
            })
            .collect()
    }

    async fn run(
        on_error: OnError,
        fail_at: Option<usize>,
        cancel_at: Option<usize>,
    ) -> (Result<()>, Vec<String>) {
        let token = CancellationToken::new();
        let mut log: Log = Arc::default();
        let c = cx(on_error, token.clone());
        let r = run_steps(&c, &mut log, steps(fail_at, cancel_at.map(|i| (i, token)))).await;
        let entries = log.lock().unwrap().clone();
        (r, entries)
    }

    #[tokio::test]
    async fn success_cleans_up_in_reverse() {
        let (r, log) = run(OnError::Cleanup, None, None).await;
        assert!(r.is_ok());
        assert_eq!(
            log,
            [
                "run a",
                "run b",
                "run c",
                "cleanup c",
                "cleanup b",
                "cleanup a"
            ]
        );
    }

    #[tokio::test]
    async fn failure_cleans_up_what_ran() {
        let (r, log) = run(OnError::Cleanup, Some(1), None).await;
        assert_eq!(r.unwrap_err().to_string(), "boom");
        assert_eq!(log, ["run a", "run b", "cleanup b", "cleanup a"]);
    }

    #[tokio::test]
    async fn abort_leaves_everything() {
        for policy in [OnError::Abort, OnError::RunCleanupProvisioner] {
            let (r, log) = run(policy, Some(1), None).await;
            assert!(r.is_err());
            assert_eq!(log, ["run a", "run b"]);
        }
    }

    #[tokio::test]
    async fn cancellation_cleans_up_even_with_abort() {
        let (r, log) = run(OnError::Abort, None, Some(1)).await;
        assert!(matches!(r, Err(Error::Cancelled)));
        assert_eq!(log, ["run a", "run b", "cleanup b", "cleanup a"]);
    }

    #[test]
    fn ask_prompt_reads_choices() {
        let c = cx(OnError::Ask, CancellationToken::new());
        let mut input = std::io::Cursor::new("x\nr\n");
        assert_eq!(read_choice(&c, &mut input), Choice::Retry);
        assert_eq!(
            read_choice(&c, &mut std::io::Cursor::new("a\n")),
            Choice::Abort
        );
        assert_eq!(
            read_choice(&c, &mut std::io::Cursor::new("c\n")),
            Choice::Cleanup
        );
        assert_eq!(
            read_choice(&c, &mut std::io::Cursor::new("")),
            Choice::Cleanup
        );
        // As Packer: the first letter counts, in any case; Enter alone means clean up.
        for (answer, want) in [
            ("\n", Choice::Cleanup),
            ("Retry\n", Choice::Retry),
            ("ABORT\n", Choice::Abort),
            ("zz\ncleanup\n", Choice::Cleanup),
        ] {
            assert_eq!(
                read_choice(&c, &mut std::io::Cursor::new(answer)),
                want,
                "{answer:?}"
            );
        }
    }
}
