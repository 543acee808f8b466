//! `kiln`: builds machine images from Packer templates.
//!
//! One module per subcommand under `commands/`; Packer's Go-style flags are parsed in `args`;
//! `plan` turns a template into runnable build jobs.

mod args;
mod commands;
mod datasources;
mod plan;
mod ui;

use std::process::ExitCode;

const USAGE: &str = "Usage: kiln [--version] [--help] <command> [<args>]

Available commands are:
    build           build image(s) from template
    cleanup         delete cloud resources that interrupted runs left behind
    console         creates a console for testing variable interpolation
    fix             fixes templates from old versions of packer
    fmt             Rewrites HCL2 config files to canonical format
    hcl2_upgrade    transform a JSON template into an HCL2 configuration
    init            check the plugins a template requires against kiln's built-in ones
    inspect         see components of a template
    validate        check that a template is valid
    version         Prints the kiln version
";

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    kiln_core::log::log(format_args!(
        "[INFO] kiln v{} (Packer {} compatible)",
        env!("CARGO_PKG_VERSION"),
        kiln_template::PACKER_COMPAT_VERSION
    ));
    // The `vault` and `aws_secretsmanager` template functions read these.
    kiln_template::secrets::install(Box::new(kiln_secrets::Stores::default()));
    kiln_template::datasources::install(Box::new(datasources::Sources));
    // Packer accepts -machine-readable anywhere on the command line.
    let machine = remove_flag(&mut argv, "machine-readable");
    let code = match argv.first().map(String::as_str) {
        None | Some("-h" | "-help" | "--help" | "help") => {
            eprint!("{USAGE}");
            if argv.is_empty() {
                127
            } else {
                0
            }
        }
        Some("-v" | "-version" | "--version") => commands::version::run(machine),
        Some(cmd) => {
            let rest = &argv[1..];
            match cmd {
                "build" => commands::build::run(rest, machine),
                "validate" => commands::validate::run(rest, machine),
                "inspect" => commands::inspect::run(rest, machine),
                "cleanup" => commands::cleanup::run(rest),
                "console" => commands::console::run(rest),
                "fix" => commands::fix::run(rest, machine),
                "fmt" => commands::fmt::run(rest),
                "hcl2_upgrade" => commands::hcl2_upgrade::run(rest),
                "init" => commands::init::run(rest),
                "version" => commands::version::run(machine),
                _ => {
                    eprintln!("kiln: unknown command \"{cmd}\"\n");
                    eprint!("{USAGE}");
                    127
                }
            }
        }
    };
    ExitCode::from(code)
}

/// Removes every `-name`, `--name`, `-name=true|false` from argv; returns the last value.
fn remove_flag(argv: &mut Vec<String>, name: &str) -> bool {
    let mut value = false;
    argv.retain(|a| {
        let Some(bare) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            return true;
        };
        match bare.strip_prefix(name) {
            Some("") | Some("=true") => {
                value = true;
                false
            }
            Some("=false") => {
                value = false;
                false
            }
            _ => true,
        }
    });
    value
}
