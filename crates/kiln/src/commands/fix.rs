//! `kiln fix [-validate=true] TEMPLATE`: prints a legacy JSON template with the options that
//! older Packer versions took rewritten to their current form, as `packer fix` does (the same
//! fixers, in the same order, the same output), then checks the result parses as a template.

use crate::args::{self, Kind};
use crate::ui::{make_ui, print_error, OutputFlags};
use kiln_template::{fix, json, legacy, Source};

fn usage() -> String {
    let mut text = String::from(
        "Usage: kiln fix [options] TEMPLATE

  Reads the JSON template and attempts to fix known backwards
  incompatibilities. The fixed template will be outputted to standard out.

  If the template cannot be fixed due to an error, the command will exit
  with a non-zero exit status. Error messages will appear on standard error.

Fixes that are run (in order):

",
    );
    for f in fix::FIXERS {
        text.push_str(&format!("  {:<27}{}\n", f.name, f.synopsis));
    }
    text.push_str(
        "
Options:

  -validate=true      If true (default), validates the fixed template.
",
    );
    text
}

/// Runs the command; returns the exit code.
pub fn run(argv: &[String], machine: bool) -> u8 {
    let (flags, path) = match args::parse_one(argv, &[("validate", Kind::Bool)], &usage()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let ui = make_ui(OutputFlags {
        machine,
        json: false,
        color: false,
        timestamps: false,
    });
    if kiln_template::hcl::is_hcl(&path) {
        print_error(
            &ui,
            &format!("{path} is an HCL2 template: fix rewrites legacy JSON templates"),
        );
        return 1;
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            print_error(&ui, &format!("could not open template {path}: {e}"));
            return 1;
        }
    };
    // Go reads bytes that are not UTF-8 as U+FFFD; so does this.
    let src = Source::new(path.clone(), String::from_utf8_lossy(&bytes).into_owned());
    let fixed = match json::parse(&src).and_then(fix::fix) {
        Ok(text) => text,
        Err(d) => {
            print_error(&ui, &d.to_string());
            return 1;
        }
    };
    ui.say(&fixed);
    if !flags.bool("validate", true) {
        return 0;
    }
    if let Err(d) = legacy::parse(&Source::new("fixed template", fixed)) {
        // Packer's words around kiln's diagnostics (which say where, in the printed template).
        ui.error(&format!(
            "Error! Fixed template fails to parse:\n{d}\n\nThis is usually caused by an error in the input template.\nPlease fix the error and try again."
        ));
        return 1;
    }
    0
}
