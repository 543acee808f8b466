//! `kiln console [-var k=v] [-var-file f] [-config-type=json|hcl2] [TEMPLATE]`: evaluates
//! each line of standard input, as Packer's console does, and prints the result. In HCL2 mode
//! (an HCL2 template, or `-config-type=hcl2`) a line is an HCL expression over the template's
//! variables, locals and data sources; in JSON mode it is a Go template with the template's
//! user variables. `variables` lists the variables, `exit` ends. Unlike Packer 1.6.6, a
//! value that is not a string is printed in HCL's syntax (Packer prints nothing), secrets are
//! masked, and a line that fails makes the exit code 1 in both modes.

use crate::args::{self, Kind};
use crate::plan;
use std::io::BufRead;

const USAGE: &str = "Usage: kiln console [options] [TEMPLATE]

  Creates a console for testing variable interpolation.
  If a template is provided, this command will load the template and any
  variables defined therein into its context to be referenced during
  interpolation.

Options:
  -var 'key=value'       Variable for templates, can be used multiple times.
  -var-file=path         JSON or HCL2 file containing user variables.
  -config-type           Set to 'hcl2' to run in HCL2 mode when no file is passed. Defaults to json.
";

enum Mode {
    Hcl(kiln_template::hcl::Console),
    Json {
        cx: kiln_template::interp::Context,
        vars: Vec<(String, String)>,
    },
}

/// Runs the command; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let table = [
        ("var", Kind::Repeated),
        ("var-file", Kind::Repeated),
        ("config-type", Kind::Value),
    ];
    let flags = match args::parse(argv, &table) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    let (mode, redactor) = match flags.positional.as_slice() {
        [] => match flags.value("config-type").unwrap_or("json") {
            "hcl2" => (
                Mode::Hcl(kiln_template::hcl::Console::empty(plan::init_time())),
                kiln_core::redact::Redactor::new(Vec::<String>::new()),
            ),
            "json" => (
                Mode::Json {
                    cx: kiln_template::interp::Context::new(plan::init_time()),
                    vars: vec![],
                },
                kiln_core::redact::Redactor::new(Vec::<String>::new()),
            ),
            other => {
                eprintln!("Error: -config-type must be json or hcl2, not {other}");
                return 1;
            }
        },
        [path] => match load(path, &flags) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
        _ => {
            eprint!("{USAGE}");
            return 1;
        }
    };
    let mut code = 0;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        match line {
            "" => continue,
            "exit" => break,
            "variables" => print!("{}", redactor.redact(&variables(&mode))),
            _ => match eval(&mode, line) {
                Ok(out) => println!("{}", redactor.redact(&out)),
                Err(e) => {
                    eprintln!("Error: {}", redactor.redact(&e));
                    code = 1;
                }
            },
        }
    }
    code
}

fn load(path: &str, flags: &args::Parsed) -> Result<(Mode, kiln_core::redact::Redactor), String> {
    let o = plan::overrides(flags).map_err(|d| d.to_string())?;
    if kiln_template::hcl::is_hcl(path) {
        let c = kiln_template::hcl::Console::of_template(
            std::path::Path::new(path),
            &o,
            plan::init_time(),
        )
        .map_err(|d| d.to_string())?;
        let r = kiln_core::redact::Redactor::new(c.secrets.clone());
        return Ok((Mode::Hcl(c), r));
    }
    let t = plan::load_template(path, &o).map_err(|d| d.to_string())?;
    let mut cx = kiln_template::interp::Context::new(plan::init_time());
    cx.template_path = t.path.as_ref().map(|p| p.display().to_string());
    let resolved = kiln_template::variables::resolve(&t, &o, &cx).map_err(|d| d.to_string())?;
    let secrets = plan::secrets_of(&t, &resolved);
    let vars = resolved
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    cx.user_vars = resolved;
    Ok((
        Mode::Json { cx, vars },
        kiln_core::redact::Redactor::new(secrets),
    ))
}

fn eval(mode: &Mode, line: &str) -> Result<String, String> {
    match mode {
        Mode::Hcl(c) => c.eval(line).map_err(|d| d.to_string()),
        Mode::Json { cx, .. } => kiln_template::interp::render(line, cx).map_err(|e| e.to_string()),
    }
}

/// What `variables` prints: Packer's layout in HCL2 mode, `name: value` lines in JSON mode.
fn variables(mode: &Mode) -> String {
    match mode {
        Mode::Hcl(c) => {
            let mut out = String::from("> input-variables:\n\n");
            for (name, value) in &c.summary.inputs {
                out.push_str(&format!("var.{name}: {value}\n"));
            }
            out.push_str("\n> local-variables:\n\n");
            for (name, value) in &c.summary.locals {
                out.push_str(&format!("local.{name}: {value}\n"));
            }
            out
        }
        Mode::Json { vars, .. } => vars.iter().map(|(k, v)| format!("{k}: {v}\n")).collect(),
    }
}
