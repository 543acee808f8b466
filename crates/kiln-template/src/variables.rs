//! Resolving user variables: defaults, then `-var-file`s, then `-var`s, each value a template
//! that may use `env` and other variables (`{{user "other"}}`).

use crate::diag::{Diagnostic, Diagnostics};
use crate::interp::{self, Context};
use crate::ir::Template;
use crate::json;
use crate::source::Source;
use crate::value::Kind;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Values given on the command line, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `-var-file` contents, flattened in order (later files win).
    pub files: Vec<(String, String)>,
    /// `-var k=v`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `-var-file`s in HCL (`.pkrvars.hcl`), in order; read by the HCL2 front end.
    pub hcl_files: Vec<std::path::PathBuf>,
    /// Every value of the JSON `-var-file`s, typed, in order (for HCL2 templates).
    pub json_values: Vec<(String, crate::value::Value)>,
    /// JSON var file values that are not strings, numbers or bools: errors for a legacy
    /// template, whose variables are strings.
    pub not_strings: Vec<Diagnostic>,
}

impl Overrides {
    /// Reads a `-var-file` (a flat JSON object of strings) and appends its values.
    pub fn add_var_file(&mut self, path: &Path) -> Result<(), Diagnostic> {
        if path.extension().is_some_and(|e| e == "hcl") {
            self.hcl_files.push(path.to_path_buf());
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostic::new(format!("could not read var file {}: {e}", path.display()))
        })?;
        let src = Source::new(path.display().to_string(), text);
        let v = json::parse(&src)?;
        let Kind::Object(members) = v.kind else {
            return Err(Diagnostic::at(
                v.span.as_ref(),
                "a var file must be a JSON object",
            ));
        };
        for m in members {
            match &m.value.kind {
                Kind::String(v) | Kind::Number(v) => self.files.push((m.key.clone(), v.clone())),
                Kind::Bool(b) => self.files.push((m.key.clone(), b.to_string())),
                // A list or a map is for an HCL2 template's typed variables only.
                _ => self.not_strings.push(Diagnostic::at(
                    m.value.span.as_ref(),
                    format!(
                        "variable \"{}\" must be a string, not {}",
                        m.key,
                        m.value.type_name()
                    ),
                )),
            }
            self.json_values.push((m.key, m.value));
        }
        Ok(())
    }
}

/// Resolves every variable to its final string. Missing required variables, and references
/// that cannot be resolved (cycles, undeclared variables in defaults), are errors.
pub fn resolve(
    t: &Template,
    overrides: &Overrides,
    base: &Context,
) -> Result<Arc<BTreeMap<String, String>>, Diagnostics> {
    if let Some(d) = overrides.not_strings.first() {
        return Err(d.clone().into());
    }
    if let Some(f) = overrides.hcl_files.first() {
        return Err(Diagnostic::new(format!(
            "{}: an HCL2 var file is for HCL2 templates; a legacy JSON template takes JSON var files",
            f.display()
        ))
        .into());
    }
    let mut raw: BTreeMap<String, (String, Option<crate::Span>)> = BTreeMap::new();
    let mut missing = Vec::new();
    for v in &t.variables {
        if let Some(d) = &v.default {
            raw.insert(v.name.clone(), (d.clone(), v.span.clone()));
        }
    }
    for (k, v) in &overrides.files {
        // Packer only takes var-file values for declared variables.
        if t.variables.iter().any(|d| &d.name == k) {
            raw.insert(k.clone(), (v.clone(), None));
        }
    }
    for (k, v) in &overrides.vars {
        raw.insert(k.clone(), (v.clone(), None));
    }
    for v in &t.variables {
        if !raw.contains_key(&v.name) {
            missing.push(v.name.clone());
        }
    }
    if !missing.is_empty() {
        return Err(
            Diagnostic::new(format!("required variable not set: {}", missing.join(", ")))
                .with_hint("set it with -var name=value or -var-file")
                .into(),
        );
    }

    // Render repeatedly: each pass resolves the variables whose references are all resolved.
    let mut done: BTreeMap<String, String> = BTreeMap::new();
    let mut pending: Vec<String> = raw.keys().cloned().collect();
    loop {
        let mut progressed = false;
        let mut still = Vec::new();
        let mut last_errors = Diagnostics::default();
        for name in pending {
            let (text, span) = &raw[&name];
            let mut cx = base.clone();
            cx.user_vars = Arc::new(done.clone());
            cx.strict_user_vars = true;
            match interp::render(text, &cx) {
                Ok(v) => {
                    done.insert(name, v);
                    progressed = true;
                }
                Err(e) => {
                    last_errors.push(Diagnostic::at(
                        span.as_ref(),
                        format!("variable \"{name}\": {}", e.message),
                    ));
                    still.push(name);
                }
            }
        }
        if still.is_empty() {
            return Ok(Arc::new(done));
        }
        if !progressed {
            return Err(last_errors);
        }
        pending = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy;

    fn tmpl(vars: &str) -> Template {
        legacy::parse(&Source::new(
            "t.json",
            format!("{{\"variables\": {vars}, \"builders\": [{{\"type\": \"null\"}}]}}"),
        ))
        .unwrap()
    }

    #[test]
    fn precedence_and_references() {
        let t = tmpl(r#"{"a": "A{{user `b`}}", "b": "B", "c": "c"}"#);
        let mut o = Overrides::default();
        o.files.push(("c".into(), "file".into()));
        o.files.push(("undeclared".into(), "ignored".into()));
        o.vars.push(("b".into(), "X{{user `c`}}".into()));
        let v = resolve(&t, &o, &Context::new(chrono::Utc::now())).unwrap();
        assert_eq!(v["a"], "AXfile");
        assert_eq!(v["b"], "Xfile");
        assert!(!v.contains_key("undeclared"));
    }

    #[test]
    fn required_and_cycles() {
        let t = tmpl(r#"{"r": null}"#);
        let e = resolve(&t, &Overrides::default(), &Context::new(chrono::Utc::now())).unwrap_err();
        assert!(e.to_string().contains("required variable not set: r"));
        let t = tmpl(r#"{"a": "{{user `b`}}", "b": "{{user `a`}}"}"#);
        let e = resolve(&t, &Overrides::default(), &Context::new(chrono::Utc::now())).unwrap_err();
        assert!(e.to_string().contains("variable not set"), "{e}");
    }
}
