//! Packer's legacy JSON template format, parsed into the [`ir::Template`].

use crate::decode::nearest;
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::parse_go_duration;
use crate::ir::{BuilderDef, PostProcessorDef, ProvisionerDef, Template, Variable};
use crate::json;
use crate::source::{Source, Span};
use crate::value::{Kind, Member, Value};
use std::path::Path;
use std::sync::Arc;

const ROOT_KEYS: &[&str] = &[
    "description",
    "min_packer_version",
    "variables",
    "sensitive-variables",
    "builders",
    "provisioners",
    "post-processors",
    "error-cleanup-provisioner",
];

/// Reads and parses a template file.
pub fn load(path: &Path) -> Result<Template, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(format!("could not read template {}: {e}", path.display())))?;
    let src = Source::new(path.display().to_string(), text);
    let mut t = parse(&src)?;
    t.path = Some(path.to_path_buf());
    Ok(t)
}

/// Parses template text. All structural errors are reported together.
pub fn parse(src: &Arc<Source>) -> Result<Template, Diagnostics> {
    let root = json::parse(src)?;
    let members = match &root.kind {
        Kind::Object(m) => m,
        _ => {
            return Err(
                Diagnostic::at(root.span.as_ref(), "a template must be a JSON object").into(),
            )
        }
    };
    let mut errs = Diagnostics::default();
    let mut t = Template {
        source: Some(src.clone()),
        ..Default::default()
    };
    for m in members {
        // As in Packer, a known key set to null is a key not set (an unknown one is still
        // unknown).
        let known = ROOT_KEYS.contains(&m.key.as_str()) || m.key == "push" || m.key == "comments";
        if m.key.starts_with('_') || (known && matches!(m.value.kind, Kind::Null)) {
            continue;
        }
        match m.key.as_str() {
            "description" => t.description = string_or_err(&m.value, "description", &mut errs),
            "min_packer_version" => {
                t.min_version = string_or_err(&m.value, "min_packer_version", &mut errs)
            }
            "variables" => t.variables = variables(&m.value, &mut errs),
            "sensitive-variables" => {
                t.sensitive = string_list(&m.value, "sensitive-variables", &mut errs)
            }
            "builders" => t.builders = builders(&m.value, &mut errs),
            "provisioners" => {
                for (i, p) in array(&m.value, "provisioners", &mut errs)
                    .iter()
                    .enumerate()
                {
                    if let Some(p) = provisioner(p, &format!("provisioners[{i}]"), &mut errs) {
                        t.provisioners.push(p);
                    }
                }
            }
            "error-cleanup-provisioner" => {
                t.error_cleanup_provisioners =
                    provisioner(&m.value, "error-cleanup-provisioner", &mut errs)
                        .into_iter()
                        .collect()
            }
            "post-processors" => t.post_processors = post_processors(&m.value, &mut errs),
            // Packer 1.6.6 still reads the `push` section of Atlas days, and ignores it.
            "push" if matches!(m.value.kind, Kind::Object(_)) => t.warnings.push(Diagnostic::at(
                m.key_span.as_ref(),
                "\"push\" is ignored: pushing builds to Atlas is gone from Packer",
            )),
            "push" => errs.push(Diagnostic::at(
                m.value.span.as_ref(),
                format!("push must be an object, not {}", m.value.type_name()),
            )),
            // Packer's other way of writing comments: a list of objects of strings.
            "comments" => comments(&m.value, &mut errs),
            other => errs.push(unknown_key(m, other, ROOT_KEYS, "template")),
        }
    }
    if t.builders.is_empty() && errs.0.is_empty() {
        errs.push(Diagnostic::at(
            root.span.as_ref(),
            "at least one builder must be defined",
        ));
    }
    check_references(&t, &mut errs);
    for name in &t.sensitive {
        if !t.variables.iter().any(|v| &v.name == name) {
            errs.push(Diagnostic::new(format!(
                "sensitive-variables: \"{name}\" is not a declared variable"
            )));
        }
    }
    errs.into_result()?;
    Ok(t)
}

