//! `hcl2_upgrade`: a legacy JSON template written as an HCL2 template that builds the same
//! thing, in the layout Packer's own `hcl2_upgrade` uses (variables, sources, one build
//! block). Where Packer 1.6.6's upgrade loses or changes parts of a
//! template (`pause_before`, `override`, `max_retries` as a string, `only` naming builds by
//! their legacy names, blocks with `{{ .Vars }}` left unconverted, `{{timestamp}}` turned
//! into another format, unnamed builders renamed so that
//! `{{build_name}}` changes), this one keeps them: the result builds the same thing.

use crate::ir::{ProvisionerDef, Template};
use crate::value::{Kind, Value};
use regex_lite::Regex;
use std::fmt::Write;
use std::sync::LazyLock;
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
    let cx = &Cx::new(t);
    let mut vars = t.variables.clone();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    let mut derived = vec![];
    for v in &vars {
        let mut attrs = vec![("type".to_string(), "string".to_string())];
        match &v.default {
            // A variable default cannot use other variables in HCL2: the variable defaults to
            // null and a local of the same name gives the legacy default when it is not set.
            Some(d) if cx.derived.contains(&v.name) => {
                attrs.push(("default".into(), "null".into()));
                derived.push((v.name.clone(), cx.string(d)));
            }
            Some(d) => attrs.push(("default".into(), cx.string(d))),
            None => {}
        }
        if t.sensitive.contains(&v.name) {
            attrs.push(("sensitive".into(), "true".into()));
        }
        let _ = writeln!(out, "variable {} {{", quote(&v.name));
        write_aligned(&mut out, 1, &attrs);
        out.push_str("}\n\n");
    }
    if !derived.is_empty() {
        out.push_str("# Variables whose legacy defaults use other variables.\nlocals {\n");
        let lines: Vec<(String, String)> = derived
            .into_iter()
            .map(|(name, default)| {
                let var = var_ref(&name);
                (
                    attr_key(&name),
                    format!("{var} != null ? {var} : {default}"),
                )
            })
            .collect();
        write_aligned(&mut out, 1, &lines);
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
        write_body(&mut out, 1, &b.config, cx);
        out.push_str("}\n\n");
    }
    out.push_str("build {\n");
    if let Some(d) = &t.description {
        let _ = writeln!(out, "  description = {}\n", cx.string(d));
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
        write_provisioner(&mut out, "provisioner", p, &hcl_name, cx);
    }
    for p in &t.error_cleanup_provisioners {
        out.push('\n');
        write_provisioner(&mut out, "error-cleanup-provisioner", p, &hcl_name, cx);
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
            write_body_with(&mut out, indent + 1, &pp.config, meta, cx);
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
    cx: &Cx,
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
    write_body_with(out, 2, &p.config, meta, cx);
    if !p.overrides.is_empty() {
        out.push_str("    override = {\n");
        for (name, v) in &p.overrides {
            let _ = writeln!(out, "      {} = {}", quote(&hcl_name(name)), expr(v, 3, cx));
        }
        out.push_str("    }\n");
    }
    out.push_str("  }\n");
}

fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// A body's members, sorted by key as Packer writes them: single-line attributes aligned in
/// runs, maps and lists of objects on their own lines, block options as nested blocks.
fn write_body(out: &mut String, indent: usize, v: &Value, cx: &Cx) {
    write_body_with(out, indent, v, vec![], cx);
}

/// [`write_body`], with attributes already written as HCL (`only`, `pause_before`, …) sorted
/// in among the others.
fn write_body_with(
    out: &mut String,
    indent: usize,
    v: &Value,
    extra: Vec<(String, String)>,
    cx: &Cx,
) {
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
        let text = expr(&m.value, indent, cx);
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
                    write_body(out, indent + 1, b, cx);
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
    let keyword = matches!(k, "null" | "true" | "false" | "for" | "in" | "if");
    if !keyword && is_ident(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A value as an HCL expression; maps over several lines at `indent`.
fn expr(v: &Value, indent: usize, cx: &Cx) -> String {
    match &v.kind {
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        // A number HCL would write differently (1.50, 1.0) stays as written, in quotes: weak
        // typing reads it as a number where one is wanted.
        Kind::Number(n) => match n.parse::<f64>() {
            Ok(f) if super::funcs::format_number(f) == *n => n.clone(),
            _ => quote(n),
        },
        Kind::String(s) => cx.string(s),
        Kind::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| expr(i, indent, cx)).collect();
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
                .map(|m| (attr_key(&m.key), expr(&m.value, indent + 1, cx)))
                .collect();
            let mut s = String::from("{\n");
            write_aligned(&mut s, indent + 1, &pairs);
            let _ = write!(s, "{}}}", "  ".repeat(indent));
            s
        }
    }
}

