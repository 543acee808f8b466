//! HCL's JSON syntax: `*.pkr.json` templates and `*.pkrvars.json` variable files, read as
//! Packer reads them (HCL's JSON specification against Packer's schema). The JSON is written
//! out as the native syntax it stands for, which the rest of the front end reads as it reads
//! a `.pkr.hcl` file; every position in that text maps back to the JSON, so an error points
//! into the file as written.
//!
//! Which properties are blocks is Packer's schema: `source`, `build`, `variable`, … at the
//! top, `provisioner`, `post-processor`, … in a build, `dynamic` in a plugin's body. A
//! plugin's own blocks (a builder's `launch_block_device_mappings`) are read as arguments
//! holding an object or a list of objects, which a plugin's configuration reads as it reads
//! the blocks; a block given more than once is one list. Strings are templates
//! (`"${var.region}"`) except where Packer reads them literally (descriptions, values in
//! variable files, `required_version`); a variable's `type` and a dynamic block's
//! `iterator` are expressions written in a string. A `"//"` property in a body is a comment.

use crate::diag::Diagnostic;
use crate::source::{Anchor, Origin, Source, Span};
use crate::value::{Kind, Member, Value};
use std::sync::Arc;

/// What a JSON file holds.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Doc {
    /// A template (`*.pkr.json`).
    Template,
    /// Variable values (`*.pkrvars.json`).
    VarFile,
}

impl Doc {
    /// What a file of this name holds.
    pub(crate) fn of(name: &str) -> Doc {
        if name.ends_with(".pkrvars.json") {
            Doc::VarFile
        } else {
            Doc::Template
        }
    }
}

/// How a string is read.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// As a template: `${…}` and `%{…}` are evaluated.
    Template,
    /// Literally, as written.
    Literal,
    /// As an expression written in a string (`"list(string)"`).
    Expression,
}

/// The bodies Packer's schema knows.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Body {
    Root,
    VarFile,
    Packer,
    Variable,
    Validation,
    /// Every property an argument (`locals`, `variables`, `required_plugins`).
    Arguments,
    Local,
    /// A plugin's configuration: a source, a provisioner, a data source.
    Plugin,
    /// A post-processor's: its `name`, `only`, `except` and `keep_input_artifact` are read
    /// literally.
    PostProcessor,
    /// A build's `source` block: its `name` is read literally.
    BuildSource,
    Build,
    PostProcessors,
    Dynamic,
}

/// What a property of a body is.
enum Item {
    /// Blocks with this many labels, and the kind of their bodies.
    Block(usize, Body),
    /// An argument, its strings read so.
    Argument(Mode),
}

/// What `key` is in a body of `kind`; `None` for what the top level does not take.
fn schema(kind: Body, key: &str) -> Option<Item> {
    use Body as B;
    use Item::{Argument, Block};
    Some(match (kind, key) {
        (B::Root, "packer") => Block(0, B::Packer),
        (B::Root, "variable") => Block(1, B::Variable),
        (B::Root, "variables" | "locals") => Block(0, B::Arguments),
        (B::Root, "local") => Block(1, B::Local),
        (B::Root, "source" | "data") => Block(2, B::Plugin),
        (B::Root, "build") => Block(0, B::Build),
        (B::Root, _) => return None,
        (B::VarFile, _) => Argument(Mode::Literal),
        (B::Packer, "required_plugins") => Block(0, B::Arguments),
        (B::Packer, "required_version") => Argument(Mode::Literal),
        (B::Variable, "validation") => Block(0, B::Validation),
        (B::Variable, "type") => Argument(Mode::Expression),
        (B::Variable, "description" | "sensitive") => Argument(Mode::Literal),
        (B::Validation, "error_message") => Argument(Mode::Literal),
        (B::Local, "sensitive") => Argument(Mode::Literal),
        (B::Build, "name" | "description" | "sources") => Argument(Mode::Literal),
        (B::Build, "source") => Block(1, B::BuildSource),
        (B::Build, "provisioner" | "error-cleanup-provisioner") => Block(1, B::Plugin),
        (B::Build | B::PostProcessors, "post-processor") => Block(1, B::PostProcessor),
        (B::Build, "post-processors") => Block(0, B::PostProcessors),
        (B::PostProcessor, "name" | "only" | "except" | "keep_input_artifact")
        | (B::BuildSource, "name") => Argument(Mode::Literal),
        (B::Plugin | B::PostProcessor | B::BuildSource, "dynamic") => Block(1, B::Dynamic),
        (B::Dynamic, "content") => Block(0, B::Plugin),
        (B::Dynamic, "iterator") => Argument(Mode::Expression),
        _ => Argument(Mode::Template),
    })
}

