//! `yamldecode` and `yamlencode` as Packer's (go-cty-yaml's) read and write YAML.
//!
//! Reading resolves scalars by YAML 1.1's rules as go-cty-yaml does (`yes`/`on`/`y` are true,
//! `~` is null, `1_000` is a number, timestamps become RFC 3339 strings, `0x1F` stays a
//! string), takes anchors, aliases and `<<` merges, and refuses more than one document,
//! unsupported tags and keys that are not strings.
//!
//! Writing is libyaml's block style as go-cty-yaml drives it: every string double-quoted (or
//! a literal block when it holds a line break and may be one), maps by key, sequences in maps
//! not indented, empty collections as `[]` and `{}`, long double-quoted lines folded at
//! spaces past column 80, and `...` after a document that is a bare number, bool or null.

use crate::value::{Kind, Member, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// `text` as a value.
pub fn decode(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Err("on line 1, column 1: missing start of document".into());
    }
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut r = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        pending: vec![],
    };
    let at = |m: &Marker| format!("on line {}, column {}", m.line(), m.col() + 1);
    let (ev, m) = r.next()?;
    if ev != Event::StreamStart {
        return Err(format!("{}: missing stream start token", at(&m)));
    }
    let (ev, m) = r.next()?;
    if ev != Event::DocumentStart {
        return Err(format!("{}: missing start of document", at(&m)));
    }
    let v = r.node()?;
    let (ev, m) = r.next()?;
    if ev != Event::DocumentEnd {
        return Err(format!("{}: unexpected extra content after value", at(&m)));
    }
    let (ev, m) = r.next()?;
    if ev != Event::StreamEnd {
        return Err(format!("{}: unexpected extra content after value", at(&m)));
    }
    Ok(v)
}

struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    /// Completed anchors by id.
    anchors: HashMap<usize, Value>,
    /// Anchors being defined (an alias to one is refused).
    pending: Vec<usize>,
}

/// What a scalar resolves to: a value, or a `<<` merge key.
enum Scalar {
    Value(Value),
    Merge,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), String> {
        self.parser.next_token().map_err(|e| {
            format!(
                "on line {}, column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })
    }

    fn node(&mut self) -> Result<Value, String> {
        let (ev, _) = self.next()?;
        self.node_from(ev)
    }

    fn node_from(&mut self, ev: Event) -> Result<Value, String> {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = match resolve(&long_tag(tag.as_ref()), &text, style)? {
                    Scalar::Value(v) => v,
                    Scalar::Merge => Value::string("<<"),
                };
                self.anchor(anchor, &v);
                Ok(v)
            }
            Event::Alias(id) => {
                if self.pending.contains(&id) {
                    return Err("cannot refer to an anchor from inside its own definition".into());
                }
                self.anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| "reference to an undefined anchor".into())
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = long_tag(tag.as_ref());
                if !tag.is_empty() && tag != format!("{TAG_PREFIX}seq") {
                    return Err(format!("can't interpret sequence as {}", short_tag(&tag)));
                }
                self.begin(anchor);
                let mut items = vec![];
                loop {
                    let (ev, _) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node_from(ev)?);
                }
                let v = Value::new(Kind::Array(items));
                self.anchor(anchor, &v);
                Ok(v)
            }
            Event::MappingStart(anchor, tag) => {
                let tag = long_tag(tag.as_ref());
                if !tag.is_empty() && tag != format!("{TAG_PREFIX}map") {
                    return Err(format!("can't interpret mapping as {}", short_tag(&tag)));
                }
                self.begin(anchor);
                let mut members: Vec<Member> = vec![];
                let set = |members: &mut Vec<Member>, key: String, value: Value| match members
                    .iter_mut()
                    .find(|m| m.key == key)
                {
                    Some(m) => m.value = value,
                    None => members.push(Member {
                        key,
                        key_span: None,
                        value,
                    }),
                };
                loop {
                    let (ev, _) = self.next()?;
                    let (text, style, tag) = match ev {
                        Event::MappingEnd => break,
                        Event::Scalar(text, style, _, tag) => (text, style, tag),
                        _ => return Err("only strings are allowed as mapping keys".into()),
                    };
                    let key = match resolve(&long_tag(tag.as_ref()), &text, style)? {
                        Scalar::Merge => {
                            let v = self.node()?;
                            let Kind::Object(ms) = v.kind else {
                                return Err(format!("cannot merge {} into mapping", v.type_name()));
                            };
                            for m in ms {
                                set(&mut members, m.key, m.value);
                            }
                            continue;
                        }
                        Scalar::Value(k) => match k.kind {
                            Kind::String(s) | Kind::Number(s) => s,
                            Kind::Bool(b) => b.to_string(),
                            Kind::Null => return Err("mapping key cannot be null".into()),
                            _ => return Err("only strings are allowed as mapping keys".into()),
                        },
                    };
                    let v = self.node()?;
                    set(&mut members, key, v);
                }
                members.sort_by(|a, b| a.key.cmp(&b.key));
                let v = Value::new(Kind::Object(members));
                self.anchor(anchor, &v);
                Ok(v)
            }
            Event::DocumentStart => Err("only a single document is allowed".into()),
            Event::StreamEnd => Err("expecting value but found end of stream".into()),
            other => Err(format!("unexpected parser event {other:?}")),
        }
    }

    fn begin(&mut self, anchor: usize) {
        if anchor != 0 {
            self.pending.push(anchor);
        }
    }

    fn anchor(&mut self, anchor: usize, v: &Value) {
        if anchor != 0 {
            self.pending.retain(|a| *a != anchor);
            self.anchors.insert(anchor, v.clone());
        }
    }
}

