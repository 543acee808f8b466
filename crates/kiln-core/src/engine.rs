//! Running builds: in parallel (bounded), each one its builder with a provisioning hook, then
//! its post-processor chains with Packer's `keep_input_artifact` semantics.

use crate::artifact::ArtifactRef;
use crate::plugin::{
    BuildCx, BuildInfo, Builder, GeneratedData, Hook, OnError, PostCx, PostProcessorFactory,
    PrepareCx, ProvisionCx, ProvisionerFactory,
};
use crate::ui::{BuildUi, Ui};
use crate::{Error, Result};
use async_trait::async_trait;
use kiln_comm::Communicator;
use kiln_template::duration::{format_elapsed, format_go_duration};
use kiln_template::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A provisioner ready to run in one build.
#[derive(Clone)]
pub struct PlannedProvisioner {
    /// Plugin type.
    pub kind: String,
    /// Configuration, interpolated except for what only exists at run time.
    pub config: Value,
    /// Constructor.
    pub factory: ProvisionerFactory,
    /// Wait before running.
    pub pause_before: Option<Duration>,
    /// Retries after failure.
    pub max_retries: u32,
    /// Time limit.
    pub timeout: Option<Duration>,
}

/// A post-processor ready to run in one build.
#[derive(Clone)]
pub struct PlannedPostProcessor {
    /// Plugin type.
    pub kind: String,
    /// The user's name for it, if any.
    pub name: Option<String>,
    /// Configuration.
    pub config: Value,
    /// Constructor.
    pub factory: PostProcessorFactory,
    /// `keep_input_artifact` when the user set it.
    pub keep_input_artifact: Option<bool>,
}

/// Everything needed to run one build.
pub struct BuildJob {
    /// The build.
    pub info: BuildInfo,
    /// Its builder.
    pub builder: Box<dyn Builder>,
    /// Provisioners, in order.
    pub provisioners: Vec<PlannedProvisioner>,
    /// `error-cleanup-provisioner`.
    pub error_cleanup: Option<PlannedProvisioner>,
    /// Post-processor chains.
    pub post_processors: Vec<Vec<PlannedPostProcessor>>,
}

/// Run-wide options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Builds at once; 0 means no limit.
    pub parallel: usize,
    /// `-on-error`.
    pub on_error: OnError,
    /// `-debug`.
    pub debug: bool,
    /// `-dry-run`: each builder checks what it can and nothing runs or is created.
    pub dry_run: bool,
}

