//! `kiln hcl2_upgrade [-output-file=PATH] TEMPLATE`: writes a legacy JSON template as an HCL2
//! template that builds the same thing (`TEMPLATE.pkr.hcl` unless told otherwise).

use crate::args::{self, Kind};
use crate::plan;

const USAGE: &str = "Usage: kiln hcl2_upgrade [options] TEMPLATE

  Will transform your JSON template into an HCL2 configuration.

Options:

  -output-file=path    Set output file name. By default this will be the
                       TEMPLATE name with \".pkr.hcl\" appended to it. To be a
                       valid Packer HCL template, it must have the suffix
                       \".pkr.hcl\"
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let (flags, path) = match args::parse_one(argv, &[("output-file", Kind::Value)], USAGE) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let path = &path;
    if kiln_template::hcl::is_hcl(path) {
        eprintln!(
            "Error: {path} is already an HCL2 template; hcl2_upgrade reads legacy JSON templates"
        );
        return 1;
    }
    let template = match plan::load_template(path, &Default::default()) {
        Ok(t) => t,
        Err(d) => {
            eprintln!("Error: {d}");
            return 1;
        }
    };
    let output = flags
        .value("output-file")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{path}.pkr.hcl"));
    let text = kiln_template::hcl::upgrade::upgrade(&template);
    if let Err(e) = std::fs::write(&output, text) {
        eprintln!("Error: could not write {output}: {e}");
        return 1;
    }
    println!("Successfully created {output}");
    0
}
