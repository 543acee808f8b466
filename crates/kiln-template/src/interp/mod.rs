//! Packer's template interpolation (Go text/template syntax and Packer's function library).
//!
//! [`render`] evaluates a string against a [`Context`]. Values that belong to a later phase
//! (`{{ .Path }}` data a provisioner fills in, `{{ build "ID" }}` data a builder produces) are
//! left as written when the context does not have them yet, so one pass can interpolate a
//! whole plugin configuration and the plugin renders the rest when it knows them.

mod eval;
mod funcs;
pub mod parse;
pub mod timefmt;

pub use eval::TVal;
pub use funcs::{html_escape, query_escape};

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What interpolation can see.
#[derive(Debug, Clone)]
pub struct Context {
    /// User variables (`{{user "name"}}`), already resolved.
    pub user_vars: Arc<BTreeMap<String, String>>,
    /// Whether a missing user variable is an error (true while resolving `variables`).
    pub strict_user_vars: bool,
    /// `{{build_name}}`, when interpolating for a build.
    pub build_name: Option<String>,
    /// `{{build_type}}`, when interpolating for a build.
    pub build_type: Option<String>,
    /// Path of the template file, for `{{template_dir}}`.
    pub template_path: Option<String>,
    /// The run's start time: every `timestamp`/`isotime` in one run agrees.
    pub init_time: DateTime<Utc>,
    /// Data for `{{ .Field }}`; None means "not known yet" (leave such actions as written).
    pub data: Option<BTreeMap<String, TVal>>,
    /// Data for `{{ build "Key" }}`; None means "not known yet".
    pub build_data: Option<BTreeMap<String, String>>,
}

impl Context {
    /// A context with no variables, started now.
    pub fn new(init_time: DateTime<Utc>) -> Context {
        Context {
            user_vars: Arc::new(BTreeMap::new()),
            strict_user_vars: false,
            build_name: None,
            build_type: None,
            template_path: None,
            init_time,
            data: None,
            build_data: None,
        }
    }

    /// The same context with `.Field` data set.
    pub fn with_data<I, K>(&self, data: I) -> Context
    where
        I: IntoIterator<Item = (K, TVal)>,
        K: Into<String>,
    {
        let mut c = self.clone();
        c.data = Some(data.into_iter().map(|(k, v)| (k.into(), v)).collect());
        c
    }
}

/// An interpolation error, with the byte offset in the rendered string where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpError {
    /// What went wrong.
    pub message: String,
    /// Byte offset in the template string.
    pub pos: usize,
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks a template string's syntax without rendering it (for strings a plugin renders
/// later, with data only it has).
pub fn check(template: &str) -> Result<(), InterpError> {
    if !template.contains("{{") {
        return Ok(());
    }
    parse::parse(template).map(|_| ()).map_err(|e| InterpError {
        message: format!("template syntax error: {}", e.message),
        pos: e.pos,
    })
}

/// Renders a template string.
pub fn render(template: &str, cx: &Context) -> Result<String, InterpError> {
    if !template.contains("{{") {
        return Ok(template.to_string());
    }
    let tree = parse::parse(template).map_err(|e| InterpError {
        message: format!("template syntax error: {}", e.message),
        pos: e.pos,
    })?;
    eval::render_tree(&tree, template, cx)
}

#[cfg(test)]
mod tests;
