//! `kiln build [options] TEMPLATE`: runs the builds, prints Packer's summary, exits 1 if any
//! build failed or the run was interrupted.

use crate::args::{self, Kind};
use crate::plan::{self, PlanOptions};
use crate::ui::{make_ui, print_error, OutputFlags};
use kiln_core::engine::{self, BuildResult, Options};
use kiln_core::journal::{outstanding, read, state_dir, Journal};
use kiln_core::plugin::OnError;
use kiln_core::ui::Ui;
use kiln_core::Error;
use kiln_template::duration::format_elapsed;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const FLAGS: &[(&str, Kind)] = &[
    ("var", Kind::Repeated),
    ("var-file", Kind::Repeated),
    ("only", Kind::Value),
    ("except", Kind::Value),
    ("parallel-builds", Kind::Value),
    ("parallel", Kind::Bool),
    ("on-error", Kind::Value),
    ("force", Kind::Bool),
    ("debug", Kind::Bool),
    ("color", Kind::Bool),
    ("timestamp-ui", Kind::Bool),
    ("json", Kind::Bool),
    ("dry-run", Kind::Bool),
];

const USAGE: &str = "Usage: kiln build [options] TEMPLATE

  Will execute multiple builds in parallel as defined in the template.
  The various artifacts created by the template will be outputted.

Options:
  -color=false                  Disable color output. (Default: color)
  -debug                        Debug mode enabled for builds.
  -dry-run                      Check what the builds would do, creating and running nothing (kiln).
  -except=foo,bar,baz           Run all builds and post-processors other than these.
  -only=foo,bar,baz             Build only the specified builds.
  -force                        Force a build to continue if artifacts exist, deletes existing artifacts.
  -machine-readable             Produce machine-readable output.
  -on-error=[cleanup|abort|ask|run-cleanup-provisioner] If the build fails do: clean up (default), abort, ask, or run-cleanup-provisioner.
  -parallel-builds=1            Number of builds to run in parallel. 0 means no limit (Default: 0)
  -timestamp-ui                 Enable prefixing of each ui output with an RFC3339 timestamp.
  -var 'key=value'              Variable for templates, can be used multiple times.
  -var-file=path                JSON file containing user variables.
  --json                        Emit one JSON event per line (kiln).
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String], machine: bool) -> u8 {
    // SIGINT/SIGTERM are caught from the first moment: one that comes while the template is
    // read and planned cancels the run as cleanly as one during the builds.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: starting the runtime: {e}");
            return 1;
        }
    };
    let signals = {
        let _in_runtime = rt.enter();
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => Some((int, term)),
            _ => None,
        }
    };
    let flags = match args::parse(argv, FLAGS) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    let ui = make_ui(OutputFlags {
        machine,
        json: flags.bool("json", false),
        color: flags.bool("color", true),
        timestamps: flags.bool("timestamp-ui", false),
    });
    let [path] = flags.positional.as_slice() else {
        eprintln!("{USAGE}");
        return 1;
    };
    let on_error: OnError = match flags.value("on-error").unwrap_or("cleanup").parse() {
        Ok(o) => o,
        Err(e) => {
            print_error(&ui, &e);
            return 1;
        }
    };
    let parallel = match flags
        .value("parallel-builds")
        .unwrap_or("0")
        .parse::<usize>()
    {
        Ok(n) => n,
        Err(_) => {
            print_error(&ui, "-parallel-builds must be a number");
            return 1;
        }
    };
    // Packer's deprecated -parallel=false means one build at a time.
    let parallel = if !flags.bool("parallel", true) {
        1
    } else {
        parallel
    };
    let (template, o) = match plan::load_with_flags(path, &flags) {
        Ok(x) => x,
        Err(d) => {
            print_error(&ui, &d.to_string());
            return 1;
        }
    };
    let run_uuid = uuid::Uuid::new_v4().to_string();
    let journal = match Journal::open(&state_dir(), &run_uuid) {
        Ok(j) => Arc::new(j),
        Err(e) => {
            print_error(
                &ui,
                &format!(
                    "cannot write the resource journal in {}: {e} (set KILN_STATE_DIR)",
                    state_dir().display()
                ),
            );
            return 1;
        }
    };
    let planned = {
        ui.set_redactor(plan::early_redactor(&template, &o));
        plan::plan(
            &template,
            &o,
            &PlanOptions {
                only: &flags.list("only"),
                except: &flags.list("except"),
                init_time: plan::init_time(),
                run_uuid: &run_uuid,
                force: flags.bool("force", false),
                journal: journal.clone(),
            },
        )
    };
    let planned = match planned {
        Ok(p) => p,
        Err(d) => {
            print_error(&ui, &d.to_string());
            return 1;
        }
    };
    // Arguments are logged only now, with the sensitive values known and masked.
    kiln_core::log::set_redactor(planned.redactor.clone());
    kiln_core::log::log(format_args!("[INFO] build args: {argv:?}"));
    ui.set_redactor(planned.redactor);
    for w in &planned.warnings {
        ui.error(&format!("Warning: {w}"));
    }
    let debug = flags.bool("debug", false);
    if debug {
        ui.say("Debug mode enabled. Builds will not be parallelized.");
    }
    let opts = Options {
        // As Packer: -debug runs one build at a time.
        parallel: if debug { 1 } else { parallel },
        on_error,
        debug,
        dry_run: flags.bool("dry-run", false),
    };
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        if let Some(mut signals) = signals {
            // One that came while the template was planned: no build starts.
            let early = tokio::select! {
                biased;
                _ = signals.0.recv() => true,
                _ = signals.1.recv() => true,
                _ = std::future::ready(()) => false,
            };
            if early {
                ui.error("Interrupt received. Cancelling builds and cleaning up (interrupt again to stop waiting)...");
                cancel.cancel();
            }
            spawn_signal_handler(signals, early, ui.clone(), cancel.clone(), journal.clone());
        }
        let start = Instant::now();
        let results = engine::run_all(planned.jobs, &ui, opts, &cancel).await;
        // What the builds shared for the whole run (Vault leases) is released now.
        for warning in plan::registry().end_run().await {
            ui.error(&format!("Warning: {warning}"));
        }
        let code = summarize(&ui, &results, start, cancel.is_cancelled(), opts.dry_run);
        let left = journal.finish();
        if left.is_empty() {
            code
        } else {
            report_left(&ui, &left, &journal);
            1
        }
    })
}