/// What a conversion needs to know about the whole template: the variables whose defaults
/// use other variables (they are read through locals of the same name).
struct Cx {
    derived: Vec<String>,
}

impl Cx {
    fn new(t: &Template) -> Cx {
        let derived = t
            .variables
            .iter()
            .filter(|v| {
                v.default
                    .as_deref()
                    .is_some_and(|d| user_call().captures_iter(d).any(|c| &c[1] == "user"))
            })
            .map(|v| v.name.clone())
            .collect();
        Cx { derived }
    }

    /// An HCL2 reference to legacy variable `name`.
    fn user(&self, name: &str) -> String {
        if self.derived.iter().any(|d| d == name) {
            if is_ident(name) {
                format!("local.{name}")
            } else {
                format!("local[{}]", quote(name))
            }
        } else {
            var_ref(name)
        }
    }

    /// A legacy template string as an HCL2 string expression.
    ///
    /// An action that is only `{{user `x`}}` or `{{env `X`}}` becomes `${var.x}` or
    /// `${env("X")}` (`{{-` and `-}}` becoming `${~` and `~}`). In any other action (pipes,
    /// nested calls such as `{{ lower (user `x`) }}`) each such call becomes a Go raw string
    /// holding the HCL2 value, and the action stays for the plugin to render, as do all other
    /// actions (`{{ .Vars }}`, `{{timestamp}}`). `${` and `%{` in the text are escaped.
    fn string(&self, s: &str) -> String {
        static ACTION: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?s)\{\{.*?\}\}").expect("valid"));
        static WHOLE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r#"^\{\{(-?)\s*(user|env)\s*(?:`([^`]*)`|"([^"]*)")\s*(-?)\}\}$"#)
                .expect("valid")
        });
        let (action, whole) = (&*ACTION, &*WHOLE);
        let mut out = String::from("\"");
        let mut last = 0;
        for m in action.find_iter(s) {
            push_literal(&mut out, &s[last..m.start()]);
            let a = m.as_str();
            if let Some(c) = whole.captures(a) {
                let arg = c.get(3).or(c.get(4)).map_or("", |x| x.as_str());
                let value = match &c[2] {
                    "user" => self.user(arg),
                    _ => format!("env({})", quote(arg)),
                };
                let open = if &c[1] == "-" { "${~ " } else { "${" };
                let close = if &c[5] == "-" { " ~}" } else { "}" };
                out.push_str(&format!("{open}{value}{close}"));
            } else {
                let mut rest = 0;
                for c in user_call().captures_iter(a) {
                    let call = c.get(0).expect("match");
                    out.push_str(&escape(&a[rest..call.start()]));
                    let arg = c.get(2).or(c.get(3)).map_or("", |x| x.as_str());
                    let value = match &c[1] {
                        "user" => self.user(arg),
                        _ => format!("env({})", quote(arg)),
                    };
                    out.push_str(&format!("`${{{value}}}`"));
                    rest = call.end();
                }
                out.push_str(&escape(&a[rest..]));
            }
            last = m.end();
        }
        push_literal(&mut out, &s[last..]);
        out.push('"');
        out
    }
}

/// `user `x`` or `env `X`` inside a Go template action.
fn user_call() -> &'static Regex {
    static CALL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\b(user|env)\s*(?:`([^`]*)`|"([^"]*)")"#).expect("valid"));
    &CALL
}

/// Literal text before an interpolation: escaped, with the `$`s it ends in written as
/// `${"$"}` so that they do not join the `${` that follows into `$${`.
fn push_literal(out: &mut String, text: &str) {
    let escaped = escape(text);
    let head = escaped.trim_end_matches('$');
    out.push_str(head);
    let dollars = escaped.len() - head.len();
    if dollars > 0 {
        let _ = write!(out, "${{\"{}\"}}", "$".repeat(dollars));
    }
}

fn var_ref(name: &str) -> String {
    if is_ident(name) {
        format!("var.{name}")
    } else {
        format!("var[{}]", quote(name))
    }
}

/// A legacy template string as an HCL2 string, for a template whose variable defaults use no
/// other variables.
pub fn string_expr(s: &str) -> String {
    Cx { derived: vec![] }.string(s)
}

pub(crate) fn is_ident(s: &str) -> bool {
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