fn unknown_key(m: &Member, key: &str, valid: &[&str], what: &str) -> Diagnostic {
    let d = Diagnostic::at(m.key_span.as_ref(), format!("unknown {what} key \"{key}\""));
    match nearest(key, valid.iter().copied()) {
        Some(n) => d.with_hint(format!("did you mean \"{n}\"?")),
        None => d.with_hint(format!("valid keys: {}", valid.join(", "))),
    }
}

fn string_or_err(v: &Value, what: &str, errs: &mut Diagnostics) -> Option<String> {
    match &v.kind {
        Kind::String(s) => Some(s.clone()),
        _ => {
            errs.push(Diagnostic::at(
                v.span.as_ref(),
                format!("{what} must be a string, not {}", v.type_name()),
            ));
            None
        }
    }
}

fn array<'a>(v: &'a Value, what: &str, errs: &mut Diagnostics) -> &'a [Value] {
    match &v.kind {
        Kind::Array(items) => items,
        _ => {
            errs.push(Diagnostic::at(
                v.span.as_ref(),
                format!("{what} must be an array, not {}", v.type_name()),
            ));
            &[]
        }
    }
}

fn comments(v: &Value, errs: &mut Diagnostics) {
    for item in array(v, "comments", errs) {
        let strings = item
            .as_object()
            .is_some_and(|m| m.iter().all(|m| m.value.as_str().is_some()));
        if !strings {
            errs.push(Diagnostic::at(
                item.span.as_ref(),
                "comments must be a list of objects whose values are strings",
            ));
        }
    }
}

fn string_list(v: &Value, what: &str, errs: &mut Diagnostics) -> Vec<String> {
    array(v, what, errs)
        .iter()
        .filter_map(|item| string_or_err(item, what, errs))
        .collect()
}

fn variables(v: &Value, errs: &mut Diagnostics) -> Vec<Variable> {
    let Kind::Object(members) = &v.kind else {
        errs.push(Diagnostic::at(
            v.span.as_ref(),
            "variables must be an object",
        ));
        return vec![];
    };
    let mut out = Vec::new();
    for m in members {
        let default = match &m.value.kind {
            Kind::Null => None,
            Kind::String(s) => Some(s.clone()),
            _ => {
                errs.push(
                    Diagnostic::at(
                        m.value.span.as_ref(),
                        format!(
                            "variable \"{}\": default must be a string or null, not {}",
                            m.key,
                            m.value.type_name()
                        ),
                    )
                    .with_hint("quote the value, e.g. \"10\" or \"true\""),
                );
                continue;
            }
        };
        out.push(Variable {
            name: m.key.clone(),
            default,
            span: m.key_span.clone(),
        });
    }
    out
}

/// Takes a string key out of a plugin block.
fn take_string(
    obj: &mut Value,
    key: &str,
    ctx: &str,
    errs: &mut Diagnostics,
) -> Option<(String, Option<Span>)> {
    let m = obj.remove(key)?;
    match m.value.kind {
        Kind::Null => None,
        Kind::String(s) => Some((s, m.value.span)),
        _ => {
            errs.push(Diagnostic::at(
                m.value.span.as_ref(),
                format!("{ctx}: \"{key}\" must be a string"),
            ));
            None
        }
    }
}

/// Takes a list of names out of a plugin block; null is none. `loose` reads it as Packer
/// reads a provisioner's: one name may stand for a list of it, and numbers and booleans are
/// names too (`1`, `"1"` for true).
fn take_list(
    obj: &mut Value,
    key: &str,
    ctx: &str,
    loose: bool,
    errs: &mut Diagnostics,
) -> Vec<String> {
    let Some(m) = obj.remove(key) else {
        return vec![];
    };
    let what = format!("{ctx}: {key}");
    match &m.value.kind {
        Kind::Null => vec![],
        Kind::Array(items) if loose => items
            .iter()
            .filter_map(|v| loose_string(v).or_else(|| string_or_err(v, &what, errs)))
            .collect(),
        _ => match loose_string(&m.value).filter(|_| loose) {
            Some(name) => vec![name],
            None => string_list(&m.value, &what, errs),
        },
    }
}