/// Reads `json` (the file's text, as a [`Source`]) as HCL's JSON syntax: the native text it
/// stands for, as a source whose positions are shown in the JSON.
pub(crate) fn convert(json: &Arc<Source>, doc: Doc) -> Result<Arc<Source>, Diagnostic> {
    let v = crate::json::parse_keeping_duplicates(json)?;
    let mut g = Gen {
        json,
        out: String::new(),
        anchors: vec![],
        errs: vec![],
        plugin_argument: false,
    };
    let root = match doc {
        Doc::Template => Body::Root,
        Doc::VarFile => Body::VarFile,
    };
    g.body(&v, root, 0);
    if let Some(e) = g.errs.into_iter().next() {
        return Err(e);
    }
    Ok(Source::new_made(
        json.name.clone(),
        g.out,
        Origin {
            text: json.text.clone(),
            anchors: g.anchors,
        },
    ))
}

/// Where a template string's scanner is, inside out.
enum Frame {
    /// In an interpolation or a directive, this many braces deep.
    Expr(usize),
    /// In a quoted string inside one.
    Str,
}

/// The native text being written, and where each part of it comes from.
struct Gen<'a> {
    json: &'a Arc<Source>,
    out: String,
    anchors: Vec<Anchor>,
    errs: Vec<Diagnostic>,
    /// Writing the value of a plugin's argument, whose objects may be its blocks: their
    /// `"//"` properties are comments.
    plugin_argument: bool,
}

/// Whether a value may stand for blocks: an object, or a list of objects.
fn block_like(v: &Value) -> bool {
    match &v.kind {
        Kind::Object(_) => true,
        Kind::Array(items) => items.iter().all(|i| matches!(i.kind, Kind::Object(_))),
        _ => false,
    }
}

/// Where a value starts in the JSON (every value the parser makes has a span).
fn start(v: &Value) -> usize {
    v.span.as_ref().map_or(0, |s| s.start)
}

fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The characters of a JSON string's content (`raw`, validated by the parser, found at byte
/// `base` of the file), each with the offset it is written at.
fn decode(raw: &str, base: usize) -> Vec<(char, usize)> {
    let b = raw.as_bytes();
    let hex = |at: usize| {
        raw.get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        let at = base + i;
        if b[i] != b'\\' {
            let c = raw[i..].chars().next().expect("in bounds");
            out.push((c, at));
            i += c.len_utf8();
            continue;
        }
        let e = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let c = match e {
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hi = hex(i).unwrap_or(0xFFFD);
                i += 4;
                let lo = (0xD800..0xDC00)
                    .contains(&hi)
                    .then(|| raw.get(i..i + 2) == Some("\\u"))
                    .filter(|x| *x)
                    .and_then(|_| hex(i + 2))
                    .filter(|lo| (0xDC00..0xE000).contains(lo));
                match lo {
                    Some(lo) => {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            .unwrap_or('\u{FFFD}')
                    }
                    None => char::from_u32(hi).unwrap_or('\u{FFFD}'),
                }
            }
            other => other as char,
        };
        out.push((c, at));
    }
    out
}

