//! `kiln inspect TEMPLATE`: variables (secrets masked), builders and provisioners, in Packer's
//! layout.

use crate::args;
use crate::plan;
use crate::ui::{make_ui, print_error, OutputFlags};

const USAGE: &str = "Usage: kiln inspect TEMPLATE

  Inspects a template, parsing and outputting the components a template
  defines. This does not validate the contents of a template (other than
  basic syntax by necessity).

Options:
  -machine-readable  Machine-readable output
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String], machine: bool) -> u8 {
    let flags = match args::parse(argv, &[]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    let ui = make_ui(OutputFlags {
        machine,
        ..Default::default()
    });
    let [path] = flags.positional.as_slice() else {
        eprintln!("{USAGE}");
        return 1;
    };
    let t = match plan::load_template(path, &Default::default()) {
        Ok(t) => t,
        Err(d) => {
            print_error(&ui, &d.to_string());
            return 1;
        }
    };
    if let Some(h) = &t.hcl {
        inspect_hcl(&ui, h);
        return 0;
    }
    ui.say("Packer Inspect: JSON mode");
    if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
        ui.say("Description:\n");
        ui.say(&format!("{d}\n"));
    }
    let mut vars = t.variables.clone();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    if vars.is_empty() {
        ui.say("Variables:\n");
        ui.say("  <No variables>");
    } else {
        let required: Vec<_> = vars.iter().filter(|v| v.default.is_none()).collect();
        if !required.is_empty() {
            ui.say("Required variables:\n");
            for v in &required {
                ui.machine("", "template-variable", &[&v.name, "", "1"]);
                ui.say(&format!("  {}", v.name));
            }
            ui.say("");
        }
        // As Packer: the header even when every variable is required, names padded to the
        // longest of all variables.
        ui.say("Optional variables and their defaults:\n");
        let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in vars.iter().filter(|v| v.default.is_some()) {
            let value = if t.sensitive.contains(&v.name) {
                "<sensitive>".to_string()
            } else {
                v.default.clone().unwrap_or_default()
            };
            ui.machine("", "template-variable", &[&v.name, &value, "0"]);
            ui.say(&format!("  {:<width$} = {value}", v.name));
        }
    }
    ui.say("");
    ui.say("Builders:\n");
    let mut builders = t.builders.clone();
    builders.sort_by(|a, b| a.name.cmp(&b.name));
    let bwidth = builders.iter().map(|b| b.name.len()).max().unwrap_or(0);
    if builders.is_empty() {
        ui.say("  <No builders>");
    }
    for b in &builders {
        ui.machine("", "template-builder", &[&b.name, &b.kind]);
        // Packer pads every name to the longest, type or not.
        let mut line = format!("  {:<bwidth$}", b.name);
        if b.name != b.kind {
            line.push_str(&format!(" ({})", b.kind));
        }
        ui.say(&line);
    }
    ui.say("");
    ui.say("Provisioners:\n");
    if t.provisioners.is_empty() {
        ui.say("  <No provisioners>");
    }
    for p in &t.provisioners {
        ui.machine("", "template-provisioner", &[&p.kind]);
        ui.say(&format!("  {}", p.kind));
    }
    ui.say(
        "\nNote: If your build names contain user variables or template\n\
         functions such as 'timestamp', these are processed at build time,\n\
         and therefore only show in their raw form here.",
    );
    0
}

/// Packer's HCL2 layout: input variables, locals, then each build block's sources,
/// provisioners and post-processor chains.
fn inspect_hcl(ui: &kiln_core::ui::Ui, h: &kiln_template::ir::HclSummary) {
    let mut out = String::from("Packer Inspect: HCL2 mode\n\n> input-variables:\n\n");
    for (name, value) in &h.inputs {
        out.push_str(&format!("var.{name}: {value}\n"));
    }
    out.push_str("\n> local-variables:\n\n");
    for (name, value) in &h.locals {
        out.push_str(&format!("local.{name}: {value}\n"));
    }
    out.push_str("\n> builds:\n");
    for (i, b) in h.builds.iter().enumerate() {
        match b.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => out.push_str(&format!("\n  > {n}:\n")),
            None => out.push_str(&format!("\n  > <unnamed build {i}>:\n")),
        }
        if let Some(d) = b.description.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(&format!("\n  > Description: {d}\n"));
        }
        out.push_str("\n    sources:\n");
        if b.sources.is_empty() {
            out.push_str("\n      <no source>\n");
        }
        for s in &b.sources {
            out.push_str(&format!("\n      {s}\n"));
        }
        out.push_str("\n    provisioners:\n\n");
        if b.provisioners.is_empty() {
            out.push_str("      <no provisioner>\n");
        }
        for p in &b.provisioners {
            out.push_str(&format!("      {p}\n"));
        }
        out.push_str("\n    post-processors:\n");
        if b.post_processors.is_empty() {
            out.push_str("\n      <no post-processor>\n");
        }
        for (j, chain) in b.post_processors.iter().enumerate() {
            out.push_str(&format!("\n      {j}:\n"));
            for p in chain {
                out.push_str(&format!("        {p}\n"));
            }
        }
    }
    ui.say(&out);
}
