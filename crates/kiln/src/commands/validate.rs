//! `kiln validate [-syntax-only] [-var k=v] [-var-file f] [-only a] [-except b] TEMPLATE`

use crate::args::{self, Kind};
use crate::plan::{self, PlanOptions};
use crate::ui::{make_ui, print_error, OutputFlags};

const FLAGS: &[(&str, Kind)] = &[
    ("syntax-only", Kind::Bool),
    ("var", Kind::Repeated),
    ("var-file", Kind::Repeated),
    ("only", Kind::Value),
    ("except", Kind::Value),
    ("json", Kind::Bool),
];

const USAGE: &str = "Usage: kiln validate [options] TEMPLATE

  Checks the template is valid by parsing it and preparing every build,
  provisioner and post-processor, without running anything.

Options:
  -syntax-only           Only check syntax. Do not verify config of the template.
  -except=foo,bar,baz    Validate all builds other than these.
  -only=foo,bar,baz      Validate only these builds.
  -var 'key=value'       Variable for templates, can be used multiple times.
  -var-file=path         JSON file containing user variables. [ Note that even in HCL mode this expects file to contain JSON, a fix is already in progress.]
  -machine-readable      Produce machine-readable output.
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String], machine: bool) -> u8 {
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
        color: false,
        timestamps: false,
    });
    let [path] = flags.positional.as_slice() else {
        eprintln!("{USAGE}");
        return 1;
    };
    let (template, o) = match plan::load_with_flags(path, &flags) {
        Ok(x) => x,
        Err(d) => {
            print_error(&ui, &d.to_string());
            return 1;
        }
    };
    if flags.bool("syntax-only", false) {
        ui.say("Syntax-only check passed. Everything looks okay.");
        return 0;
    }
    let result = {
        ui.set_redactor(plan::early_redactor(&template, &o));
        plan::plan(
            &template,
            &o,
            &PlanOptions {
                only: &flags.list("only"),
                except: &flags.list("except"),
                init_time: plan::init_time(),
                run_uuid: "",
                force: false,
                journal: std::sync::Arc::new(kiln_core::journal::Journal::disabled()),
            },
        )
    };
    match result {
        Ok(planned) => {
            for w in &planned.warnings {
                ui.error(&format!("Warning: {w}"));
            }
            ui.say("The configuration is valid.");
            0
        }
        Err(d) => {
            print_error(&ui, &d.to_string());
            1
        }
    }
}
