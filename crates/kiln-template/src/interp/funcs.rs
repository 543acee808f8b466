//! Packer's interpolation functions and the Go template builtins Packer templates use.

use super::eval::TVal;
use super::{timefmt, Context};
use crate::PACKER_COMPAT_VERSION;

pub(super) enum CallError {
    /// The value belongs to a later phase; leave the action as written.
    Deferred,
    /// The function failed.
    Msg(String),
    /// No such function.
    Unknown,
}

fn msg(m: impl Into<String>) -> CallError {
    CallError::Msg(m.into())
}

fn arity(args: &[TVal], want: usize) -> Result<(), CallError> {
    if args.len() != want {
        return Err(msg(format!(
            "wrong number of args: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn string(v: &TVal, what: &str) -> Result<String, CallError> {
    match v {
        TVal::Str(s) => Ok(s.clone()),
        other => Err(msg(format!(
            "wrong type for {what}: expected string; got {}",
            other.type_name()
        ))),
    }
}

fn int(v: &TVal, what: &str) -> Result<i64, CallError> {
    match v {
        TVal::Int(i) => Ok(*i),
        other => Err(msg(format!(
            "wrong type for {what}: expected int; got {}",
            other.type_name()
        ))),
    }
}

/// Calls the function `name` with already evaluated arguments.
pub(super) fn call(name: &str, args: Vec<TVal>, cx: &Context) -> Result<TVal, CallError> {
    let s = |v: String| Ok(TVal::Str(v));
    match name {
        "user" => {
            arity(&args, 1)?;
            let k = string(&args[0], "variable name")?;
            match cx.user_vars.get(&k) {
                Some(v) => s(v.clone()),
                None if cx.strict_user_vars => Err(msg(format!("variable not set: {k}"))),
                None => s(String::new()),
            }
        }
        "env" => {
            arity(&args, 1)?;
            let k = string(&args[0], "environment variable name")?;
            s(std::env::var(k).unwrap_or_default())
        }
        "timestamp" => {
            arity(&args, 0)?;
            s(cx.init_time.timestamp().to_string())
        }
        "isotime" => match args.len() {
            0 => s(cx.init_time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            1 => s(timefmt::go_layout(&cx.init_time, &string(&args[0], "layout")?)),
            _ => Err(msg(format!("too many values, 1 needed: {}", TVal::List(args)))),
        },
        "strftime" => {
            arity(&args, 1)?;
            s(timefmt::strftime(&cx.init_time, &string(&args[0], "format")?))
        }
        "uuid" => {
            arity(&args, 0)?;
            s(time_ordered_uuid())
        }
        "build_name" => {
            arity(&args, 0)?;
            cx.build_name.clone().map(TVal::Str).ok_or_else(|| msg("build_name not available"))
        }
        "build_type" => {
            arity(&args, 0)?;
            cx.build_type.clone().map(TVal::Str).ok_or_else(|| msg("build_type not available"))
        }
        "template_dir" => {
            arity(&args, 0)?;
            let p = cx.template_path.as_ref().ok_or_else(|| msg("template path not available"))?;
            let dir = std::path::Path::new(p).parent().unwrap_or(std::path::Path::new("."));
            let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
            let abs = std::path::absolute(dir).map_err(|e| msg(e.to_string()))?;
            s(abs.display().to_string())
        }
        "pwd" => {
            arity(&args, 0)?;
            let d = std::env::current_dir().map_err(|e| msg(e.to_string()))?;
            s(d.display().to_string())
        }
        "packer_version" => {
            arity(&args, 0)?;
            s(PACKER_COMPAT_VERSION.to_string())
        }
        "split" => {
            arity(&args, 3)?;
            let text = string(&args[0], "string")?;
            let sep = string(&args[1], "separator")?;
            let i = int(&args[2], "index")?;
            let parts: Vec<&str> = if sep.is_empty() {
                text.chars().map(|c| &text[text.find(c).unwrap_or(0)..][..c.len_utf8()]).collect()
            } else {
                text.split(sep.as_str()).collect()
            };
            match usize::try_from(i).ok().and_then(|i| parts.get(i)) {
                Some(p) => s(p.to_string()),
                None => Err(msg(format!(
                    "the substring {i} was unavailable using the separator value, {sep}, only {} values were found",
                    parts.len()
                ))),
            }
        }
        "replace" => {
            arity(&args, 4)?;
            let old = string(&args[0], "old")?;
            let new = string(&args[1], "new")?;
            let n = int(&args[2], "n")?;
            let src = string(&args[3], "src")?;
            s(if n < 0 { src.replace(&old, &new) } else { src.replacen(&old, &new, n as usize) })
        }
        "replace_all" => {
            arity(&args, 3)?;
            let old = string(&args[0], "old")?;
            let new = string(&args[1], "new")?;
            s(string(&args[2], "src")?.replace(&old, &new))
        }
        "upper" => {
            arity(&args, 1)?;
            s(string(&args[0], "string")?.to_uppercase())
        }
        "lower" => {
            arity(&args, 1)?;
            s(string(&args[0], "string")?.to_lowercase())
        }
        "clean_resource_name" => {
            arity(&args, 1)?;
            s(clean_resource_name(&string(&args[0], "name")?))
        }
        "build" => {
            arity(&args, 1)?;
            let key = string(&args[0], "key")?;
            match &cx.build_data {
                None => Err(CallError::Deferred),
                Some(d) => match d.get(&key) {
                    Some(v) => s(v.clone()),
                    None => Err(msg(format!(
                        "the builder did not produce \"{key}\" (available: {})",
                        d.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))),
                },
            }
        }
        // Packer's message, word for word (its missing space included).
        "sed" => Err(msg("template function `sed` is deprecated use `replace` or `replace_all` instead.Documentation: https://www.packer.io/docs/templates/engine")),
        "vault" | "consul_key" | "aws_secretsmanager" => match crate::secrets::stores() {
            Some(stores) => read_secret(name, &args, stores),
            None => Err(msg(format!(
                "the {name} function is not supported yet by kiln; pass the value with -var or an environment variable"
            ))),
        },
        _ => builtin(name, args),
    }
}

/// `vault`, `consul_key` or `aws_secretsmanager`, read from the installed stores, with
/// Packer's arity rules and words.
fn read_secret(
    name: &str,
    args: &[TVal],
    stores: &dyn crate::secrets::SecretStores,
) -> Result<TVal, CallError> {
    let text: Vec<String> = args
        .iter()
        .map(|a| string(a, "argument"))
        .collect::<Result<_, _>>()?;
    let value = if name == "vault" {
        arity(args, 2)?;
        stores.vault(&text[0], &text[1])
    } else if name == "consul_key" {
        arity(args, 1)?;
        stores.consul_key(&text[0])
    } else {
        match text.len() {
            0 => return Err(msg("secret name must be provided")),
            1 | 2 => stores.aws_secret(&text[0], text.get(1).map_or("", |k| k.as_str())),
            _ => {
                return Err(msg(
                    "only secret name and optional secret key can be provided.",
                ))
            }
        }
    };
    value.map(TVal::Str).map_err(msg)
}

/// Packer's `uuid`: time-ordered, the first 32 bits the Unix time in hex, the other 96 random.
fn time_ordered_uuid() -> String {
    let now = chrono::Utc::now().timestamp() as u32;
    let r = uuid::Uuid::new_v4();
    let b = r.as_bytes();
    let hex = |bytes: &[u8]| bytes.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{now:08x}-{}-{}-{}-{}",
        hex(&b[0..2]),
        hex(&b[2..4]),
        hex(&b[4..6]),
        hex(&b[6..12])
    )
}

/// Packer's (Amazon's) resource-name cleaner: keeps letters, digits and `()[] ./-'@_`,
/// replaces every other byte with `-`.
pub fn clean_resource_name(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"()[] ./-'@_".contains(&b) {
                b as char
            } else {
                '-'
            }
        })
        .collect()
}

/// Go's template comparison: an integer and a float are incompatible, as in Go.
fn compare(a: &TVal, b: &TVal) -> Result<std::cmp::Ordering, CallError> {
    use std::cmp::Ordering;
    Ok(match (a, b) {
        (TVal::Int(x), TVal::Int(y)) => x.cmp(y),
        (TVal::Float(x), TVal::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (TVal::Str(x), TVal::Str(y)) => x.cmp(y),
        (TVal::Bool(x), TVal::Bool(y)) => x.cmp(y),
        _ => return Err(msg("incompatible types for comparison")),
    })
}

fn builtin(name: &str, args: Vec<TVal>) -> Result<TVal, CallError> {
    use std::cmp::Ordering::*;
    let need_two = |args: &[TVal]| {
        if args.len() < 2 {
            Err(msg(format!(
                "wrong number of args: want 2 got {}",
                args.len()
            )))
        } else {
            Ok(())
        }
    };
    match name {
        "eq" => {
            need_two(&args)?;
            for b in &args[1..] {
                if compare(&args[0], b)? == Equal {
                    return Ok(TVal::Bool(true));
                }
            }
            Ok(TVal::Bool(false))
        }
        "ne" => {
            arity(&args, 2)?;
            Ok(TVal::Bool(compare(&args[0], &args[1])? != Equal))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(&args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Ok(TVal::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "not" => {
            arity(&args, 1)?;
            Ok(TVal::Bool(!args[0].truthy()))
        }
        "and" => Ok(args
            .iter()
            .find(|v| !v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil)),
        "or" => Ok(args
            .iter()
            .find(|v| v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil)),
        "len" => {
            arity(&args, 1)?;
            Ok(TVal::Int(match &args[0] {
                TVal::Str(s) => s.len() as i64,
                TVal::List(l) => l.len() as i64,
                TVal::Map(m) => m.len() as i64,
                other => return Err(msg(format!("len of type {}", other.type_name()))),
            }))
        }
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or_else(|| msg("wrong number of args: want at least 1"))?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (TVal::List(l), TVal::Int(i)) => l
                        .get(*i as usize)
                        .cloned()
                        .ok_or_else(|| msg(format!("index out of range: {i}")))?,
                    (TVal::Str(s), TVal::Int(i)) => TVal::Int(
                        *s.as_bytes()
                            .get(*i as usize)
                            .ok_or_else(|| msg(format!("index out of range: {i}")))?
                            as i64,
                    ),
                    (TVal::Map(m), TVal::Str(k)) => m.get(k).cloned().unwrap_or(TVal::Nil),
                    (c, _) => {
                        return Err(msg(format!("can't index item of type {}", c.type_name())))
                    }
                }
            }
            Ok(cur)
        }
        "slice" => {
            let (first, idx) = args
                .split_first()
                .ok_or_else(|| msg("wrong number of args for slice: want at least 1"))?;
            let idx: Vec<usize> = idx
                .iter()
                .map(|i| match i {
                    TVal::Int(n) if *n >= 0 => Ok(*n as usize),
                    other => Err(msg(format!("cannot index slice/array with {other}"))),
                })
                .collect::<Result<_, _>>()?;
            let len = match first {
                TVal::Str(s) => s.len(),
                TVal::List(l) => l.len(),
                other => {
                    return Err(msg(format!(
                        "can't slice item of type {}",
                        other.type_name()
                    )))
                }
            };
            let (from, to) = match idx.as_slice() {
                [] => (0, len),
                [a] => (*a, len),
                [a, b] => (*a, *b),
                _ => return Err(msg("too many slice indexes")),
            };
            if from > to || to > len {
                return Err(msg(format!("index out of range: {to}")));
            }
            Ok(match first {
                TVal::Str(s) => {
                    TVal::Str(String::from_utf8_lossy(&s.as_bytes()[from..to]).into_owned())
                }
                TVal::List(l) => TVal::List(l[from..to].to_vec()),
                _ => unreachable!("checked above"),
            })
        }
        "html" => Ok(TVal::Str(html_escape(&go_print(&args)))),
        "js" => Ok(TVal::Str(js_escape(&go_print(&args)))),
        "urlquery" => Ok(TVal::Str(query_escape(&go_print(&args)))),
        "print" => Ok(TVal::Str(go_print(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Ok(TVal::Str(parts.join(" ") + "\n"))
        }
        "printf" => {
            let (f, rest) = args
                .split_first()
                .ok_or_else(|| msg("wrong number of args: want at least 1"))?;
            Ok(TVal::Str(go_sprintf(&string(f, "format")?, rest)))
        }
        _ => Err(CallError::Unknown),
    }
}

/// Go's `template.HTMLEscapeString` (the `html` function).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString` (as of Go 1.19, which Packer 1.6.6 is built with here).
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape` (the `urlquery` function).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn go_print(args: &[TVal]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, TVal::Str(_)) && !matches!(args[i - 1], TVal::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.to_string());
    }
    out
}

/// A subset of Go's `fmt.Sprintf`: `%s %d %v %q %t %f %%`.
fn go_sprintf(format: &str, args: &[TVal]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb) => match it.next() {
                None => out.push_str(&format!("%!{verb}(MISSING)")),
                Some(a) => match verb {
                    'q' => out.push_str(&format!("{:?}", a.to_string())),
                    'f' => match a {
                        TVal::Float(f) => out.push_str(&format!("{f:.6}")),
                        TVal::Int(i) => out.push_str(&format!("%!f(int={i})")),
                        other => out.push_str(&other.to_string()),
                    },
                    _ => out.push_str(&a.to_string()),
                },
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}