fn long_tag(tag: Option<&Tag>) -> String {
    match tag {
        None => String::new(),
        Some(t) if t.handle == "!!" => format!("{TAG_PREFIX}{}", t.suffix),
        Some(t) => format!("{}{}", t.handle, t.suffix),
    }
}

fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(TAG_PREFIX) {
        Some(s) => format!("!!{s}"),
        None => tag.to_string(),
    }
}

/// The words YAML 1.1 gives a meaning.
fn keyword(s: &str) -> Option<Kind> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Kind::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Kind::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        _ => return None,
    })
}

/// A decimal number as HCL reads one (`1`, `-2.5`, `1e3`, `.5`), in kiln's form.
fn number(s: &str) -> Option<Value> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || !exp_ok {
        return None;
    }
    // An exponent past any float's: not written out digit by digit.
    if exp.is_some_and(|e| e.trim_start_matches(['+', '-']).len() > 4) {
        return None;
    }
    // The digits as written, in plain decimal: exact, as HCL's numbers are.
    Some(Value::new(Kind::Number(plain_decimal(s))))
}

/// A timestamp as go-cty-yaml takes one (`2001-12-14t21:59:43.10-05:00`, `2002-12-14`,
/// `2001-12-14 21:59:43.10`), in RFC 3339 without its fraction.
fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let re = regex_lite::Regex::new(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:([Tt ])(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?)?$",
    )
    .expect("valid");
    let c = re.captures(s)?;
    let n = |i: usize| {
        c.get(i)
            .map_or(0, |m| m.as_str().parse::<u32>().unwrap_or(99))
    };
    let (year, month, day) = (n(1), n(2), n(3));
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let Some(sep) = c.get(4) else {
        return Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"));
    };
    let (h, mi, sec) = (n(5), n(6), n(7));
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let zone = match (sep.as_str(), c.get(8).map(|m| m.as_str())) {
        (" ", None) => "Z".to_string(),
        (" ", Some(_)) | (_, None) => return None,
        (_, Some("Z")) => "Z".to_string(),
        (_, Some(z)) if z == "+00:00" || z == "-00:00" => "Z".to_string(),
        (_, Some(z)) => z.to_string(),
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{mi:02}:{sec:02}{zone}"
    ))
}

