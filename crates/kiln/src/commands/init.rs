//! `kiln init [-upgrade] TEMPLATE`: Packer 1.7's `init` installs the plugins a template's
//! `required_plugins` names. kiln's are built in, so it checks each against them: exit 0 when
//! kiln has them all, 1 (naming each one it lacks) when not.

use crate::args::{self, Kind};

const USAGE: &str = "Usage: kiln init [options] [config.pkr.hcl|folder/]

  Checks the plugins the template's packer.required_plugins names against those
  built into kiln (kiln installs nothing: amazon, docker, qemu, ansible, puppet
  and vagrant are part of it).

Options:
  -upgrade      Accepted for Packer's sake; nothing to upgrade.
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let (_, path) = match args::parse_one(argv, &[("upgrade", Kind::Bool)], USAGE) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let path = &path;
    if !kiln_template::hcl::is_hcl(path) {
        println!("{path} is a legacy JSON template, which names no plugins: nothing to check");
        return 0;
    }
    let plugins = match kiln_template::hcl::plugins::of_template(std::path::Path::new(path)) {
        Ok(p) => p,
        Err(d) => {
            eprintln!("Error: {d}");
            return 1;
        }
    };
    if plugins.is_empty() {
        println!(
            "No plugins requirement found, make sure you reference a Packer config containing a packer.required_plugins block."
        );
        return 0;
    }
    let mut code = 0;
    for p in &plugins {
        let version = if p.version.is_empty() {
            String::new()
        } else {
            format!(" {}", p.version)
        };
        match p.built_in {
            Some(has) => println!("{}{version}: built into kiln ({has})", p.source),
            None => {
                eprintln!("Error: {}", kiln_template::hcl::plugins::missing(p));
                code = 1;
            }
        }
    }
    code
}
