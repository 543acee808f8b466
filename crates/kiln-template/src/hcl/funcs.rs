//! The HCL2 function library Packer templates call: strings, numbers, collections, encoding,
//! files, time, hashes and type conversions, with the names and argument orders of Packer's
//! (go-cty's) functions. `try` and `can` are in the evaluator: they see their arguments
//! unevaluated.

use super::text::{
    csv_rows, format_verbs, go_replacement, hex, parse_radix, path_glob, regex, sorted_json,
    uuid_v5, walk,
};
use crate::value::{Kind, Member, Value};
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// What functions may look at: the run's start time (every `timestamp()` agrees) and the
/// template's directory (relative `file()` paths).
#[derive(Debug, Clone)]
pub struct Facts {
    /// The run's start time.
    pub init_time: DateTime<Utc>,
    /// The working directory (`path.cwd`, `abspath`).
    pub cwd: PathBuf,
    /// The template's directory: `file()` and `fileexists()` read relative paths from it,
    /// as Packer 1.6.6 does.
    pub template_dir: PathBuf,
}

pub(super) type R = Result<Value, String>;

pub(super) fn s(v: impl Into<String>) -> R {
    Ok(Value::string(v))
}

pub(super) fn n(f: f64) -> R {
    Ok(Value::new(super::eval::number(f)))
}

fn b(v: bool) -> R {
    Ok(Value::new(Kind::Bool(v)))
}

pub(super) fn list(items: Vec<Value>) -> R {
    Ok(Value::new(Kind::Array(items)))
}

/// Writes a number as HCL shows it: integers without a fraction.
pub fn format_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    // Rounded to 15 significant digits, so that 0.1 + 0.2 shows as 0.3 (HCL computes with
    // arbitrary precision; f64 arithmetic leaves noise in the last digit).
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    format!("{rounded}")
}

/// The widest padding `indent` and `format` make (Go's own limit is a million).
pub(super) const MAX_PAD: usize = 1_000_000;

/// A value as a number (strings holding numbers convert, as in HCL).
pub fn to_f64(v: &Value) -> Result<f64, String> {
    match &v.kind {
        Kind::Number(x) => x.parse().map_err(|_| format!("{x} is not a number")),
        Kind::String(x) => x
            .trim()
            .parse()
            .map_err(|_| format!("a number is required, not the string \"{x}\"")),
        _ => Err(format!("a number is required, not {}", v.type_name())),
    }
}

pub(super) fn string(v: &Value, what: &str) -> Result<String, String> {
    match &v.kind {
        Kind::String(x) => Ok(x.clone()),
        Kind::Number(x) => Ok(x.clone()),
        Kind::Bool(x) => Ok(x.to_string()),
        _ => Err(format!("{what} must be a string, not {}", v.type_name())),
    }
}

fn items(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match &v.kind {
        Kind::Array(a) => Ok(a.clone()),
        _ => Err(format!("{what} must be a list, not {}", v.type_name())),
    }
}

fn members(v: &Value, what: &str) -> Result<Vec<Member>, String> {
    match &v.kind {
        Kind::Object(m) => Ok(m.clone()),
        _ => Err(format!("{what} must be a map, not {}", v.type_name())),
    }
}

/// HCL equality: numbers by value, collections element by element; spans ignored.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Bool(x), Kind::Bool(y)) => x == y,
        (Kind::Number(x), Kind::Number(y)) => x.parse::<f64>().ok() == y.parse::<f64>().ok(),
        (Kind::String(x), Kind::String(y)) => x == y,
        (Kind::Array(x), Kind::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Kind::Object(x), Kind::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|m| {
                    y.iter()
                        .any(|o| o.key == m.key && equal(&m.value, &o.value))
                })
        }
        _ => false,
    }
}

pub(super) fn arity(args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "{want} argument{} required, {} given",
            if want == 1 { "" } else { "s" },
            args.len()
        ));
    }
    Ok(())
}