/// A value read as a string the way Packer's loose decoding does: a string, a number as Go
/// writes it, a boolean as "1" or "0".
fn loose_string(v: &Value) -> Option<String> {
    match &v.kind {
        Kind::String(s) => Some(s.clone()),
        Kind::Number(n) => n.parse::<f64>().ok().map(|f| format!("{f}")),
        Kind::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

fn take_duration(
    obj: &mut Value,
    key: &str,
    ctx: &str,
    errs: &mut Diagnostics,
) -> Option<std::time::Duration> {
    let (s, span) = take_string(obj, key, ctx, errs)?;
    match parse_go_duration(&s) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(Diagnostic::at(span.as_ref(), format!("{ctx}: {key}: {e}")));
            None
        }
    }
}

fn plugin_object(v: &Value, ctx: &str, errs: &mut Diagnostics) -> Option<(Value, String)> {
    if !matches!(v.kind, Kind::Object(_)) {
        errs.push(Diagnostic::at(
            v.span.as_ref(),
            format!("{ctx} must be an object, not {}", v.type_name()),
        ));
        return None;
    }
    let mut obj = v.clone();
    let Some((kind, _)) = take_string(&mut obj, "type", ctx, errs) else {
        errs.push(Diagnostic::at(
            v.span.as_ref(),
            format!("{ctx}: missing \"type\""),
        ));
        return None;
    };
    Some((obj, kind))
}

fn builders(v: &Value, errs: &mut Diagnostics) -> Vec<BuilderDef> {
    let mut out: Vec<BuilderDef> = Vec::new();
    for (i, b) in array(v, "builders", errs).iter().enumerate() {
        let ctx = format!("builders[{i}]");
        let Some((mut obj, kind)) = plugin_object(b, &ctx, errs) else {
            continue;
        };
        // Read loosely, as Packer does: `"name": 5` names the build "5"; none (or an
        // empty one) is the type.
        let name = match obj.remove("name") {
            None => None,
            Some(m) => loose_string(&m.value).or_else(|| {
                if !matches!(m.value.kind, Kind::Null) {
                    errs.push(Diagnostic::at(
                        m.value.span.as_ref(),
                        format!("{ctx}: \"name\" must be a string"),
                    ));
                }
                None
            }),
        }
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| kind.clone());
        if let Some(first) = out.iter().find(|o| o.name == name) {
            let at = first
                .span
                .as_ref()
                .map(|s| format!(" (first defined at {s})"))
                .unwrap_or_default();
            errs.push(
                Diagnostic::at(
                    b.span.as_ref(),
                    format!("{ctx}: a build named \"{name}\" is already defined{at}"),
                )
                .with_hint("give each builder a unique \"name\""),
            );
            continue;
        }
        out.push(BuilderDef {
            name,
            kind,
            config: obj,
            span: b.span.clone(),
            display: None,
        });
    }
    out
}

fn provisioner(v: &Value, ctx: &str, errs: &mut Diagnostics) -> Option<ProvisionerDef> {
    let (mut obj, kind) = plugin_object(v, ctx, errs)?;
    let only = take_list(&mut obj, "only", ctx, true, errs);
    let except = take_list(&mut obj, "except", ctx, true, errs);
    if !only.is_empty() && !except.is_empty() {
        errs.push(Diagnostic::at(
            v.span.as_ref(),
            format!("{ctx}: only one of \"only\" or \"except\" may be set"),
        ));
    }
    let overrides = match obj.remove("override") {
        None => vec![],
        Some(m) if matches!(m.value.kind, Kind::Null) => vec![],
        Some(m) => match m.value.kind {
            Kind::Object(members) => members.into_iter().map(|m| (m.key, m.value)).collect(),
            _ => {
                errs.push(Diagnostic::at(
                    m.value.span.as_ref(),
                    format!("{ctx}: override must be an object"),
                ));
                vec![]
            }
        },
    };
    let pause_before = take_duration(&mut obj, "pause_before", ctx, errs);
    let timeout = take_duration(&mut obj, "timeout", ctx, errs);
    let max_retries = match obj.remove("max_retries") {
        None => 0,
        Some(m) => match crate::decode::decode::<u32>(&m.value) {
            Ok(n) => n,
            Err(e) => {
                errs.push(e.context(format!("{ctx}: max_retries")));
                0
            }
        },
    };
    Some(ProvisionerDef {
        kind,
        config: obj,
        only,
        except,
        overrides,
        pause_before,
        max_retries,
        timeout,
        span: v.span.clone(),
    })
}

