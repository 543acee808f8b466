//! `packer { required_plugins { NAME = { source = "...", version = "..." } } }` (Packer 1.7
//! and later): kiln installs nothing, its plugins are built in. What a template requires is
//! checked against what kiln has: a plugin kiln does not have is warned of by the build (its
//! components fail by name where a template uses them) and is an error for `kiln init`.

use super::span_in;
use crate::diag::Diagnostic;
use crate::source::Source;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Structure};
use std::sync::Arc;

/// The plugins built into kiln, by the last part of their source address, with what kiln has
/// of each.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("amazon", "the amazon-ebs builder"),
    ("docker", "the docker builder and post-processors"),
    ("qemu", "the qemu builder"),
    ("ansible", "the ansible and ansible-local provisioners"),
    ("puppet", "the puppet-masterless provisioner"),
    ("vagrant", "the vagrant post-processor"),
];

/// One required plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// The name it is required as.
    pub name: String,
    /// Its source address (`github.com/hashicorp/amazon`).
    pub source: String,
    /// Its version constraint, if given.
    pub version: String,
    /// What kiln has of it, if it is built in.
    pub built_in: Option<&'static str>,
}

/// The plugins a `required_plugins` block names.
pub(crate) fn required(src: &Arc<Source>, b: &Block) -> Result<Vec<Plugin>, Diagnostic> {
    let mut out = vec![];
    for st in b.body.iter() {
        let Structure::Attribute(a) = st else {
            return Err(Diagnostic::at(
                span_in(src, st).as_ref(),
                "required_plugins holds NAME = { source = \"...\", version = \"...\" }",
            ));
        };
        let name = a.key.as_str().to_string();
        let Expression::Object(o) = &a.value else {
            return Err(Diagnostic::at(
                span_in(src, a).as_ref(),
                format!(
                    "required_plugins: {name} must be {{ source = \"...\", version = \"...\" }}"
                ),
            ));
        };
        let (mut source, mut version) = (String::new(), String::new());
        for (k, v) in o.iter() {
            let key = match k {
                ObjectKey::Ident(i) => i.as_str().to_string(),
                ObjectKey::Expression(x) => x.as_str().unwrap_or_default().to_string(),
            };
            let Some(text) = v.expr().as_str().map(str::to_string) else {
                return Err(Diagnostic::at(
                    span_in(src, v.expr()).as_ref(),
                    format!("required_plugins: {name}.{key} must be a literal string"),
                ));
            };
            match key.as_str() {
                "source" => source = text,
                "version" => version = text,
                other => {
                    return Err(Diagnostic::at(
                        span_in(src, a).as_ref(),
                        format!(
                        "required_plugins: {name} has \"{other}\"; a plugin has source and version"
                    ),
                    ))
                }
            }
        }
        if source.is_empty() {
            return Err(Diagnostic::at(
                span_in(src, a).as_ref(),
                format!("required_plugins: {name} has no source (github.com/ORG/NAME)"),
            ));
        }
        let last = source.rsplit('/').next().unwrap_or_default();
        let last = last.strip_prefix("packer-plugin-").unwrap_or(last);
        let built_in = BUILT_IN
            .iter()
            .find(|(n, _)| *n == last)
            .map(|(_, has)| *has);
        out.push(Plugin {
            name,
            source,
            version,
            built_in,
        });
    }
    Ok(out)
}

/// The warning for a plugin kiln does not have.
pub fn missing(p: &Plugin) -> String {
    let have: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    format!(
        "plugin {} ({}) is not built into kiln, which has {}: its components are not \
         available",
        p.name,
        p.source,
        have.join(", ")
    )
}

/// Every plugin the packer blocks of the HCL2 template at `path` (a file or a directory)
/// require, for `kiln init`.
pub fn of_template(path: &std::path::Path) -> Result<Vec<Plugin>, Diagnostic> {
    let files = super::discover(path)?.templates;
    let mut out = vec![];
    for f in files {
        let f = super::parse_file(&f)?;
        for st in f.body.iter() {
            let Structure::Block(b) = st else { continue };
            if b.ident.as_str() != "packer" {
                continue;
            }
            for inner in b.body.iter() {
                if let Structure::Block(rp) = inner {
                    if rp.ident.as_str() == "required_plugins" {
                        out.extend(required(&f.src, rp)?);
                    }
                }
            }
        }
    }
    Ok(out)
}