fn sorted_members(mut m: Vec<Member>) -> Vec<Member> {
    m.sort_by(|a, b| a.key.cmp(&b.key));
    m
}

/// Calls function `name`.
pub fn call(name: &str, args: Vec<Value>, facts: &Facts) -> R {
    if let Some(r) = super::net::call(name, &args) {
        return r;
    }
    let a = &args;
    let one = |what: &str| -> Result<String, String> {
        arity(a, 1)?;
        string(&a[0], what)
    };
    match name {
        // Numbers.
        "abs" => {
            arity(a, 1)?;
            n(to_f64(&a[0])?.abs())
        }
        "ceil" => {
            arity(a, 1)?;
            n(to_f64(&a[0])?.ceil())
        }
        "floor" => {
            arity(a, 1)?;
            n(to_f64(&a[0])?.floor())
        }
        "signum" => {
            arity(a, 1)?;
            {
                let x = to_f64(&a[0])?;
                n(if x == 0.0 { 0.0 } else { x.signum() })
            }
        }
        "pow" => {
            arity(a, 2)?;
            n(to_f64(&a[0])?.powf(to_f64(&a[1])?))
        }
        "log" => {
            arity(a, 2)?;
            n(to_f64(&a[0])?.log(to_f64(&a[1])?))
        }
        "max" | "min" => {
            if a.is_empty() {
                return Err("at least one number is required".into());
            }
            let xs = a.iter().map(to_f64).collect::<Result<Vec<_>, _>>()?;
            let pick = if name == "max" { f64::max } else { f64::min };
            n(xs.into_iter().reduce(pick).unwrap_or(0.0))
        }
        "parseint" => {
            arity(a, 2)?;
            let text = string(&a[0], "number")?;
            let base = to_f64(&a[1])? as u32;
            if !(2..=62).contains(&base) {
                return Err("base must be between 2 and 62".into());
            }
            n(parse_radix(&text, base)
                .ok_or_else(|| format!("cannot parse \"{text}\" as a base {base} integer"))?)
        }
        // Strings.
        "upper" => s(one("string")?.to_uppercase()),
        "lower" => s(one("string")?.to_lowercase()),
        "title" => {
            // Every letter that follows a non-letter is upper-cased, as Go's strings.Title.
            let mut out = String::new();
            let mut after_letter = false;
            for c in one("string")?.chars() {
                if after_letter {
                    out.push(c);
                } else {
                    out.extend(c.to_uppercase());
                }
                after_letter = c.is_alphanumeric();
            }
            s(out)
        }
        "chomp" => s(one("string")?.trim_end_matches(['\n', '\r']).to_string()),
        "trimspace" => s(one("string")?.trim().to_string()),
        "strrev" => s(one("string")?.chars().rev().collect::<String>()),
        "trim" => {
            arity(a, 2)?;
            let cut: Vec<char> = string(&a[1], "cutset")?.chars().collect();
            s(string(&a[0], "string")?
                .trim_matches(cut.as_slice())
                .to_string())
        }
        "trimprefix" => {
            arity(a, 2)?;
            let (t, p) = (string(&a[0], "string")?, string(&a[1], "prefix")?);
            s(t.strip_prefix(&p).unwrap_or(&t).to_string())
        }
        "trimsuffix" => {
            arity(a, 2)?;
            let (t, p) = (string(&a[0], "string")?, string(&a[1], "suffix")?);
            s(t.strip_suffix(&p).unwrap_or(&t).to_string())
        }
        "indent" => {
            arity(a, 2)?;
            let count = to_f64(&a[0])?;
            if !(0.0..=MAX_PAD as f64).contains(&count) {
                return Err(format!(
                    "the number of spaces must be between 0 and {MAX_PAD}"
                ));
            }
            let pad = " ".repeat(count as usize);
            s(string(&a[1], "string")?.replace('\n', &format!("\n{pad}")))
        }
        "replace" => {
            arity(a, 3)?;
            let (t, from, to) = (
                string(&a[0], "string")?,
                string(&a[1], "substr")?,
                string(&a[2], "replace")?,
            );
            s(t.replace(&from, &to))
        }
        "regex_replace" => {
            arity(a, 3)?;
            let (t, re, to) = (
                string(&a[0], "string")?,
                string(&a[1], "pattern")?,
                string(&a[2], "replace")?,
            );
            s(regex(&re)?
                .replace_all(&t, go_replacement(&to).as_str())
                .into_owned())
        }
        "regex" | "regexall" => {
            arity(a, 2)?;
            let (re, t) = (regex(&string(&a[0], "pattern")?)?, string(&a[1], "string")?);
            let one = |c: regex_lite::Captures| -> Value {
                let names: Vec<Option<&str>> = re.capture_names().collect();
                if names.iter().skip(1).any(Option::is_some) {
                    Value::new(Kind::Object(
                        names
                            .iter()
                            .enumerate()
                            .filter_map(|(i, n)| {
                                n.map(|n| Member {
                                    key: n.to_string(),
                                    key_span: None,
                                    value: Value::string(
                                        c.get(i).map(|m| m.as_str()).unwrap_or(""),
                                    ),
                                })
                            })
                            .collect(),
                    ))
                } else if names.len() > 1 {
                    Value::new(Kind::Array(
                        (1..names.len())
                            .map(|i| Value::string(c.get(i).map(|m| m.as_str()).unwrap_or("")))
                            .collect(),
                    ))
                } else {
                    Value::string(c.get(0).map(|m| m.as_str()).unwrap_or(""))
                }
            };
            if name == "regexall" {
                list(re.captures_iter(&t).map(one).collect())
            } else {
                re.captures(&t)
                    .map(one)
                    .ok_or_else(|| "pattern did not match any part of the given string".into())
            }
        }
        "substr" => {
            arity(a, 3)?;
            let t: Vec<char> = string(&a[0], "string")?.chars().collect();
            let off = to_f64(&a[1])? as i64;
            let len = to_f64(&a[2])? as i64;
            let start = if off < 0 {
                (t.len() as i64 + off).max(0)
            } else {
                off.min(t.len() as i64)
            } as usize;
            let end = if len < 0 {
                t.len()
            } else {
                (start + len as usize).min(t.len())
            };
            s(t[start..end].iter().collect::<String>())
        }
        "join" => {
            if a.len() < 2 {
                return Err("a separator and at least one list are required".into());
            }
            let sep = string(&a[0], "separator")?;
            let mut parts = vec![];
            for l in &a[1..] {
                for x in items(l, "lists")? {
                    parts.push(string(&x, "element")?);
                }
            }
            s(parts.join(&sep))
        }
        "split" => {
            arity(a, 2)?;
            let (sep, t) = (string(&a[0], "separator")?, string(&a[1], "string")?);
            if sep.is_empty() {
                // As Go: every character apart.
                return list(t.chars().map(|c| Value::string(c.to_string())).collect());
            }
            list(t.split(sep.as_str()).map(Value::string).collect())
        }
        "format" => {
            if a.is_empty() {
                return Err("a format string is required".into());
            }
            s(format_verbs(&string(&a[0], "format")?, &a[1..])?)
        }
        "formatlist" => {
            if a.is_empty() {
                return Err("a format string is required".into());
            }
            let f = string(&a[0], "format")?;
            let len = a[1..]
                .iter()
                .filter_map(|x| match &x.kind {
                    Kind::Array(v) => Some(v.len()),
                    _ => None,
                })
                .max()
                .unwrap_or(1);
            let mut out = vec![];
            for i in 0..len {
                let row: Vec<Value> = a[1..]
                    .iter()
                    .map(|x| match &x.kind {
                        Kind::Array(v) => v.get(i).cloned().unwrap_or(Value::new(Kind::Null)),
                        _ => x.clone(),
                    })
                    .collect();
                out.push(Value::string(format_verbs(&f, &row)?));
            }
            list(out)
        }
        // Collections.
        "length" => {
            arity(a, 1)?;
            n(match &a[0].kind {
                Kind::Array(v) => v.len(),
                Kind::Object(m) => m.len(),
                Kind::String(t) => t.chars().count(),
                _ => return Err(format!("cannot take the length of {}", a[0].type_name())),
            } as f64)
        }
        "concat" => {
            let mut out = vec![];
            for l in a {
                out.extend(items(l, "arguments")?);
            }
            list(out)
        }
        "contains" => {
            arity(a, 2)?;
            b(items(&a[0], "list")?.iter().any(|x| equal(x, &a[1])))
        }
        // Functions of later Packer releases.
        "strcontains" => {
            arity(a, 2)?;
            b(string(&a[0], "string")?.contains(&string(&a[1], "substring")?))
        }
        "startswith" => {
            arity(a, 2)?;
            b(string(&a[0], "string")?.starts_with(&string(&a[1], "prefix")?))
        }
        "endswith" => {
            arity(a, 2)?;
            b(string(&a[0], "string")?.ends_with(&string(&a[1], "suffix")?))
        }
        "alltrue" | "anytrue" => {
            arity(a, 1)?;
            let mut truths = vec![];
            for x in items(&a[0], "list")? {
                truths.push(match &x.kind {
                    Kind::Bool(v) => *v,
                    Kind::String(t) if t == "true" || t == "false" => t == "true",
                    _ => {
                        return Err(format!(
                            "a list of bools is required, not {}",
                            x.type_name()
                        ))
                    }
                });
            }
            b(if name == "alltrue" {
                truths.iter().all(|t| *t)
            } else {
                truths.iter().any(|t| *t)
            })
        }
        "sum" => {
            arity(a, 1)?;
            let xs = items(&a[0], "list")?;
            if xs.is_empty() {
                return Err("cannot sum an empty list".into());
            }
            n(xs.iter().map(to_f64).sum::<Result<f64, _>>()?)
        }
        "one" => {
            arity(a, 1)?;
            let xs = items(&a[0], "list")?;
            match xs.len() {
                0 => Ok(Value::new(Kind::Null)),
                1 => Ok(xs[0].clone()),
                k => Err(format!(
                    "must be a list with no more than one element, not {k}"
                )),
            }
        }
        "transpose" => {
            arity(a, 1)?;
            let mut out: Vec<Member> = vec![];
            for m in members(&a[0], "map")? {
                for v in items(&m.value, "each value")? {
                    let key = string(&v, "each element")?;
                    let entry = Value::string(m.key.clone());
                    match out.iter_mut().find(|o| o.key == key) {
                        Some(Member {
                            value:
                                Value {
                                    kind: Kind::Array(vs),
                                    ..
                                },
                            ..
                        }) => vs.push(entry),
                        _ => out.push(Member {
                            key,
                            key_span: None,
                            value: Value::new(Kind::Array(vec![entry])),
                        }),
                    }
                }
            }
            for m in &mut out {
                if let Kind::Array(vs) = &mut m.value.kind {
                    vs.sort_by_key(|v| string(v, "").unwrap_or_default());
                }
            }
            Ok(Value::new(Kind::Object(sorted_members(out))))
        }
        "matchkeys" => {
            arity(a, 3)?;
            let values = items(&a[0], "values")?;
            let keys = items(&a[1], "keys")?;
            let search = items(&a[2], "searchset")?;
            if values.len() != keys.len() {
                return Err("length of keys and values should be equal".into());
            }
            list(
                values
                    .into_iter()
                    .zip(keys)
                    .filter(|(_, k)| search.iter().any(|x| equal(x, k)))
                    .map(|(v, _)| v)
                    .collect(),
            )
        }
        "textencodebase64" | "textdecodebase64" => {
            use base64::Engine;
            arity(a, 2)?;
            let text = string(&a[0], "string")?;
            let enc = string(&a[1], "encoding")?
                .to_ascii_uppercase()
                .replace('_', "-");
            let utf16 = match enc.as_str() {
                "UTF-8" | "UTF8" => false,
                "UTF-16LE" | "UTF16LE" => true,
                other => {
                    return Err(format!(
                        "kiln encodes text as UTF-8 or UTF-16LE, not \"{other}\""
                    ))
                }
            };
            let engine = base64::engine::general_purpose::STANDARD;
            if name == "textencodebase64" {
                let bytes: Vec<u8> = if utf16 {
                    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
                } else {
                    text.into_bytes()
                };
                s(engine.encode(bytes))
            } else {
                let bytes = engine
                    .decode(text.trim())
                    .map_err(|e| format!("invalid base64: {e}"))?;
                if utf16 {
                    if bytes.len() % 2 != 0 {
                        return Err("the decoded bytes are not UTF-16LE".into());
                    }
                    let units: Vec<u16> = bytes
                        .chunks(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units)
                        .map(Value::string)
                        .map_err(|_| "the decoded bytes are not UTF-16LE".into())
                } else {
                    String::from_utf8(bytes)
                        .map(Value::string)
                        .map_err(|_| "the decoded bytes are not UTF-8".into())
                }
            }
        }
        "legacy_isotime" => s(crate::interp::timefmt::go_layout(
            &facts.init_time,
            &one("format")?,
        )),
        "legacy_strftime" => s(crate::interp::timefmt::strftime(
            &facts.init_time,
            &one("format")?,
        )),
        "distinct" => {
            arity(a, 1)?;
            let mut out: Vec<Value> = vec![];
            for x in items(&a[0], "list")? {
                if !out.iter().any(|o| equal(o, &x)) {
                    out.push(x);
                }
            }
            list(out)
        }
        "compact" => {
            arity(a, 1)?;
            list(
                items(&a[0], "list")?
                    .into_iter()
                    .filter(|x| {
                        !matches!(&x.kind, Kind::String(t) if t.is_empty())
                            && !matches!(x.kind, Kind::Null)
                    })
                    .collect(),
            )
        }
        "element" => {
            arity(a, 2)?;
            let l = items(&a[0], "list")?;
            if l.is_empty() {
                return Err("cannot use element function with an empty list".into());
            }
            Ok(l[to_f64(&a[1])? as usize % l.len()].clone())
        }
        "index" => {
            arity(a, 2)?;
            items(&a[0], "list")?
                .iter()
                .position(|x| equal(x, &a[1]))
                .map(|i| Value::new(Kind::Number(i.to_string())))
                .ok_or_else(|| "item not found".to_string())
        }
        "flatten" => {
            arity(a, 1)?;
            fn flat(v: Vec<Value>, out: &mut Vec<Value>) {
                for x in v {
                    match x.kind {
                        Kind::Array(inner) => flat(inner, out),
                        _ => out.push(x),
                    }
                }
            }
            let mut out = vec![];
            flat(items(&a[0], "list")?, &mut out);
            list(out)
        }
        "reverse" => {
            arity(a, 1)?;
            list(items(&a[0], "list")?.into_iter().rev().collect())
        }
        "sort" => {
            arity(a, 1)?;
            let mut l = items(&a[0], "list")?
                .iter()
                .map(|x| string(x, "element"))
                .collect::<Result<Vec<_>, _>>()?;
            l.sort();
            list(l.into_iter().map(Value::string).collect())
        }
        "slice" => {
            arity(a, 3)?;
            let l = items(&a[0], "list")?;
            let (from, to) = (to_f64(&a[1])? as usize, to_f64(&a[2])? as usize);
            if from > to || to > l.len() {
                return Err(format!(
                    "the indices {from} and {to} are outside the list of {}",
                    l.len()
                ));
            }
            list(l[from..to].to_vec())
        }
        "chunklist" => {
            arity(a, 2)?;
            let size = (to_f64(&a[1])? as usize).max(1);
            list(
                items(&a[0], "list")?
                    .chunks(size)
                    .map(|c| Value::new(Kind::Array(c.to_vec())))
                    .collect(),
            )
        }
        "range" => {
            let xs = a.iter().map(to_f64).collect::<Result<Vec<_>, _>>()?;
            let (start, end, step) = match xs.as_slice() {
                [e] => (0.0, *e, 1.0),
                [s0, e] => (*s0, *e, if e >= s0 { 1.0 } else { -1.0 }),
                [s0, e, st] => (*s0, *e, *st),
                _ => return Err("1 to 3 arguments required".into()),
            };
            if step == 0.0 {
                return Err("step must not be zero".into());
            }
            let mut out = vec![];
            // Each value from the start (not summed), compared at 15 digits: range(0, 1, 0.1)
            // has ten values, as in HCL.
            let round = |x: f64| format_number(x).parse::<f64>().unwrap_or(x);
            for i in 0.. {
                let x = round(start + i as f64 * step);
                if !((step > 0.0 && x < end) || (step < 0.0 && x > end)) {
                    break;
                }
                if out.len() >= 1024 {
                    return Err("more than 1024 values".into());
                }
                out.push(Value::new(super::eval::number(x)));
            }
            list(out)
        }
        "keys" => {
            arity(a, 1)?;
            list(
                sorted_members(members(&a[0], "argument")?)
                    .into_iter()
                    .map(|m| Value::string(m.key))
                    .collect(),
            )
        }
        "values" => {
            arity(a, 1)?;
            list(
                sorted_members(members(&a[0], "argument")?)
                    .into_iter()
                    .map(|m| m.value)
                    .collect(),
            )
        }
        "lookup" => {
            if !(2..=3).contains(&a.len()) {
                return Err("2 or 3 arguments required".into());
            }
            let key = string(&a[1], "key")?;
            match members(&a[0], "map")?.into_iter().find(|m| m.key == key) {
                Some(m) => Ok(m.value),
                None => a
                    .get(2)
                    .cloned()
                    .ok_or_else(|| format!("the map has no key \"{key}\"")),
            }
        }
        "merge" => {
            let mut out: Vec<Member> = vec![];
            for x in a {
                if matches!(x.kind, Kind::Null) {
                    continue;
                }
                for m in members(x, "arguments")? {
                    out.retain(|o| o.key != m.key);
                    out.push(m);
                }
            }
            Ok(Value::new(Kind::Object(out)))
        }
        "zipmap" => {
            arity(a, 2)?;
            let (k, v) = (items(&a[0], "keys")?, items(&a[1], "values")?);
            if k.len() != v.len() {
                return Err("the lists of keys and values must be as long".into());
            }
            let m = k
                .iter()
                .zip(v)
                .map(|(k, v)| {
                    Ok(Member {
                        key: string(k, "key")?,
                        key_span: None,
                        value: v,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Value::new(Kind::Object(m)))
        }
        "coalesce" => a
            .iter()
            .find(|x| {
                !matches!(&x.kind, Kind::Null)
                    && !matches!(&x.kind, Kind::String(t) if t.is_empty())
            })
            .cloned()
            .ok_or_else(|| "no non-null, non-empty-string arguments".into()),
        "coalescelist" => a
            .iter()
            .find(|x| matches!(&x.kind, Kind::Array(v) if !v.is_empty()))
            .cloned()
            .ok_or_else(|| "no non-empty list arguments".into()),
        "setunion" | "setintersection" => {
            let sets = a
                .iter()
                .map(|x| items(x, "sets"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: Vec<Value> = vec![];
            for x in sets.iter().flatten() {
                let keep = name == "setunion" || sets.iter().all(|s| s.iter().any(|y| equal(x, y)));
                if keep && !out.iter().any(|o| equal(o, x)) {
                    out.push(x.clone());
                }
            }
            list(out)
        }
        // Encoding.
        "jsonencode" => {
            arity(a, 1)?;
            s(sorted_json(a[0].to_json()).to_string())
        }
        "jsondecode" => {
            let t = one("string")?;
            serde_json::from_str::<serde_json::Value>(&t)
                .map(|j| Value::from_json(&j))
                .map_err(|e| format!("invalid JSON: {e}"))
        }
        "base64encode" => {
            use base64::Engine;
            s(base64::engine::general_purpose::STANDARD.encode(one("string")?))
        }
        "base64decode" => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(one("string")?.trim())
                .map_err(|e| format!("invalid base64: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::string)
                .map_err(|_| "the decoded bytes are not UTF-8".into())
        }
        "urlencode" => s(one("string")?
            .bytes()
            .map(|c| match c {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (c as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{c:02X}"),
            })
            .collect::<String>()),
        // Hashes and ids.
        "sha1" => {
            use sha1::Digest;
            s(hex(&sha1::Sha1::digest(one("string")?.as_bytes())))
        }
        "sha256" => {
            use sha2::Digest;
            s(hex(&sha2::Sha256::digest(one("string")?.as_bytes())))
        }
        "rsadecrypt" => {
            arity(a, 2)?;
            s(super::rsadecrypt::decrypt(
                &string(&a[0], "ciphertext")?,
                &string(&a[1], "privatekey")?,
            )?)
        }
        "yamldecode" => super::yaml::decode(&one("src")?),
        "yamlencode" => {
            arity(a, 1)?;
            s(super::yaml::encode(&a[0])?)
        }
        "bcrypt" => {
            let cost = match a.len() {
                1 => super::bcrypt::DEFAULT_COST,
                2 => {
                    // Go: below the least cost, the default; above the most, an error.
                    let c = to_f64(&a[1])?;
                    if c.fract() != 0.0 {
                        return Err(format!("the cost must be a whole number, not {c}"));
                    }
                    if c > 31.0 {
                        return Err(format!("error occured generating password crypto/bcrypt: cost {c} is outside allowed range (4,31)"));
                    }
                    c.max(0.0) as u32
                }
                0 => return Err("bcrypt takes a string and, optionally, a cost".into()),
                _ => return Err("bcrypt() takes no more than two arguments".into()),
            };
            s(super::bcrypt::generate(&string(&a[0], "str")?, cost)?)
        }
        "sha512" => {
            use sha2::Digest;
            s(hex(&sha2::Sha512::digest(one("string")?.as_bytes())))
        }
        "md5" => {
            use md5::Digest;
            s(hex(&md5::Md5::digest(one("string")?.as_bytes())))
        }
        // Secret stores: what they return is masked in all output by the stores themselves.
        "vault" | "consul_key" | "aws_secretsmanager" => {
            let stores = crate::secrets::stores()
                .ok_or_else(|| format!("the {name} function is not available in this program"))?;
            let text = a
                .iter()
                .map(|x| match &x.kind {
                    Kind::Null => Ok(String::new()),
                    _ => string(x, "argument"),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let value = match name {
                "vault" => {
                    arity(a, 2)?;
                    stores.vault(&text[0], &text[1])
                }
                "consul_key" => {
                    arity(a, 1)?;
                    stores.consul_key(&text[0])
                }
                _ => match text.as_slice() {
                    [secret] => stores.aws_secret(secret, ""),
                    [secret, key] => stores.aws_secret(secret, key),
                    _ => return Err("a secret name and an optional key are required".into()),
                },
            };
            value.map(Value::string)
        }
        "setproduct" => {
            let sets = a
                .iter()
                .map(|x| items(x, "sets"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: Vec<Vec<Value>> = vec![vec![]];
            for set in &sets {
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        set.iter().map(move |x| {
                            let mut p = prefix.clone();
                            p.push(x.clone());
                            p
                        })
                    })
                    .collect();
                if out.len() > 10_000 {
                    return Err("the product has more than 10000 elements".into());
                }
            }
            list(
                out.into_iter()
                    .map(|p| Value::new(Kind::Array(p)))
                    .collect(),
            )
        }
        "uuidv5" => {
            arity(a, 2)?;
            s(uuid_v5(
                &string(&a[0], "namespace")?,
                &string(&a[1], "name")?,
            )?)
        }
        "csvdecode" => {
            let rows = csv_rows(&one("string")?)?;
            let Some((header, rest)) = rows.split_first() else {
                return list(vec![]);
            };
            let mut out = vec![];
            for (i, row) in rest.iter().enumerate() {
                if row.len() != header.len() {
                    return Err(format!(
                        "line {}: {} fields, the header has {}",
                        i + 2,
                        row.len(),
                        header.len()
                    ));
                }
                out.push(Value::new(Kind::Object(
                    header
                        .iter()
                        .zip(row)
                        .map(|(k, v)| Member {
                            key: k.clone(),
                            key_span: None,
                            value: Value::string(v),
                        })
                        .collect(),
                )));
            }
            list(out)
        }
        "fileset" => {
            arity(a, 2)?;
            let base = facts.template_dir.join(string(&a[0], "path")?);
            let pattern = string(&a[1], "pattern")?;
            let mut found = vec![];
            walk(&base, &base, &mut found, 0);
            found.retain(|rel| path_glob(&pattern, rel));
            found.sort();
            list(found.into_iter().map(Value::string).collect())
        }
        "uuidv4" => {
            arity(a, 0)?;
            s(uuid::Uuid::new_v4().to_string())
        }
        // Files.
        "file" => {
            let p = facts.template_dir.join(one("path")?);
            std::fs::read_to_string(&p)
                .map(Value::string)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        }
        "fileexists" => b(facts.template_dir.join(one("path")?).is_file()),
        "abspath" => s(facts.cwd.join(one("path")?).display().to_string()),
        "basename" => s(std::path::Path::new(&one("path")?)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()),
        "dirname" => {
            let p = one("path")?;
            s(match std::path::Path::new(&p).parent() {
                Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
                _ => ".".to_string(),
            })
        }
        "pathexpand" => {
            let p = one("path")?;
            let home = std::env::var("HOME").unwrap_or_default();
            s(match p.strip_prefix('~') {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
                _ => p,
            })
        }
        "env" => s(std::env::var(one("name")?).unwrap_or_default()),
        // Time.
        "timestamp" => {
            arity(a, 0)?;
            s(facts.init_time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        "formatdate" => {
            arity(a, 2)?;
            let t = string(&a[1], "timestamp")?;
            let t = DateTime::parse_from_rfc3339(&t)
                .map_err(|_| format!("\"{t}\" is not an RFC 3339 timestamp"))?;
            s(super::timefmt::formatdate(&string(&a[0], "format")?, &t)?)
        }
        "timeadd" => {
            arity(a, 2)?;
            let t = string(&a[0], "timestamp")?;
            let t = DateTime::parse_from_rfc3339(&t)
                .map_err(|_| format!("\"{t}\" is not an RFC 3339 timestamp"))?;
            let text = string(&a[1], "duration")?;
            let (back, text) = match text.strip_prefix('-') {
                Some(rest) => (true, rest.to_string()),
                None => (false, text.trim_start_matches('+').to_string()),
            };
            let d = crate::duration::parse_go_duration(&text).map_err(|e| e.to_string())?;
            let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
            let t = if back { t - d } else { t + d };
            s(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        // Conversions.
        "tostring" => {
            arity(a, 1)?;
            s(string(&a[0], "argument")?)
        }
        "tonumber" => {
            arity(a, 1)?;
            n(to_f64(&a[0])?)
        }
        "tobool" => {
            arity(a, 1)?;
            match &a[0].kind {
                Kind::Bool(x) => b(*x),
                Kind::String(t) if t == "true" => b(true),
                Kind::String(t) if t == "false" => b(false),
                _ => Err(format!("cannot convert {} to bool", a[0].type_name())),
            }
        }
        "tolist" | "toset" => {
            arity(a, 1)?;
            list(items(&a[0], "argument")?)
        }
        "tomap" => {
            arity(a, 1)?;
            Ok(Value::new(Kind::Object(members(&a[0], "argument")?)))
        }
        _ => Err(format!("there is no function named \"{name}\"")),
    }
}