/// First SIGINT/SIGTERM: cancel every build (their cleanup runs). Second: stop waiting.
/// Says what a run leaves behind and how to delete it.
fn report_left(ui: &Ui, left: &[kiln_core::journal::Record], journal: &Journal) {
    ui.error("These resources created by this run were not deleted:");
    for r in left {
        let id = if r.id.is_empty() {
            format!("(id unknown, key {})", r.key)
        } else {
            r.id.clone()
        };
        ui.error(&format!("  {} {id} (build {})", r.kind, r.build));
    }
    if let Some(p) = journal.path() {
        ui.error(&format!(
            "They are recorded in {}; run `kiln cleanup` to delete them.",
            p.display()
        ));
    }
}

fn spawn_signal_handler(
    (mut int, mut term): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
    already_interrupted: bool,
    ui: Ui,
    cancel: CancellationToken,
    journal: Arc<Journal>,
) {
    tokio::spawn(async move {
        if !already_interrupted {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            ui.error("Interrupt received. Cancelling builds and cleaning up (interrupt again to stop waiting)...");
            cancel.cancel();
        }
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        ui.error("Second interrupt received: exiting without waiting for cleanup.");
        let left = journal
            .path()
            .map(|p| outstanding(&read(p)))
            .unwrap_or_default();
        if !left.is_empty() {
            report_left(&ui, &left, &journal);
        }
        std::process::exit(1);
    });
}

fn summarize(
    ui: &Ui,
    results: &[BuildResult],
    start: Instant,
    interrupted: bool,
    dry_run: bool,
) -> u8 {
    ui.say(&format!(
        "\n==> Wait completed after {}",
        format_elapsed(start.elapsed())
    ));
    let failed: Vec<&BuildResult> = results.iter().filter(|r| r.error.is_some()).collect();
    if interrupted {
        ui.error("Cleanly cancelled builds after being interrupted.");
        return 1;
    }
    if !failed.is_empty() {
        ui.machine("", "error-count", &[&failed.len().to_string()]);
        ui.error("\n==> Some builds didn't complete successfully and had errors:");
        for r in &failed {
            let e = r.error.as_ref().map(Error::to_string).unwrap_or_default();
            ui.machine(&r.name, "error", &[&e]);
            ui.error(&format!("--> {}: {e}", r.name));
        }
    }
    let with_artifacts: Vec<&BuildResult> =
        results.iter().filter(|r| !r.artifacts.is_empty()).collect();
    if dry_run {
        ui.say("\n==> Dry run finished: nothing was created.");
    } else if with_artifacts.is_empty() {
        ui.say("\n==> Builds finished but no artifacts were created.");
    } else {
        ui.say("\n==> Builds finished. The artifacts of successful builds are:");
        for r in with_artifacts {
            ui.machine(&r.name, "artifact-count", &[&r.artifacts.len().to_string()]);
            for (i, a) in r.artifacts.iter().enumerate() {
                let i = i.to_string();
                let files = a.files();
                ui.machine(&r.name, "artifact", &[&i, "builder-id", &a.builder_id()]);
                ui.machine(&r.name, "artifact", &[&i, "id", &a.id()]);
                ui.machine(&r.name, "artifact", &[&i, "string", &a.description()]);
                ui.machine(
                    &r.name,
                    "artifact",
                    &[&i, "files-count", &files.len().to_string()],
                );
                for (j, f) in files.iter().enumerate() {
                    ui.machine(&r.name, "artifact", &[&i, "file", &j.to_string(), f]);
                }
                ui.machine(&r.name, "artifact", &[&i, "end"]);
                ui.say(&format!("--> {}: {}", r.name, a.description()));
            }
        }
    }
    if failed.is_empty() {
        0
    } else {
        1
    }
}