fn post_processor(v: &Value, ctx: &str, errs: &mut Diagnostics) -> Option<PostProcessorDef> {
    if let Kind::String(s) = &v.kind {
        return Some(PostProcessorDef {
            kind: s.clone(),
            name: None,
            config: Value {
                kind: Kind::Object(vec![]),
                span: v.span.clone(),
            },
            keep_input_artifact: None,
            only: vec![],
            except: vec![],
            span: v.span.clone(),
        });
    }
    let (mut obj, kind) = plugin_object(v, ctx, errs)?;
    let name = take_string(&mut obj, "name", ctx, errs).map(|(n, _)| n);
    let only = take_list(&mut obj, "only", ctx, false, errs);
    let except = take_list(&mut obj, "except", ctx, false, errs);
    let keep_input_artifact = match obj.remove("keep_input_artifact") {
        None => None,
        Some(m) => match crate::decode::decode::<bool>(&m.value) {
            Ok(b) => Some(b),
            Err(e) => {
                errs.push(e.context(format!("{ctx}: keep_input_artifact")));
                None
            }
        },
    };
    Some(PostProcessorDef {
        kind,
        name,
        config: obj,
        keep_input_artifact,
        only,
        except,
        span: v.span.clone(),
    })
}

fn post_processors(v: &Value, errs: &mut Diagnostics) -> Vec<Vec<PostProcessorDef>> {
    let mut chains = Vec::new();
    for (i, item) in array(v, "post-processors", errs).iter().enumerate() {
        let ctx = format!("post-processors[{i}]");
        let chain: Vec<PostProcessorDef> = match &item.kind {
            Kind::Array(steps) => steps
                .iter()
                .enumerate()
                .filter_map(|(j, s)| post_processor(s, &format!("{ctx}[{j}]"), errs))
                .collect(),
            _ => post_processor(item, &ctx, errs).into_iter().collect(),
        };
        if !chain.is_empty() {
            chains.push(chain);
        }
    }
    chains
}