/// The outcome of one build.
pub struct BuildResult {
    /// Build name.
    pub name: String,
    /// Artifacts kept, in Packer's order.
    pub artifacts: Vec<ArtifactRef>,
    /// Why it failed, if it did.
    pub error: Option<Error>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs all builds and returns one result per build, in the order given.
pub async fn run_all(
    jobs: Vec<BuildJob>,
    ui: &Ui,
    opts: Options,
    cancel: &CancellationToken,
) -> Vec<BuildResult> {
    let mut sorted: Vec<String> = jobs.iter().map(|j| j.info.display.clone()).collect();
    sorted.sort();
    let uis: Vec<BuildUi> = jobs
        .iter()
        .map(|j| {
            ui.for_build(
                &j.info.display,
                sorted
                    .iter()
                    .position(|n| n == &j.info.display)
                    .unwrap_or(0),
            )
        })
        .collect();
    let mut legend = uis.clone();
    legend.sort_by(|a, b| a.name().cmp(b.name()));
    ui.color_legend(&legend);

    let limit = if opts.parallel == 0 {
        jobs.len().max(1)
    } else {
        opts.parallel
    };
    let sem = Arc::new(tokio::sync::Semaphore::new(limit));
    let mut handles = Vec::new();
    for (job, bui) in jobs.into_iter().zip(uis) {
        let sem = sem.clone();
        let cancel = cancel.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            run_one(job, bui, opts, cancel).await
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        match h.await {
            Ok(r) => results.push(r),
            Err(e) => results.push(BuildResult {
                name: "?".into(),
                artifacts: vec![],
                error: Some(Error::msg(format!("build task failed: {e}"))),
                elapsed: Duration::ZERO,
            }),
        }
    }
    results
}

async fn run_one(
    job: BuildJob,
    ui: BuildUi,
    opts: Options,
    cancel: CancellationToken,
) -> BuildResult {
    let start = Instant::now();
    let name = job.info.display.clone();
    let after = if opts.dry_run {
        would_run(&job)
    } else {
        vec![]
    };
    let hook = Arc::new(ProvisionHook {
        provisioners: job.provisioners,
        error_cleanup: job.error_cleanup,
    });
    let cx = BuildCx {
        ui: ui.clone(),
        cancel: cancel.clone(),
        info: job.info.clone(),
        on_error: opts.on_error,
        debug: opts.debug,
        hook,
    };
    let outcome = if opts.dry_run {
        dry_run(job.builder.as_ref(), &cx, &after).await
    } else {
        match job.builder.run(&cx).await {
            Ok(artifact) => {
                post_process(&job.info, &ui, &cancel, artifact, &job.post_processors).await
            }
            Err(e) => Err(e),
        }
    };
    let elapsed = start.elapsed();
    match outcome {
        Ok(artifacts) => {
            ui.say_plain(&format!(
                "Build '{name}' finished after {}.",
                format_elapsed(elapsed)
            ));
            BuildResult {
                name,
                artifacts,
                error: None,
                elapsed,
            }
        }
        Err(e) => {
            ui.error_plain(&format!(
                "Build '{name}' errored after {}: {e}",
                format_elapsed(elapsed)
            ));
            BuildResult {
                name,
                artifacts: vec![],
                error: Some(e),
                elapsed,
            }
        }
    }
}

/// What a dry run says would run after the builder: provisioners and post-processors.
fn would_run(job: &BuildJob) -> Vec<String> {
    let mut lines = Vec::new();
    if !job.provisioners.is_empty() {
        let kinds: Vec<&str> = job.provisioners.iter().map(|p| p.kind.as_str()).collect();
        lines.push(format!(
            "Would run {} provisioner(s): {}",
            kinds.len(),
            kinds.join(", ")
        ));
    }
    if let Some(p) = &job.error_cleanup {
        lines.push(format!(
            "On an error, would run the error-cleanup provisioner: {}",
            p.kind
        ));
    }
    for chain in &job.post_processors {
        let names: Vec<String> = chain
            .iter()
            .map(|pp| match &pp.name {
                Some(n) => format!("{n} (type {})", pp.kind),
                None => pp.kind.clone(),
            })
            .collect();
        lines.push(format!("Would run post-processors: {}", names.join(" -> ")));
    }
    lines
}

/// A dry run of one build: the builder's checks, then what would run after it.
async fn dry_run(
    builder: &dyn Builder,
    cx: &BuildCx,
    after: &[String],
) -> Result<Vec<ArtifactRef>> {
    cx.ui
        .say("Dry run: checking what this build would do; nothing is created or run.");
    builder.dry_run(cx).await?;
    for line in after {
        cx.ui.say(line);
    }
    Ok(vec![])
}

/// Packer's post-processor chain semantics: each chain starts from the builder's artifact;
/// inside a chain an intermediate artifact is destroyed unless kept; the builder's artifact is
/// kept when any chain's first post-processor keeps it (or there are no post-processors).
async fn post_process(
    info: &BuildInfo,
    ui: &BuildUi,
    cancel: &CancellationToken,
    builder_artifact: Option<ArtifactRef>,
    chains: &[Vec<PlannedPostProcessor>],
) -> Result<Vec<ArtifactRef>> {
    let Some(original) = builder_artifact else {
        return Ok(vec![]);
    };
    let mut artifacts: Vec<ArtifactRef> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut keep_original = chains.is_empty();
    'chains: for chain in chains {
        let mut prior = original.clone();
        for (i, pp) in chain.iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            match &pp.name {
                Some(name) => ui.say(&format!(
                    "Running post-processor: {name} (type {})",
                    pp.kind
                )),
                None => ui.say(&format!("Running post-processor: {}", pp.kind)),
            }
            let pui = ui.for_post_processor(&pp.kind);
            let prepare = PrepareCx {
                info,
                template_dir: None,
            };
            let processed = match (pp.factory)(&pp.config, &prepare) {
                Ok(p) => {
                    let cx = PostCx {
                        ui: &pui,
                        cancel: cancel.clone(),
                        info,
                    };
                    p.post_process(&cx, prior.clone()).await
                }
                Err(d) => Err(Error::Config(d)),
            };
            let processed = match processed {
                Ok(p) => p,
                Err(e) => {
                    errors.push(format!("Post-processor failed: {e}"));
                    continue 'chains;
                }
            };
            let Some(artifact) = processed.artifact else {
                continue 'chains;
            };
            let mut keep = processed.keep_input;
            if let Some(user) = pp.keep_input_artifact {
                if !(processed.keep_input && !user && processed.force_keep_input) {
                    keep = user;
                }
            }
            if i == 0 {
                keep_original |= keep;
            } else if keep {
                artifacts.push(prior.clone());
            } else if let Err(e) = {
                crate::log::log(format_args!(
                    "[INFO] ({}) deleting prior artifact from {}",
                    info.name, pp.kind
                ));
                prior.destroy().await
            } {
                errors.push(format!(
                    "Failed cleaning up prior artifact: {e}; pp is {}",
                    pp.kind
                ));
            }
            prior = artifact;
        }
        artifacts.push(prior);
    }
    if keep_original {
        artifacts.insert(0, original);
    } else if let Err(e) = {
        crate::log::log(format_args!(
            "[INFO] ({}) deleting original artifact",
            info.name
        ));
        original.destroy().await
    } {
        errors.push(format!("Failed cleaning up original artifact: {e}"));
    }
    if errors.is_empty() {
        Ok(artifacts)
    } else {
        Err(Error::msg(errors.join("\n")))
    }
}

