//! `hcl2_upgrade`: a legacy JSON template written as an HCL2 template that builds the same
//! thing, in the layout Packer's own `hcl2_upgrade` uses (variables, sources, one build
//! block). Where Packer 1.6.6's upgrade loses or changes parts of a
//! template (`pause_before`, `override`, `max_retries` as a string, `only` naming builds by
//! their legacy names, blocks with `{{ .Vars }}` left unconverted, `{{timestamp}}` turned
//! into another format, unnamed builders renamed so that
//! `{{build_name}}` changes), this one keeps them: the result builds the same thing.

use crate::ir::{ProvisionerDef, Template};
use crate::value::{Kind, Value};
use std::fmt::Write;
use std::time::Duration;

/// Options that are blocks in Packer's HCL2 schemas: an object (or a list of objects) under
/// one of these names is written as nested blocks, any other object as a map.
const BLOCK_OPTIONS: &[&str] = &[
    "source_ami_filter",
    "launch_block_device_mappings",
    "ami_block_device_mappings",
    "vpc_filter",
    "subnet_filter",
    "security_group_filter",
    "vault_aws_engine",
    "assume_role",
    "aws_polling",
    "metadata_options",
    "run_tag",
    "run_volume_tag",
    "spot_tag",
];

/// The HCL2 text of a legacy template.
pub fn upgrade(t: &Template) -> String {
    let mut out = String::from(
        "# Written by kiln hcl2_upgrade from a legacy JSON template. Go template calls that\n\
         # plugins render ({{ .Vars }}, {{ .HTTPIP }}, {{ timestamp }}, {{ build_name }}, ...)\n\
         # are kept as they were; {{ user }} and {{ env }} became HCL2 expressions.\n\n",
    );
    if let Some(v) = &t.min_version {
        let _ = writeln!(
            out,
            "packer {{\n  required_version = {}\n}}\n",
            quote(&format!(">= {v}"))
        );
    }
    let mut vars = t.variables.clone();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    for v in &vars {
        let mut attrs = vec![("type".to_string(), "string".to_string())];
        if let Some(d) = &v.default {
            attrs.push(("default".into(), string_expr(d)));
        }
        if t.sensitive.contains(&v.name) {
            attrs.push(("sensitive".into(), "true".into()));
        }
        let _ = writeln!(out, "variable {} {{", quote(&v.name));
        write_aligned(&mut out, 1, &attrs);
        out.push_str("}\n\n");
    }
    let names: Vec<String> = t
        .builders
        .iter()
        // The source is named as the legacy build was (its type when unnamed), so that
        // {{build_name}} and the manifest's name stay the same.
        .map(|b| b.name.clone())
        .collect();
    // A legacy build name as the HCL2 build is named (`type.name`).
    let hcl_name = |legacy: &str| -> String {
        t.builders
            .iter()
            .zip(&names)
            .find(|(b, _)| b.name == legacy)
            .map(|(b, n)| format!("{}.{n}", b.kind))
            .unwrap_or_else(|| legacy.to_string())
    };
    for (b, name) in t.builders.iter().zip(&names) {
        let _ = writeln!(out, "source {} {} {{", quote(&b.kind), quote(name));
        write_body(&mut out, 1, &b.config);
        out.push_str("}\n\n");
    }
    out.push_str("build {\n");
    if let Some(d) = &t.description {
        let _ = writeln!(out, "  description = {}\n", string_expr(d));
    }
    let sources: Vec<String> = t
        .builders
        .iter()
        .zip(&names)
        .map(|(b, n)| quote(&format!("source.{}.{n}", b.kind)))
        .collect();
    let _ = writeln!(out, "  sources = [{}]", sources.join(", "));
    for p in &t.provisioners {
        out.push('\n');
        write_provisioner(&mut out, "provisioner", p, &hcl_name);
    }
    for p in &t.error_cleanup_provisioners {
        out.push('\n');
        write_provisioner(&mut out, "error-cleanup-provisioner", p, &hcl_name);
    }
    for chain in &t.post_processors {
        out.push('\n');
        let nested = chain.len() > 1;
        let indent = if nested { 2 } else { 1 };
        if nested {
            out.push_str("  post-processors {\n");
        }
        for pp in chain {
            let pad = "  ".repeat(indent);
            let _ = writeln!(out, "{pad}post-processor {} {{", quote(&pp.kind));
            let mut meta = vec![];
            if let Some(n) = &pp.name {
                meta.push(("name".to_string(), quote(n)));
            }
            if let Some(k) = pp.keep_input_artifact {
                meta.push(("keep_input_artifact".into(), k.to_string()));
            }
            push_selection(&mut meta, &pp.only, &pp.except, &hcl_name);
            write_body_with(&mut out, indent + 1, &pp.config, meta);
            let _ = writeln!(out, "{pad}}}");
        }
        if nested {
            out.push_str("  }\n");
        }
    }
    out.push_str("}\n");
    out
}

fn push_selection(
    meta: &mut Vec<(String, String)>,
    only: &[String],
    except: &[String],
    hcl_name: &dyn Fn(&str) -> String,
) {
    for (key, list) in [("only", only), ("except", except)] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|n| quote(&hcl_name(n))).collect();
            meta.push((key.to_string(), format!("[{}]", names.join(", "))));
        }
    }
}