/// `c` in the text of a native quoted string.
fn escaped(c: char) -> String {
    match c {
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x20 || c == '\u{7f}' => format!("\\u{:04X}", c as u32),
        c => c.to_string(),
    }
}

impl Gen<'_> {
    /// Writes `text`, which comes from `from` on, byte for byte.
    fn mapped(&mut self, from: usize, text: &str) {
        self.anchors.push(Anchor {
            made: self.out.len(),
            from,
            len: text.len(),
        });
        self.out.push_str(text);
    }

    /// What is written next stands for `from`.
    fn at(&mut self, from: usize) {
        self.anchors.push(Anchor {
            made: self.out.len(),
            from,
            len: 0,
        });
    }

    fn push(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn error(&mut self, span: Option<&Span>, message: String) {
        self.errs.push(Diagnostic::at(span, message));
    }

    /// Where a key's text starts (after its quote).
    fn key_at(m: &Member) -> usize {
        m.key_span.as_ref().map_or(0, |s| s.start + 1)
    }

    fn body(&mut self, v: &Value, kind: Body, depth: usize) {
        let Kind::Object(members) = &v.kind else {
            let what = if kind == Body::Root || kind == Body::VarFile {
                "the file"
            } else {
                "a block's body"
            };
            self.error(
                v.span.as_ref(),
                format!("{what} must be a JSON object, not {}", v.type_name()),
            );
            return;
        };
        let mut done = vec![false; members.len()];
        // A plugin's block that is also made by a `dynamic` block: written as blocks, which
        // the dynamic ones join.
        let plugin = matches!(kind, Body::Plugin | Body::PostProcessor | Body::BuildSource);
        let dynamic: Vec<&str> = match plugin {
            true => members
                .iter()
                .filter(|m| m.key == "dynamic")
                .flat_map(|m| match &m.value.kind {
                    Kind::Object(ls) => ls.iter().map(|l| l.key.as_str()).collect(),
                    Kind::Array(items) => items
                        .iter()
                        .flat_map(|o| o.as_object().unwrap_or_default())
                        .map(|l| l.key.as_str())
                        .collect(),
                    _ => vec![],
                })
                .collect(),
            false => vec![],
        };
        for (i, m) in members.iter().enumerate() {
            if m.key == "//" || done[i] {
                continue;
            }
            match schema(kind, &m.key) {
                None => {
                    let e = Diagnostic::at(
                        m.key_span.as_ref(),
                        format!("unsupported block \"{}\" here", m.key),
                    );
                    let e = match crate::decode::nearest(&m.key, super::TOP_BLOCKS.iter().copied())
                    {
                        Some(n) => e.with_hint(format!("did you mean \"{n}\"?")),
                        None => e.with_hint(format!(
                            "expected one of: {}",
                            super::TOP_BLOCKS.join(", ")
                        )),
                    };
                    self.errs.push(e);
                }
                Some(Item::Block(labels, child)) => {
                    self.blocks(m, &m.value, labels, &mut vec![], child, depth)
                }
                Some(Item::Argument(_)) if dynamic.contains(&m.key.as_str()) => {
                    self.blocks(m, &m.value, 0, &mut vec![], Body::Plugin, depth)
                }
                Some(Item::Argument(mode)) => {
                    // A plugin's block given more than once: one list of them all. Anything
                    // else given twice is written twice, for the parser to refuse.
                    let mut values = vec![&m.value];
                    let again: Vec<usize> = (i + 1..members.len())
                        .filter(|&j| members[j].key == m.key)
                        .collect();
                    let blocks = || {
                        std::iter::once(m)
                            .chain(again.iter().map(|&j| &members[j]))
                            .all(|o| block_like(&o.value))
                    };
                    if plugin && !again.is_empty() && blocks() {
                        for &j in &again {
                            done[j] = true;
                            values.push(&members[j].value);
                        }
                    }
                    self.plugin_argument = plugin;
                    self.argument(m, &values, mode, depth);
                    self.plugin_argument = false;
                }
            }
        }
    }

    fn argument(&mut self, m: &Member, values: &[&Value], mode: Mode, depth: usize) {
        if !is_identifier(&m.key) {
            self.error(
                m.key_span.as_ref(),
                format!(
                    "\"{}\" is not a valid argument name: a name starts with a letter and holds letters, digits, underscores and dashes",
                    m.key
                ),
            );
            return;
        }
        self.indent(depth);
        self.mapped(Self::key_at(m), &m.key);
        self.push(" = ");
        match values {
            [one] => self.expr(one, mode, depth),
            many => {
                self.at(start(many[0]));
                self.push("[");
                let mut first = true;
                for v in many {
                    let items = match &v.kind {
                        Kind::Array(items) => items.iter().collect(),
                        _ => vec![*v],
                    };
                    for item in items {
                        if !first {
                            self.push(", ");
                        }
                        first = false;
                        self.expr(item, mode, depth);
                    }
                }
                self.push("]");
            }
        }
        self.push("\n");
    }

    /// The blocks one property defines: `labels` more levels of labels, then a body or a
    /// list of bodies.
    fn blocks(
        &mut self,
        m: &Member,
        v: &Value,
        labels: usize,
        got: &mut Vec<(String, usize)>,
        child: Body,
        depth: usize,
    ) {
        let objects: Vec<&Value> = match &v.kind {
            Kind::Object(_) => vec![v],
            Kind::Array(items) => items.iter().collect(),
            _ => vec![v],
        };
        for o in objects {
            if labels == 0 && matches!(o.kind, Kind::Null) {
                // A null body is no block, as in HCL.
                continue;
            }
            let Kind::Object(members) = &o.kind else {
                let what = if labels == 0 {
                    "its body".to_string()
                } else {
                    format!("its {} label{}", labels, if labels == 1 { "" } else { "s" })
                };
                self.error(
                    o.span.as_ref(),
                    format!(
                        "a \"{}\" block is a JSON object holding {what}, not {}",
                        m.key,
                        o.type_name()
                    ),
                );
                continue;
            };
            if labels == 0 {
                self.block(m, got, o, child, depth);
                continue;
            }
            if members.is_empty() {
                self.error(
                    o.span.as_ref(),
                    format!(
                        "Missing block label: a \"{}\" block needs {labels} more label{}",
                        m.key,
                        if labels == 1 { "" } else { "s" }
                    ),
                );
            }
            for l in members {
                got.push((l.key.clone(), l.key_span.as_ref().map_or(0, |s| s.start)));
                self.blocks(m, &l.value, labels - 1, got, child, depth);
                got.pop();
            }
        }
    }

    fn block(
        &mut self,
        m: &Member,
        labels: &[(String, usize)],
        body: &Value,
        child: Body,
        depth: usize,
    ) {
        self.indent(depth);
        self.mapped(Self::key_at(m), &m.key);
        for (l, at) in labels {
            self.push(" ");
            self.at(*at);
            self.push("\"");
            for c in l.chars() {
                self.push(&escaped(c));
            }
            self.push("\"");
        }
        self.at(start(body));
        self.push(" {\n");
        self.body(body, child, depth + 1);
        self.indent(depth);
        self.push("}\n");
    }

    fn expr(&mut self, v: &Value, mode: Mode, depth: usize) {
        let at = start(v);
        if mode == Mode::Expression {
            match &v.kind {
                Kind::String(s) => self.expression(v, s),
                _ => self.error(
                    v.span.as_ref(),
                    format!(
                        "expected an expression written as a string, such as \"list(string)\", not {}",
                        v.type_name()
                    ),
                ),
            }
            return;
        }
        match &v.kind {
            Kind::Null => self.mapped(at, "null"),
            Kind::Bool(b) => self.mapped(at, if *b { "true" } else { "false" }),
            Kind::Number(n) => self.mapped(at, n),
            Kind::String(_) => {
                if let Some(span) = v.span.clone() {
                    self.string(&span, mode);
                }
            }
            Kind::Array(items) => {
                self.at(at);
                self.push("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.expr(item, mode, depth);
                }
                self.push("]");
            }
            Kind::Object(members) => {
                self.at(at);
                self.push("{\n");
                for (i, m) in members.iter().enumerate() {
                    if self.plugin_argument && m.key == "//" {
                        continue;
                    }
                    if let Some(first) = members[..i].iter().find(|o| o.key == m.key) {
                        let (l, c) = first.key_span.as_ref().map_or((0, 0), Span::line_col);
                        self.error(
                            m.key_span.as_ref(),
                            format!(
                                "duplicate key \"{}\" (first defined at line {l}, column {c})",
                                m.key
                            ),
                        );
                        continue;
                    }
                    self.indent(depth + 1);
                    if let Some(span) = m.key_span.clone() {
                        self.string(&span, mode);
                    }
                    self.push(" = ");
                    self.expr(&m.value, mode, depth + 1);
                    self.push("\n");
                }
                self.indent(depth);
                self.push("}");
            }
        }
    }

    /// A JSON string (at `span`, quotes included) as a native quoted string that reads the
    /// same: a template, or literal text.
    fn string(&mut self, span: &Span, mode: Mode) {
        let (open, close) = (span.start, span.end.saturating_sub(1).max(span.start + 1));
        let chars = decode(&self.json.text[open + 1..close], open + 1);
        self.mapped(open, "\"");
        let mut stack: Vec<Frame> = vec![];
        let mut i = 0;
        while i < chars.len() {
            let (c, at) = chars[i];
            let next = chars.get(i + 1).map(|x| x.0);
            let next2 = chars.get(i + 2).map(|x| x.0);
            let sequence = c == '$' || c == '%';
            match stack.last_mut() {
                Some(Frame::Expr(braces)) => {
                    match c {
                        '{' => *braces += 1,
                        '}' if *braces == 0 => {
                            stack.pop();
                        }
                        '}' => *braces -= 1,
                        '"' => stack.push(Frame::Str),
                        _ => {}
                    }
                    // An expression may span lines, as in a native quoted string.
                    self.mapped(at, c.encode_utf8(&mut [0; 4]));
                }
                top => {
                    let quoted = top.is_some();
                    if mode == Mode::Literal {
                        let text = if sequence && next == Some('{') {
                            format!("{c}{c}")
                        } else {
                            escaped(c)
                        };
                        self.mapped(at, &text);
                    } else if sequence && next == Some(c) && next2 == Some('{') {
                        // `$${` and `%%{`: the template's own escapes, kept.
                        self.mapped(at, &format!("{c}{c}{{"));
                        i += 3;
                        continue;
                    } else if sequence && next == Some('{') {
                        self.mapped(at, &format!("{c}{{"));
                        stack.push(Frame::Expr(0));
                        i += 2;
                        continue;
                    } else if quoted && (c == '\n' || c == '\r') {
                        // A string inside an expression split over lines: written as it is,
                        // for the check after parsing to refuse as Packer does.
                        self.mapped(at, c.encode_utf8(&mut [0; 4]));
                    } else if quoted && c == '"' {
                        stack.pop();
                        self.mapped(at, "\"");
                    } else if quoted && c == '\\' {
                        // An escape in a string inside an expression, kept as written.
                        let mut text = String::from('\\');
                        if let Some(n) = next {
                            text.push(n);
                        }
                        self.mapped(at, &text);
                        i += 2;
                        continue;
                    } else {
                        self.mapped(at, &escaped(c));
                    }
                }
            }
            i += 1;
        }
        self.mapped(close, "\"");
    }

    /// An expression written in a JSON string: its text, checked to be one expression.
    fn expression(&mut self, v: &Value, text: &str) {
        if let Err(e) = hcl_edit::parser::parse_expr(text) {
            self.error(
                v.span.as_ref(),
                format!("invalid expression \"{text}\": {}", e.message()),
            );
            return;
        }
        let Some(span) = v.span.clone() else {
            return;
        };
        let chars = decode(
            &self.json.text[span.start + 1..span.end - 1],
            span.start + 1,
        );
        for (c, at) in chars {
            self.mapped(at, c.encode_utf8(&mut [0; 4]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(json: &str, doc: Doc) -> Result<String, String> {
        let src = Source::new("t.pkr.json", json);
        convert(&src, doc)
            .map(|s| s.text.clone())
            .map_err(|d| d.to_string())
    }

    #[test]
    fn blocks_follow_packers_schema_and_plugin_blocks_are_arguments() {
        let t = native(
            r#"{
  "//": "a comment",
  "variable": {"region": {"type": "string", "default": "us-east-1", "description": "${not read}"}},
  "source": {"amazon-ebs": {"a": {"region": "${var.region}", "tags": {"Name": "x"},
                                  "launch_block_device_mappings": {"device_name": "/dev/sda1"},
                                  "launch_block_device_mappings": {"device_name": "/dev/sdb"}}},
             "null": [{"b": {"communicator": "none"}}]},
  "build": [{"sources": ["source.amazon-ebs.a"],
             "provisioner": [{"shell": {"inline": ["echo \"${build.ID}\" \\ \n"]}}],
             "post-processors": [{"post-processor": {"manifest": {}}}]}]
}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(
            t,
            r#"variable "region" {
  type = string
  default = "us-east-1"
  description = "$${not read}"
}
source "amazon-ebs" "a" {
  region = "${var.region}"
  tags = {
    "Name" = "x"
  }
  launch_block_device_mappings = [{
    "device_name" = "/dev/sda1"
  }, {
    "device_name" = "/dev/sdb"
  }]
}
source "null" "b" {
  communicator = "none"
}
build {
  sources = ["source.amazon-ebs.a"]
  provisioner "shell" {
    inline = ["echo \"${build.ID}\" \\ \n"]
  }
  post-processors {
    post-processor "manifest" {
    }
  }
}
"#
        );
    }

    #[test]
    fn quotes_inside_an_interpolation_stay_quotes() {
        let t = native(
            r#"{"locals": {"a": "${upper(\"x${\"y\"}\")} \"q\" $${lit} %%{lit}", "b": "${ {a = 1}.a }"}}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(
            t,
            "locals {\n  a = \"${upper(\"x${\"y\"}\")} \\\"q\\\" $${lit} %%{lit}\"\n  b = \"${ {a = 1}.a }\"\n}\n"
        );
    }

    #[test]
    fn var_files_are_literal() {
        let t = native(
            r#"{"a": "${x} %{y} $${z}", "n": 1.5e3, "l": [true, null]}"#,
            Doc::VarFile,
        )
        .unwrap();
        assert_eq!(
            t,
            "a = \"$${x} %%{y} $$${z}\"\nn = 1.5e3\nl = [true, null]\n"
        );
    }

    #[test]
    fn errors_point_into_the_json() {
        let e = native("{\n  \"sorce\": {}\n}", Doc::Template).unwrap_err();
        assert!(
            e.starts_with("t.pkr.json:2:3: unsupported block \"sorce\""),
            "{e}"
        );
        assert!(e.contains("did you mean \"source\"?"), "{e}");
        let e = native(
            "{\"variable\": {\"a\": {\"type\": \"list(\"}}}",
            Doc::Template,
        )
        .unwrap_err();
        assert!(
            e.starts_with("t.pkr.json:1:29: invalid expression \"list(\""),
            "{e}"
        );
        let e = native("{\"build\": \"x\"}", Doc::Template).unwrap_err();
        assert!(
            e.contains("1:11: a \"build\" block is a JSON object holding its body, not a string"),
            "{e}"
        );
        let e = native("{\"locals\": {\"a b\": 1}}", Doc::Template).unwrap_err();
        assert!(
            e.contains("1:13: \"a b\" is not a valid argument name"),
            "{e}"
        );
        let e = native("{\"locals\": {\"a\": {\"k\": 1, \"k\": 2}}}", Doc::Template).unwrap_err();
        assert!(
            e.contains("1:27: duplicate key \"k\" (first defined at line 1, column 19)"),
            "{e}"
        );
        // The JSON itself: the parser's own message and place.
        let e = native("{\"locals\": {\"a\": 1 \"b\": 2}}", Doc::Template).unwrap_err();
        assert!(e.starts_with("t.pkr.json:1:"), "{e}");
    }

    #[test]
    fn packers_odd_corners_read_as_packer_reads_them() {
        // An expression spans lines as it may in native syntax (a comment, a heredoc); a
        // string inside one may not.
        let t = native(
            r#"{"locals": {"a": "${ 1 # c\n }", "b": "${<<EOT\nhi\nEOT\n}"}}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(
            t,
            "locals {\n  a = \"${ 1 # c\n }\"\n  b = \"${<<EOT\nhi\nEOT\n}\"\n}\n"
        );
        let src = Source::new("t.pkr.json", r#"{"locals": {"b": "${\"x\ny\"}"}}"#);
        let made = convert(&src, Doc::Template).unwrap();
        let e = super::super::parse_source(&made).unwrap_err().to_string();
        assert!(
            e.contains("1:24: invalid HCL: Invalid multi-line string"),
            "{e}"
        );
        // A plugin's argument given twice is written twice (the parser refuses it); blocks
        // given twice are one list, and their "//" properties are comments.
        let t = native(
            r#"{"source": {"null": {"x": {"a": 1, "a": 2,
                "m": {"//": "first", "n": 1}, "m": [{"n": 2}]}}}}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(
            t,
            "source \"null\" \"x\" {\n  a = 1\n  a = 2\n  m = [{\n    \"n\" = 1\n  }, {\n    \"n\" = 2\n  }]\n}\n"
        );
        // A null body is no block; a level of labels with none is an error.
        let t = native(
            r#"{"source": {"null": {"x": null}}, "build": {"provisioner": {"shell": null}}}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(t, "build {\n}\n");
        let e = native(r#"{"variable": {}}"#, Doc::Template).unwrap_err();
        assert!(e.contains("1:14: Missing block label"), "{e}");
        // What Packer decodes without a context is literal: a post-processor's name, a build
        // source block's name, a build's sources.
        let t = native(
            r#"{"build": {"sources": ["${x}"], "source": {"null.x": {"name": "${y}"}},
                "post-processor": {"manifest": {"name": "${z}", "output": "${w}"}}}}"#,
            Doc::Template,
        )
        .unwrap();
        assert_eq!(
            t,
            "build {\n  sources = [\"$${x}\"]\n  source \"null.x\" {\n    name = \"$${y}\"\n  }\n  post-processor \"manifest\" {\n    name = \"$${z}\"\n    output = \"${w}\"\n  }\n}\n"
        );
    }

    #[test]
    fn positions_in_the_made_text_map_back() {
        let json = "{\n  \"locals\": {\n    \"a\": \"x\\ty ${nope(}\"\n  }\n}\n";
        let src = Source::new("t.pkr.json", json);
        let made = convert(&src, Doc::Template).unwrap();
        // `nope` in the made text is `nope` in the JSON: line 3, after `"a": "x\ty ${`, column 18.
        let at = made.text.find("nope").unwrap();
        assert_eq!(made.line_col(at), (3, 18));
        assert_eq!(made.line_text(3), "    \"a\": \"x\\ty ${nope(}\"");
    }
}