/// Runs a build's provisioners when its builder calls the hook.
struct ProvisionHook {
    provisioners: Vec<PlannedProvisioner>,
    error_cleanup: Option<PlannedProvisioner>,
}

#[async_trait]
impl Hook for ProvisionHook {
    async fn provision(
        &self,
        cx: &BuildCx,
        comm: Arc<dyn Communicator>,
        data: &GeneratedData,
    ) -> Result<()> {
        for p in &self.provisioners {
            run_provisioner(p, cx, comm.clone(), data, &cx.cancel).await?;
        }
        Ok(())
    }

    async fn error_cleanup(
        &self,
        cx: &BuildCx,
        comm: Arc<dyn Communicator>,
        data: &GeneratedData,
    ) -> Result<()> {
        match &self.error_cleanup {
            // Runs even after an interrupt: it exists to clean up.
            Some(p) => run_provisioner(p, cx, comm, data, &CancellationToken::new()).await,
            None => Ok(()),
        }
    }
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(Error::Cancelled),
    }
}

async fn run_provisioner(
    p: &PlannedProvisioner,
    cx: &BuildCx,
    comm: Arc<dyn Communicator>,
    data: &GeneratedData,
    cancel: &CancellationToken,
) -> Result<()> {
    if let Some(d) = p.pause_before {
        crate::step::pause(&cx.ui, cancel, d, "before the next provisioner").await?;
    }
    // Values only known now (`{{ build "ID" }}`) are rendered before the plugin is made.
    let mut config = p.config.clone();
    let mut icx = cx.info.interp.clone();
    icx.build_data = Some(crate::plugin::complete_build_data(data));
    kiln_template::ir::interpolate(&mut config, &icx)?;
    let prepare = PrepareCx {
        info: &cx.info,
        template_dir: None,
    };
    let provisioner = (p.factory)(&config, &prepare)?;
    crate::log::log(format_args!(
        "[INFO] ({}) starting provisioner {}",
        cx.info.name, p.kind
    ));
    let mut attempts_left = p.max_retries;
    loop {
        let token = cancel.child_token();
        let pcx = ProvisionCx {
            ui: &cx.ui,
            comm: comm.clone(),
            cancel: token.clone(),
            info: &cx.info,
            data,
        };
        let result = match p.timeout {
            None => provisioner.provision(&pcx).await,
            Some(limit) => {
                let run = provisioner.provision(&pcx);
                tokio::pin!(run);
                tokio::select! {
                    r = &mut run => r,
                    _ = tokio::time::sleep(limit) => {
                        token.cancel();
                        let _ = run.await;
                        Err(Error::msg(format!("provisioner \"{}\" timed out after {}", p.kind, format_go_duration(limit))))
                    }
                }
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if cancel.is_cancelled() => {
                return Err(if matches!(e, Error::Cancelled) {
                    e
                } else {
                    Error::Cancelled
                })
            }
            Err(e) if attempts_left > 0 => {
                cx.ui.say(&format!(
                    "Provisioner failed with \"{e}\", retrying with {attempts_left} trie(s) left"
                ));
                attempts_left -= 1;
                sleep_or_cancel(Duration::from_secs(2), cancel).await?;
            }
            Err(e) => return Err(e),
        }
    }
}