/// A scalar's value, as go-cty-yaml's `resolveScalar`.
fn resolve(tag: &str, src: &str, style: TScalarStyle) -> Result<Scalar, String> {
    let t = |s: &str| format!("{TAG_PREFIX}{s}");
    let known = ["str", "bool", "int", "float", "null", "timestamp", "binary"];
    if !tag.is_empty() && !known.iter().any(|k| tag == t(k)) {
        return Err(format!("unsupported tag \"{}\"", short_tag(tag)));
    }
    let v = |k: Kind| Ok(Scalar::Value(Value::new(k)));
    let hint = match src.bytes().next() {
        None => Some('N'),
        Some(b'+' | b'-') => Some('S'),
        Some(b'0'..=b'9') => Some('D'),
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => {
            Some('M')
        }
        Some(b'.') => Some('.'),
        _ => None,
    };
    let mut tag = tag.to_string();
    if let Some(hint) = hint.filter(|_| tag != t("str") && tag != t("binary")) {
        if matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        ) {
            return v(Kind::String(src.into()));
        }
        if let Some(k) = keyword(src) {
            return v(k);
        }
        if matches!(src, ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF")
            || matches!(src, "-.inf" | "-.Inf" | "-.INF")
        {
            return Err("infinity is not supported".into());
        }
        if tag.is_empty() && matches!(src, ".nan" | ".NaN" | ".NAN") {
            return Err("floating point NaN is not supported".into());
        }
        match hint {
            '.' => {
                if let Some(n) = number(src) {
                    return Ok(Scalar::Value(n));
                }
            }
            'D' | 'S' => {
                if tag.is_empty() || tag == t("timestamp") {
                    if let Some(ts) = timestamp(src) {
                        return v(Kind::String(ts));
                    }
                }
                let plain = src.replace('_', "");
                if let Some(n) = number(&plain) {
                    return Ok(Scalar::Value(n));
                }
                if plain.starts_with("0b") || plain.starts_with("-0b") {
                    tag = t("int");
                }
            }
            _ => {}
        }
    }
    if tag.is_empty() && src == "<<" {
        return Ok(Scalar::Merge);
    }
    let bad = || Err(format!("cannot parse \"{src}\" as {}", short_tag(&tag)));
    match tag.strip_prefix(TAG_PREFIX).unwrap_or(&tag) {
        "" | "str" => v(Kind::String(src.into())),
        "binary" => {
            use base64::Engine;
            // Go's decoder skips line breaks.
            let joined: String = src.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            match base64::engine::general_purpose::STANDARD.decode(joined) {
                Ok(_) => v(Kind::String(src.into())),
                Err(_) => Err(format!(
                    "cannot parse \"{src}\" as !!binary: not valid base64"
                )),
            }
        }
        "bool" => match keyword(src) {
            Some(k @ Kind::Bool(_)) => v(k),
            _ => bad(),
        },
        "null" => v(Kind::Null),
        "timestamp" => match timestamp(src) {
            Some(ts) => v(Kind::String(ts)),
            None => bad(),
        },
        _ => {
            // !!int and !!float: decimal, or Go's 0x / 0o / 0 / 0b integers.
            let plain = src.replace('_', "");
            if let Some(n) = number(&plain) {
                return Ok(Scalar::Value(n));
            }
            let (neg, body) = match plain.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
            };
            let parsed = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
                i128::from_str_radix(h, 16).ok()
            } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
                i128::from_str_radix(b, 2).ok()
            } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
                i128::from_str_radix(o, 8).ok()
            } else if body.len() > 1 && body.starts_with('0') {
                i128::from_str_radix(&body[1..], 8).ok()
            } else {
                None
            };
            let fits = |n: &i128| {
                if neg {
                    -*n >= i128::from(i64::MIN)
                } else {
                    *n <= i128::from(u64::MAX)
                }
            };
            match parsed.filter(fits) {
                Some(n) => v(Kind::Number(if neg {
                    format!("-{n}")
                } else {
                    n.to_string()
                })),
                None => bad(),
            }
        }
    }
}