fn write_provisioner(
    out: &mut String,
    block: &str,
    p: &ProvisionerDef,
    hcl_name: &dyn Fn(&str) -> String,
) {
    let _ = writeln!(out, "  {block} {} {{", quote(&p.kind));
    let mut meta = vec![];
    push_selection(&mut meta, &p.only, &p.except, hcl_name);
    if let Some(d) = p.pause_before {
        meta.push(("pause_before".into(), quote(&go_duration(d))));
    }
    if p.max_retries > 0 {
        meta.push(("max_retries".into(), p.max_retries.to_string()));
    }
    if let Some(d) = p.timeout {
        meta.push(("timeout".into(), quote(&go_duration(d))));
    }
    write_body_with(out, 2, &p.config, meta);
    if !p.overrides.is_empty() {
        out.push_str("    override = {\n");
        for (name, v) in &p.overrides {
            let _ = writeln!(out, "      {} = {}", quote(&hcl_name(name)), expr(v, 3));
        }
        out.push_str("    }\n");
    }
    out.push_str("  }\n");
}

fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A body's members, sorted by key as Packer writes them: single-line attributes aligned in
/// runs, maps and lists of objects on their own lines, block options as nested blocks.
fn write_body(out: &mut String, indent: usize, v: &Value) {
    write_body_with(out, indent, v, vec![]);
}

/// [`write_body`], with attributes already written as HCL (`only`, `pause_before`, …) sorted
/// in among the others.
fn write_body_with(out: &mut String, indent: usize, v: &Value, extra: Vec<(String, String)>) {
    let mut entries: Vec<(String, Result<String, &Value>)> =
        extra.into_iter().map(|(k, t)| (k, Ok(t))).collect();
    for m in v.as_object().unwrap_or_default() {
        entries.push((m.key.clone(), Err(&m.value)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let pad = "  ".repeat(indent);
    let mut run: Vec<(String, String)> = vec![];
    for (key, entry) in entries {
        let value = match entry {
            Ok(text) => {
                run.push((key, text));
                continue;
            }
            Err(value) => value,
        };
        let m = crate::value::Member {
            key,
            key_span: None,
            value: value.clone(),
        };
        let blocks: Option<Vec<&Value>> = if BLOCK_OPTIONS.contains(&m.key.as_str()) {
            match &m.value.kind {
                Kind::Object(_) => Some(vec![&m.value]),
                Kind::Array(items) if items.iter().all(|i| i.as_object().is_some()) => {
                    Some(items.iter().collect())
                }
                _ => None,
            }
        } else {
            None
        };
        let text = expr(&m.value, indent);
        if blocks.is_none() && !text.contains('\n') {
            run.push((attr_key(&m.key), text));
            continue;
        }
        write_aligned(out, indent, &run);
        run.clear();
        match blocks {
            Some(bs) => {
                for b in bs {
                    let _ = writeln!(out, "{pad}{} {{", m.key);
                    write_body(out, indent + 1, b);
                    let _ = writeln!(out, "{pad}}}");
                }
            }
            None => {
                let _ = writeln!(out, "{pad}{} = {text}", attr_key(&m.key));
            }
        }
    }
    write_aligned(out, indent, &run);
}

fn write_aligned(out: &mut String, indent: usize, attrs: &[(String, String)]) {
    let width = attrs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let pad = "  ".repeat(indent);
    for (k, v) in attrs {
        let _ = writeln!(out, "{pad}{k:<width$} = {v}");
    }
}

/// A key as an attribute name, quoted in maps when it is not an identifier.
fn attr_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ident {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A value as an HCL expression; maps over several lines at `indent`.
fn expr(v: &Value, indent: usize) -> String {
    match &v.kind {
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        Kind::Number(n) => n.clone(),
        Kind::String(s) => string_expr(s),
        Kind::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| expr(i, indent)).collect();
            if parts.iter().any(|p| p.contains('\n')) {
                let pad = "  ".repeat(indent + 1);
                let mut s = String::from("[\n");
                for p in parts {
                    let _ = writeln!(s, "{pad}{p},");
                }
                let _ = write!(s, "{}]", "  ".repeat(indent));
                s
            } else {
                format!("[{}]", parts.join(", "))
            }
        }
        Kind::Object(members) => {
            if members.is_empty() {
                return "{}".into();
            }
            let mut members: Vec<_> = members.iter().collect();
            members.sort_by(|a, b| a.key.cmp(&b.key));
            let pairs: Vec<(String, String)> = members
                .iter()
                .map(|m| (attr_key(&m.key), expr(&m.value, indent + 1)))
                .collect();
            let mut s = String::from("{\n");
            write_aligned(&mut s, indent + 1, &pairs);
            let _ = write!(s, "{}}}", "  ".repeat(indent));
            s
        }
    }
}

/// A legacy template string as an HCL2 string: `{{user `x`}}` and `{{env `X`}}` become
/// `${var.x}` and `${env("X")}`; every other Go template action stays for the plugin to
/// render; `${` and `%{` in the text are escaped.
pub fn string_expr(s: &str) -> String {
    let re = regex_lite::Regex::new(r#"\{\{-?\s*(user|env)\s+(?:`([^`]*)`|"([^"]*)")\s*-?\}\}"#)
        .expect("valid");
    let mut out = String::from("\"");
    let mut last = 0;
    for c in re.captures_iter(s) {
        let m = c.get(0).expect("match");
        out.push_str(&escape(&s[last..m.start()]));
        let arg = c.get(2).or(c.get(3)).map(|a| a.as_str()).unwrap_or("");
        match c.get(1).map(|f| f.as_str()) {
            Some("user") if is_ident(arg) => {
                let _ = write!(out, "${{var.{arg}}}");
            }
            Some("user") => {
                let _ = write!(out, "${{var[{}]}}", quote(arg));
            }
            _ => {
                let _ = write!(out, "${{env({})}}", quote(arg));
            }
        }
        last = m.end();
    }
    out.push_str(&escape(&s[last..]));
    out.push('"');
    out
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Text inside an HCL string: quotes, backslashes and control characters escaped, and `${` /
/// `%{` doubled so they stay literal.
fn escape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A plain quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}