/// `only`/`except`/`override` must name builds that exist.
fn check_references(t: &Template, errs: &mut Diagnostics) {
    let names: Vec<&str> = t.builders.iter().map(|b| b.name.as_str()).collect();
    let mut check = |list: &[String], what: &str, span: Option<&Span>| {
        for n in list {
            if !names.contains(&n.as_str()) {
                let d = Diagnostic::at(
                    span,
                    format!("{what} names build \"{n}\", which is not defined"),
                );
                errs.push(match nearest(n, names.iter().copied()) {
                    Some(near) => d.with_hint(format!("did you mean \"{near}\"?")),
                    None => d.with_hint(format!("builds: {}", names.join(", "))),
                });
            }
        }
    };
    for (i, p) in t.provisioners.iter().enumerate() {
        check(
            &p.only,
            &format!("provisioners[{i}]: only"),
            p.span.as_ref(),
        );
        check(
            &p.except,
            &format!("provisioners[{i}]: except"),
            p.span.as_ref(),
        );
        let keys: Vec<String> = p.overrides.iter().map(|(k, _)| k.clone()).collect();
        check(
            &keys,
            &format!("provisioners[{i}]: override"),
            p.span.as_ref(),
        );
    }
    for (i, chain) in t.post_processors.iter().enumerate() {
        for pp in chain {
            check(
                &pp.only,
                &format!("post-processors[{i}]: only"),
                pp.span.as_ref(),
            );
            check(
                &pp.except,
                &format!("post-processors[{i}]: except"),
                pp.span.as_ref(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Template, Diagnostics> {
        parse(&Source::new("t.json", text))
    }

    #[test]
    fn reads_what_packer_reads_loosely() {
        // Each of these passes Packer 1.6.6's `validate -syntax-only`.
        let t = p(r#"{
          "description": null, "min_packer_version": null, "variables": null,
          "sensitive-variables": null, "post-processors": null,
          "error-cleanup-provisioner": null,
          "push": {"name": "org/app", "vcs": true},
          "comments": [{"why": "old style"}],
          "builders": [{"type": "null", "name": 5}, {"type": "null", "name": true},
                       {"type": "null", "name": null}],
          "provisioners": [{"type": "shell-local", "inline": ["x"], "only": "5",
                            "except": null, "override": null, "pause_before": null,
                            "timeout": null, "max_retries": null},
                           {"type": "shell-local", "inline": ["x"], "only": [1, "null"]}]
        }"#)
        .unwrap();
        let names: Vec<&str> = t.builders.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["5", "1", "null"]);
        assert_eq!(t.provisioners[0].only, ["5"]);
        assert!(t.provisioners[0].except.is_empty() && t.provisioners[0].overrides.is_empty());
        assert_eq!(t.provisioners[1].only, ["1", "null"]);
        assert!(t.post_processors.is_empty() && t.error_cleanup_provisioners.is_empty());
        assert!(t.warnings[0].message.contains("\"push\" is ignored"));
        // And these Packer refuses too.
        for (text, says) in [
            (
                r#"{"builders": [{"type": "null"}], "push": "x"}"#,
                "push must be an object",
            ),
            (
                r#"{"builders": [{"type": "null"}], "comments": [{"a": 1}]}"#,
                "comments must be a list of objects",
            ),
            (
                r#"{"builders": [{"type": "null"}], "post-processors": [{"type": "manifest", "only": "null"}]}"#,
                "only must be an array",
            ),
            (r#"{"builders": null}"#, "at least one builder"),
            (
                r#"{"builders": [{"type": "null"}], "extra": null}"#,
                "unknown template key \"extra\"",
            ),
        ] {
            let e = p(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn parses_all_sections() {
        let t = p(r#"{
          "_comment": "ignored",
          "description": "d",
          "min_packer_version": "1.5.0",
          "variables": {"a": "x", "req": null},
          "sensitive-variables": ["a"],
          "builders": [{"type": "null"}, {"type": "null", "name": "two"}],
          "provisioners": [{"type": "shell-local", "inline": ["x"], "only": ["two"], "pause_before": "1s",
                            "max_retries": "2", "override": {"two": {"inline": ["y"]}}}],
          "error-cleanup-provisioner": {"type": "shell-local", "inline": ["z"]},
          "post-processors": ["compress", {"type": "manifest", "keep_input_artifact": true},
                              [{"type": "checksum"}, {"type": "compress", "name": "c"}]]
        }"#)
        .unwrap();
        assert_eq!(t.builders[0].name, "null");
        assert_eq!(t.builders[1].name, "two");
        assert!(t.variables[1].default.is_none());
        assert_eq!(t.provisioners[0].max_retries, 2);
        assert_eq!(
            t.provisioners[0].pause_before,
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(t.post_processors.len(), 3);
        assert_eq!(t.post_processors[2].len(), 2);
        assert_eq!(t.post_processors[1][0].keep_input_artifact, Some(true));
        assert_eq!(t.error_cleanup_provisioners.len(), 1);
    }

    #[test]
    fn structural_errors_are_all_reported() {
        let e = p(
            r#"{"builders": [{"type": "null"}, {"type": "null"}], "provisioner": [],
                      "variables": {"n": 5}}"#,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("already defined"), "{text}");
        assert!(
            text.contains("unknown template key \"provisioner\""),
            "{text}"
        );
        assert!(text.contains("did you mean \"provisioners\"?"), "{text}");
        assert!(text.contains("default must be a string or null"), "{text}");
    }

    #[test]
    fn references_to_unknown_builds_are_errors() {
        let e = p(
            r#"{"builders": [{"type": "null"}], "provisioners": [{"type": "x", "only": ["nul"]}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("did you mean \"null\""), "{e}");
        assert!(p(r#"{"builders": []}"#)
            .unwrap_err()
            .to_string()
            .contains("at least one builder"));
    }
}
