//! The text machinery the functions use: Go's `fmt` verbs, Go's regex replacement syntax,
//! integers in any base, CSV rows, name-based UUIDs, sorted JSON and file patterns.

use super::funcs::{string, to_f64, MAX_PAD};
use crate::value::{Kind, Value};

/// An integer in base 2 to 62: for bases up to 36 letters of either case are 10 to 35; above,
/// `a`–`z` are 10 to 35 and `A`–`Z` 36 to 61 (Go's big.Int).
pub(super) fn parse_radix(text: &str, base: u32) -> Option<f64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: f64 = 0.0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        v = v * base as f64 + d as f64;
    }
    Some(if neg { -v } else { v })
}

pub(super) fn regex(re: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(re).map_err(|e| format!("invalid regular expression: {e}"))
}

/// Go's `$1` / `${name}` in a replacement, in the regex crate's syntax (`${1}`), so that
/// `$1x` is not read as a group named `1x`.
pub(super) fn go_replacement(to: &str) -> String {
    let mut out = String::new();
    let mut chars = to.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            out.push_str(&format!("${{{n}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON with every object's keys sorted, as `jsonencode` writes it.
pub(super) fn sorted_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut pairs: Vec<_> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, sorted_json(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted_json).collect())
        }
        other => other,
    }
}

/// A name-based UUID (version 5): SHA-1 of the namespace's bytes and the name. The
/// namespace is `dns`, `url`, `oid`, `x500` or a UUID.
pub(super) fn uuid_v5(namespace: &str, name: &str) -> Result<String, String> {
    use sha1::Digest;
    let ns = match namespace {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
        other => other,
    };
    let ns =
        uuid::Uuid::parse_str(ns).map_err(|_| format!("\"{namespace}\" is not a namespace"))?;
    let mut h = sha1::Sha1::new();
    h.update(ns.as_bytes());
    h.update(name.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(uuid::Uuid::from_bytes(b).to_string())
}

/// RFC 4180 rows: fields split by commas, quoted fields with doubled quotes and newlines.
pub(super) fn csv_rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Files under `dir`, as paths relative to `base` with `/` between parts.
pub(super) fn walk(
    base: &std::path::Path,
    dir: &std::path::Path,
    out: &mut Vec<String>,
    depth: usize,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() && depth < 32 => walk(base, &p, out, depth + 1),
            Ok(t) if t.is_file() => {
                if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            _ => {}
        }
    }
}

/// A file pattern as `fileset` takes it: `*` within one path part, `**` across parts, `?` one
/// character.
pub(super) fn path_glob(pattern: &str, path: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p {
            [] => s.is_empty(),
            ['*', '*', '/', rest @ ..] => {
                (0..=s.len()).any(|i| (i == 0 || s[i - 1] == '/') && go(rest, &s[i..]))
            }
            ['*', '*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            ['*', rest @ ..] => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| go(rest, &s[i..])),
            ['?', rest @ ..] => !s.is_empty() && s[0] != '/' && go(rest, &s[1..]),
            [c, rest @ ..] => !s.is_empty() && s[0] == *c && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    go(&p, &s)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `fmt` verbs as `format` takes them: `%s`, `%d`, `%v`, `%q`, `%f`, `%%`.
pub(super) fn format_verbs(f: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Flags, width and precision: %-5s, %03d, %.2f.
        let mut spec = String::new();
        while let Some(&c) = chars
            .peek()
            .filter(|c| matches!(c, '-' | '0'..='9' | '.' | '+'))
        {
            spec.push(c);
            chars.next();
        }
        let verb = chars.next().ok_or("the format ends with %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = next
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        let left = spec.starts_with('-');
        let zero = spec.trim_start_matches(['-', '+']).starts_with('0') && !left;
        let (width, precision): (usize, Option<usize>) =
            match spec.trim_start_matches(['-', '+', '0']).split_once('.') {
                Some((w, p)) => (w.parse().unwrap_or(0), p.parse::<usize>().ok()),
                None => (
                    spec.trim_start_matches(['-', '+', '0'])
                        .parse()
                        .unwrap_or(0),
                    None,
                ),
            };
        if width > MAX_PAD || precision.is_some_and(|p| p > MAX_PAD) {
            return Err(format!("a width or precision over {MAX_PAD}"));
        }
        let text = match verb {
            's' | 'v' => match &arg.kind {
                Kind::Array(_) | Kind::Object(_) => arg.to_json().to_string(),
                _ => string(arg, "argument")?,
            },
            'd' => {
                let x = to_f64(arg)?;
                if x.fract() != 0.0 {
                    return Err(format!("%d needs a whole number, not {x}"));
                }
                format!("{}", x as i64)
            }
            't' => match &arg.kind {
                Kind::Bool(b) => b.to_string(),
                _ => return Err(format!("%t needs a bool, not {}", arg.type_name())),
            },
            'x' | 'X' => {
                let t = match &arg.kind {
                    Kind::Number(_) => format!("{:x}", to_f64(arg)? as i64),
                    _ => hex(string(arg, "argument")?.as_bytes()),
                };
                if verb == 'X' {
                    t.to_uppercase()
                } else {
                    t
                }
            }
            'f' => format!("{:.*}", precision.unwrap_or(6), to_f64(arg)?),
            'q' => go_quote(&string(arg, "argument")?),
            other => return Err(format!("unsupported format verb %{other}")),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(verb, 'd' | 'f') {
            let (sign, digits) = match text.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// `s` as Go's `%q` writes it: in double quotes, with Go's escapes for quotes, backslashes and
/// what does not print.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !go_printable(c) && (c as u32) > 0xFFFF => {
                out.push_str(&format!("\\U{:08x}", c as u32))
            }
            c if !go_printable(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Near Go's `strconv.IsPrint`: not a control, a space other than U+0020, a format character
/// or one for private use.
fn go_printable(c: char) -> bool {
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFFFE | 0xFFFF))
}