/// `v` written as a YAML document.
pub fn encode(v: &Value) -> Result<String, String> {
    let mut w = Writer { out: String::new() };
    match &v.kind {
        Kind::Array(items) if !items.is_empty() => w.sequence(items, 0)?,
        Kind::Object(ms) if !ms.is_empty() => w.mapping(ms, 0)?,
        _ => {
            w.scalar(v, 2, false)?;
            if matches!(v.kind, Kind::Null | Kind::Bool(_) | Kind::Number(_)) {
                w.out.push_str("\n...");
            }
        }
    }
    w.out.push('\n');
    Ok(w.out)
}

struct Writer {
    out: String,
}

/// What libyaml prints as it is in a double-quoted string.
fn printable(c: char) -> bool {
    // libyaml's test, on UTF-8 of at most three bytes: what lies beyond U+FFFF is escaped,
    // and so is NEL.
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF)
        || (matches!(c as u32, 0xE000..=0xFFFD) && c != '\u{FEFF}')
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// A number as Go's big.Float `Text('f', -1)` writes it: plain decimal digits.
fn plain_decimal(n: &str) -> String {
    let (neg, body) = match n.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let (mut whole, mut part) = if point <= 0 {
        (
            String::from("0"),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    whole = whole.trim_start_matches('0').to_string();
    if whole.is_empty() {
        whole.push('0');
    }
    while part.ends_with('0') {
        part.pop();
    }
    let sign = if neg { "-" } else { "" };
    if part.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{part}")
    }
}

impl Writer {
    fn column(&self) -> usize {
        self.out[self.out.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
    }

    fn newline_indent(&mut self, indent: usize) {
        self.out.push('\n');
        self.out.push_str(&" ".repeat(indent));
    }

    /// A scalar whose continuation lines are indented `indent`; `key` when it is a simple
    /// mapping key (never folded, never a block).
    fn scalar(&mut self, v: &Value, indent: usize, key: bool) -> Result<(), String> {
        match &v.kind {
            Kind::Null => self.out.push_str("null"),
            Kind::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Kind::Number(n) => self.out.push_str(&plain_decimal(n)),
            Kind::String(s) => self.string(s, indent, key),
            Kind::Array(_) => self.out.push_str("[]"),
            Kind::Object(_) => self.out.push_str("{}"),
        }
        Ok(())
    }

    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let chars: Vec<char> = s.chars().collect();
        let breaks = chars.iter().any(|&c| is_break(c));
        let trailing_space = chars.last() == Some(&' ');
        let space_break = chars.windows(2).any(|w| w[0] == ' ' && is_break(w[1]));
        let special = chars.iter().any(|&c| !printable(c));
        // go-cty-yaml asks for a literal block only for a string with a newline.
        if breaks && s.contains('\n') && !key && !trailing_space && !space_break && !special {
            self.literal(&chars, indent);
        } else {
            self.double_quoted(&chars, indent, !key);
        }
    }

    fn literal(&mut self, chars: &[char], indent: usize) {
        self.out.push('|');
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.out.push('2');
        }
        let n = chars.len();
        if !is_break(chars[n - 1]) {
            self.out.push('-');
        } else if n == 1 || is_break(chars[n - 2]) {
            self.out.push('+');
        }
        self.out.push('\n');
        let mut line_start = true;
        for &c in chars {
            if is_break(c) {
                self.out.push('\n');
                line_start = true;
            } else {
                if line_start {
                    self.out.push_str(&" ".repeat(indent));
                    line_start = false;
                }
                self.out.push(c);
            }
        }
        if !is_break(chars[n - 1]) {
            self.out.push('\n');
        }
        // The caller ends the line.
        self.out.pop();
    }

    fn double_quoted(&mut self, chars: &[char], indent: usize, fold: bool) {
        self.out.push('"');
        let mut spaces = false;
        let mut column = self.column();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                let e = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{b}' => "\\v".into(),
                    '\u{c}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1b}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                column += e.chars().count();
                self.out.push_str(&e);
                spaces = false;
            } else if c == ' ' {
                if fold && !spaces && column > 80 && i != 0 && i != chars.len() - 1 {
                    self.newline_indent(indent);
                    column = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        column += 1;
                    }
                } else {
                    self.out.push(' ');
                    column += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                column += 1;
                spaces = false;
            }
            i += 1;
        }
        self.out.push('"');
    }

    /// A value after `- ` or `: `: a scalar on the line, or a collection below or beside.
    fn value(&mut self, v: &Value, indent: usize, in_map: bool) -> Result<(), String> {
        match &v.kind {
            Kind::Array(items) if !items.is_empty() => {
                if in_map {
                    // A sequence in a mapping is not indented.
                    self.newline_indent(indent - 2);
                    self.sequence(items, indent - 2)
                } else {
                    self.sequence(items, indent)
                }
            }
            Kind::Object(ms) if !ms.is_empty() => {
                if in_map {
                    self.newline_indent(indent);
                }
                self.mapping(ms, indent)
            }
            _ => self.scalar(v, indent, false),
        }
    }

    /// A block sequence whose `- ` starts where the writer is, at column `indent`.
    fn sequence(&mut self, items: &[Value], indent: usize) -> Result<(), String> {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.out.push_str("- ");
            self.value(item, indent + 2, false)?;
        }
        Ok(())
    }

    /// A block mapping whose first key starts where the writer is, at column `indent`.
    fn mapping(&mut self, members: &[Member], indent: usize) -> Result<(), String> {
        let mut sorted: Vec<&Member> = members.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        for (i, m) in sorted.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            let simple = m.key.len() <= 128 && !m.key.chars().any(is_break);
            if simple {
                self.string(&m.key, indent + 2, true);
                self.out.push(':');
            } else {
                // A complex key: `? KEY`, then `: VALUE` on the next line, a collection
                // beside the `:` as beside a `- `.
                self.out.push_str("? ");
                self.string(&m.key, indent + 2, false);
                self.newline_indent(indent);
                self.out.push_str(": ");
                self.value(&m.value, indent + 2, false)?;
                continue;
            }
            match &m.value.kind {
                Kind::Array(a) if !a.is_empty() => self.value(&m.value, indent + 2, true)?,
                Kind::Object(o) if !o.is_empty() => self.value(&m.value, indent + 2, true)?,
                _ => {
                    self.out.push(' ');
                    self.scalar(&m.value, indent + 2, false)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &Value) -> String {
        v.to_json().to_string()
    }

    #[test]
    fn decoding_matches_go_cty_yaml() {
        // Each compared with Packer 1.6.6's `jsonencode(yamldecode(...))`.
        let cases = [
            (
                "a: 1\nb: [x, 'y', \"z\"]\nc: {d: null, e: ~, f: }\n",
                r#"{"a":1,"b":["x","y","z"],"c":{"d":null,"e":null,"f":null}}"#,
            ),
            (
                "- yes\n- No\n- on\n- OFF\n- y\n- n\n- true\n- 'true'\n- 0x1F\n- 1_000\n- +1\n- .5\n- 1e3\n- 007\n- -\n- 2001-12-14t21:59:43.10-05:00\n- 2002-12-14\n- 2001-12-14 21:59:43.10\n- 2001-12-14T21:59:43Z\n",
                r#"[true,false,true,false,true,false,true,"true","0x1F",1000,1,0.5,1000,7,[null],"2001-12-14T21:59:43-05:00","2002-12-14T00:00:00Z","2001-12-14T21:59:43Z","2001-12-14T21:59:43Z"]"#,
            ),
            (
                "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\nlist: &l [1, 2]\nagain: *l\n",
                r#"{"again":[1,2],"base":{"true":2,"x":1},"derived":{"true":3,"x":1},"list":[1,2]}"#,
            ),
            (
                "k: |\n  line1\n  line2\nm: >\n  folded\n  text\n",
                r#"{"k":"line1\nline2\n","m":"folded text\n"}"#,
            ),
            ("!!str 123", r#""123""#),
            ("!!int \"12\"", r#""12""#),
            ("!!binary aGVsbG8=", r#""aGVsbG8=""#),
            ("a: 1\na: 2", r#"{"a":2}"#),
            ("1: one\ntrue: t\n", r#"{"1":"one","true":"t"}"#),
            ("---\na: 1\n...\n", r#"{"a":1}"#),
            ("12345678901234567890", "12345678901234567890"),
            ("- 1.50\n- 0.1e2\n- !!int 0x10\n- !!int 0B101", "[1.5,10,16,5]"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("123é5", r#""123é5""#),
            ("\u{FEFF}a: 1", r#"{"a":1}"#),
            ("2001-12-14T21:59:43.1234567890Z", r#""2001-12-14T21:59:43.1234567890Z""#),
            ("!!binary |\n  aGVs\n  bG8=\n", r#""aGVs\nbG8=\n""#),
        ];
        for (yaml, want) in cases {
            assert_eq!(json(&decode(yaml).unwrap()), want, "{yaml}");
        }
        for (yaml, want) in [
            ("", "on line 1, column 1: missing start of document"),
            (
                "---\na: 1\n---\nb: 2\n",
                "unexpected extra content after value",
            ),
            ("!foo x", "unsupported tag \"!foo\""),
            (".nan", "floating point NaN is not supported"),
            ("? [a]\n: b", "only strings are allowed as mapping keys"),
            ("a: [1, 2", "expected ',' or ']'"),
            ("!!bool maybe", "cannot parse \"maybe\" as !!bool"),
            ("!!int -0x8000000000000001", "cannot parse"),
        ] {
            let e = decode(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn encoding_matches_go_cty_yaml() {
        let parse = |hcl_json: &str| {
            let src = crate::source::Source::new("t.json", hcl_json);
            crate::json::parse(&src).unwrap()
        };
        // Each the output of Packer 1.6.6's `yamlencode` of the same value.
        let cases = [
            (r#""x""#, "\"x\"\n"),
            ("1", "1\n...\n"),
            ("1.5", "1.5\n...\n"),
            ("null", "null\n...\n"),
            ("true", "true\n...\n"),
            ("[]", "[]\n"),
            ("{}", "{}\n"),
            (r#"[1, "a", null, true]"#, "- 1\n- \"a\"\n- null\n- true\n"),
            (
                r#"{"b": "x", "a": 1, "c": [1, 2], "d": {"e": "f"}, "g": [], "h": {}}"#,
                "\"a\": 1\n\"b\": \"x\"\n\"c\":\n- 1\n- 2\n\"d\":\n  \"e\": \"f\"\n\"g\": []\n\"h\": {}\n",
            ),
            (
                r#"[[1, 2], [3], {"a": 1, "b": 2}, []]"#,
                "- - 1\n  - 2\n- - 3\n- \"a\": 1\n  \"b\": 2\n- []\n",
            ),
            (
                r#"{"a": [{"b": 1, "c": 2}, {"d": 3}]}"#,
                "\"a\":\n- \"b\": 1\n  \"c\": 2\n- \"d\": 3\n",
            ),
            (r#""line1\nline2""#, "|-\n  line1\n  line2\n"),
            (r#""line1\nline2\n""#, "|\n  line1\n  line2\n"),
            (r#""line1\nline2\n\n""#, "|+\n  line1\n  line2\n\n"),
            (r#"{"k": "line1\nline2\n"}"#, "\"k\": |\n  line1\n  line2\n"),
            (r#"["  leading\nx"]"#, "- |2-\n    leading\n  x\n"),
            (
                r#""tab\there \"q\" back\\slash é ☃ \u0001""#,
                "\"tab\\there \\\"q\\\" back\\\\slash é ☃ \\x01\"\n",
            ),
            (
                r#""a very long string that goes on and on and on, well past the eighty column limit of the emitter, to see folding""#,
                "\"a very long string that goes on and on and on, well past the eighty column limit\n  of the emitter, to see folding\"\n",
            ),
            (
                r#"{"key with space": 1, "key:colon": 2, "123": 3, "true": 4}"#,
                "\"123\": 3\n\"key with space\": 1\n\"key:colon\": 2\n\"true\": 4\n",
            ),
            ("1e100", &format!("1{}\n...\n", "0".repeat(100))),
            ("0.1", "0.1\n...\n"),
            ("-3", "-3\n...\n"),
            (r#"{"a\nb": 1}"#, "? |-\n  a\n  b\n: 1\n"),
            (r#"{"k": "tab\tand\nnewline"}"#, "\"k\": \"tab\\tand\\nnewline\"\n"),
            (r#"{"k": "trailing space \nx"}"#, "\"k\": \"trailing space \\nx\"\n"),
            (r#"["x\n"]"#, "- |\n  x\n"),
            (
                r#"{"a": {"b": {"c": "deep\nline"}}}"#,
                "\"a\":\n  \"b\":\n    \"c\": |-\n      deep\n      line\n",
            ),
            (
                r#"{"a": {"b": [["x", "y\nz"]]}}"#,
                "\"a\":\n  \"b\":\n  - - \"x\"\n    - |-\n      y\n      z\n",
            ),
            (
                r#"{"k": "word word word word word word word word word word word word word word word word word word word word word"}"#,
                "\"k\": \"word word word word word word word word word word word word word word word word\n  word word word word word\"\n",
            ),
            (
                r#"["word  word  word  word  word  word  word  word  word  word  word  word  word  word  word  word"]"#,
                "- \"word  word  word  word  word  word  word  word  word  word  word  word  word  word\n  \\ word  word\"\n",
            ),
            (r#""\nleading break""#, "|2-\n\n  leading break\n"),
            (r#""""#, "\"\"\n"),
            (r#""\n""#, "|2+\n\n"),
            (r#""a\n\n\nb""#, "|-\n  a\n\n\n  b\n"),
            ("1.50", "1.5\n...\n"),
            ("1e-7", "0.0000001\n...\n"),
            ("-0", "-0\n...\n"),
            (
                r#""é\u00a0\u0085\u2028x\u001b""#,
                "\"é\u{a0}\\N\\Lx\\e\"\n",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(encode(&parse(value)).unwrap(), want, "{value}");
        }
        for (value, want) in [
            (r#""é☃😀""#, "\"é☃\\U0001F600\"\n"),
            (r#""a\u0085\nb""#, "\"a\\N\\nb\"\n"),
            (r#""a\u2028b""#, "\"a\\Lb\"\n"),
            (r#"{"a\nb": [1, 2]}"#, "? |-\n  a\n  b\n: - 1\n  - 2\n"),
            (r#"{"a\nb": {"c": 1}}"#, "? |-\n  a\n  b\n: \"c\": 1\n"),
        ] {
            assert_eq!(encode(&parse(value)).unwrap(), want, "{value}");
        }
        let long_key = format!(r#"{{"{}": 1}}"#, "k".repeat(130));
        assert_eq!(
            encode(&parse(&long_key)).unwrap(),
            format!("? \"{}\"\n: 1\n", "k".repeat(130))
        );
    }
}
