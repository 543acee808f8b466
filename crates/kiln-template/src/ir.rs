//! The Template IR: what every front end produces and everything after it consumes.
//! Nothing here knows which syntax the user wrote.

use crate::diag::Diagnostic;
use crate::interp::{self, Context};
use crate::source::{Source, Span};
use crate::value::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A whole template.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// The file it came from.
    pub path: Option<PathBuf>,
    /// Its text, for diagnostics.
    pub source: Option<Arc<Source>>,
    /// `description`.
    pub description: Option<String>,
    /// `min_packer_version`.
    pub min_version: Option<String>,
    /// User variables in the order declared.
    pub variables: Vec<Variable>,
    /// Names of variables whose values are secrets.
    pub sensitive: Vec<String>,
    /// Builders in the order declared.
    pub builders: Vec<BuilderDef>,
    /// Provisioners in the order declared.
    pub provisioners: Vec<ProvisionerDef>,
    /// `error-cleanup-provisioner`s: a legacy template has at most one; an HCL2 template one
    /// per build block, each for that block's builds. A build runs the first that applies.
    pub error_cleanup_provisioners: Vec<ProvisionerDef>,
    /// Post-processor chains.
    pub post_processors: Vec<Vec<PostProcessorDef>>,
    /// Values known to be secret when the template was read (HCL2's sensitive variables).
    pub secrets: Vec<String>,
    /// What the front end warns of (a var file's value for an undeclared variable).
    pub warnings: Vec<Diagnostic>,
    /// What an HCL2 template declared, for `inspect`; None for a legacy JSON template.
    pub hcl: Option<HclSummary>,
}

/// An HCL2 template's declarations, as `inspect` lists them.
#[derive(Debug, Clone, Default)]
pub struct HclSummary {
    /// Input variables, sorted: name and value as shown (`<sensitive>` for secrets).
    pub inputs: Vec<(String, String)>,
    /// Locals, sorted, likewise.
    pub locals: Vec<(String, String)>,
    /// `build` blocks in order.
    pub builds: Vec<HclBuildSummary>,
}

/// One `build` block.
#[derive(Debug, Clone, Default)]
pub struct HclBuildSummary {
    /// Its `name`, if any.
    pub name: Option<String>,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// Its builds' names (`type.name`).
    pub sources: Vec<String>,
    /// Provisioner types in order.
    pub provisioners: Vec<String>,
    /// Post-processor chains' types.
    pub post_processors: Vec<Vec<String>>,
}

/// A declared user variable.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its default (a template string); None when required.
    pub default: Option<String>,
    /// Where it was declared.
    pub span: Option<Span>,
}

/// A builder block.
#[derive(Debug, Clone)]
pub struct BuilderDef {
    /// Build name (defaults to the type).
    pub name: String,
    /// Plugin type, e.g. `amazon-ebs`.
    pub kind: String,
    /// The plugin's own configuration (without `type`/`name`).
    pub config: Value,
    /// Where it was declared.
    pub span: Option<Span>,
    /// The name shown, and matched by `-only`, `only` and `except`, when not `name`
    /// (HCL2: `type.name`, or `build.type.name` in a named build block).
    pub display: Option<String>,
}

impl BuilderDef {
    /// The name the build is shown and selected by.
    pub fn key(&self) -> &str {
        self.display.as_deref().unwrap_or(&self.name)
    }
}

/// A provisioner block.
#[derive(Debug, Clone)]
pub struct ProvisionerDef {
    /// Plugin type.
    pub kind: String,
    /// The plugin's own configuration.
    pub config: Value,
    /// Run only for these build names (empty: all).
    pub only: Vec<String>,
    /// Skip for these build names.
    pub except: Vec<String>,
    /// Per-build configuration overrides, merged shallowly.
    pub overrides: Vec<(String, Value)>,
    /// Wait before running.
    pub pause_before: Option<Duration>,
    /// Retries after a failure.
    pub max_retries: u32,
    /// Time limit for one run.
    pub timeout: Option<Duration>,
    /// Where it was declared.
    pub span: Option<Span>,
}

/// A post-processor in a chain.
#[derive(Debug, Clone)]
pub struct PostProcessorDef {
    /// Plugin type.
    pub kind: String,
    /// Optional name, for `-only`/`-except`.
    pub name: Option<String>,
    /// The plugin's own configuration.
    pub config: Value,
    /// `keep_input_artifact`, when the user set it.
    pub keep_input_artifact: Option<bool>,
    /// Run only for these build names.
    pub only: Vec<String>,
    /// Skip for these build names.
    pub except: Vec<String>,
    /// Where it was declared.
    pub span: Option<Span>,
}

/// Runs-for-this-build test shared by provisioners and post-processors.
pub fn applies_to(only: &[String], except: &[String], build: &str) -> bool {
    (only.is_empty() || only.iter().any(|o| o == build)) && !except.iter().any(|e| e == build)
}

/// Interpolates every string in `value` with `cx`; errors point into the file.
pub fn interpolate(value: &mut Value, cx: &Context) -> Result<(), Diagnostic> {
    value.try_map_strings(&mut |s, span| render_at(s, span, cx))
}

/// [`interpolate`], except the top-level members named in `later`: a plugin renders those
/// itself at build time, with data only it has then (Packer's `Exclude` lists), so here their
/// strings are only checked for syntax. (Rendered twice, a value that itself contains `{{`,
/// such as a user variable's, would be read as a template the second time.)
pub fn interpolate_except(
    value: &mut Value,
    cx: &Context,
    later: &[&str],
) -> Result<(), Diagnostic> {
    let crate::value::Kind::Object(members) = &mut value.kind else {
        return interpolate(value, cx);
    };
    for m in members {
        if later.contains(&m.key.as_str()) {
            m.value.try_map_strings(&mut |s, span| {
                interp::check(s)
                    .map(|()| s.to_string())
                    .map_err(|e| located(span, e))
            })?;
        } else {
            interpolate(&mut m.value, cx)?;
        }
    }
    Ok(())
}

/// Renders one template string, turning errors into located diagnostics.
pub fn render_at(s: &str, span: Option<&Span>, cx: &Context) -> Result<String, Diagnostic> {
    interp::render(s, cx).map_err(|e| located(span, e))
}

/// A template string's error as a diagnostic at its place in the file.
fn located(span: Option<&Span>, e: interp::InterpError) -> Diagnostic {
    // Inside a JSON string the template starts one byte after the opening quote.
    let at = span.map(|sp| sp.sub(1 + e.pos, 1));
    Diagnostic::at(at.as_ref(), e.message)
}
