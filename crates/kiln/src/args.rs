//! Go `flag`-style argument parsing, as Packer's commands accept it: `-name value`,
//! `-name=value`, `--name`, boolean flags without a value, repeatable flags, and the first
//! non-flag argument ending the options.

use std::collections::BTreeMap;

/// What a flag takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-force`, `-force=false`
    Bool,
    /// `-only=a,b`
    Value,
    /// `-var k=v -var k2=v2`
    Repeated,
}

/// Parsed flags and positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    values: BTreeMap<String, Vec<String>>,
    /// Arguments after the flags.
    pub positional: Vec<String>,
}

impl Parsed {
    /// A boolean flag's value.
    pub fn bool(&self, name: &str, default: bool) -> bool {
        match self.values.get(name).and_then(|v| v.last()) {
            None => default,
            Some(v) => v == "true",
        }
    }

    /// A single-valued flag's last value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeated flag.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A comma-separated list flag (`-only=a,b`).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.value(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// [`parse`] for a command that takes one path: the flags and the path, or (having printed
/// the mistake and `usage`) the exit code 1.
pub fn parse_one(
    args: &[String],
    table: &[(&str, Kind)],
    usage: &str,
) -> Result<(Parsed, String), u8> {
    let flags = parse(args, table).map_err(|e| {
        eprintln!("{e}\n\n{usage}");
        1u8
    })?;
    match flags.positional.as_slice() {
        [path] => {
            let path = path.clone();
            Ok((flags, path))
        }
        _ => {
            eprint!("{usage}");
            Err(1)
        }
    }
}

/// Parses `args` against the flag table.
pub fn parse(args: &[String], table: &[(&str, Kind)]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            p.positional.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            p.positional.extend(args[i..].iter().cloned());
            break;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some((_, kind)) = table.iter().find(|(n, _)| *n == name) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let value = match (kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => match v.as_str() {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => "true".into(),
                "false" | "0" | "f" | "F" | "FALSE" | "False" => "false".into(),
                _ => return Err(format!("invalid boolean value \"{v}\" for -{name}")),
            },
            (_, Some(v)) => v,
            (_, None) => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: -{name}"))?
            }
        };
        p.values.entry(name.to_string()).or_default().push(value);
        i += 1;
    }
    Ok(p)
}

/// Splits `-var k=v`.
pub fn split_var(kv: &str) -> Result<(String, String), String> {
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("-var \"{kv}\": expected key=value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const T: &[(&str, Kind)] = &[
        ("force", Kind::Bool),
        ("only", Kind::Value),
        ("var", Kind::Repeated),
    ];

    #[test]
    fn go_flag_forms() {
        let p = parse(
            &s(&[
                "-force",
                "--only=a,b",
                "-var",
                "x=1",
                "-var=y=2",
                "t.json",
                "-force=false",
            ]),
            T,
        )
        .unwrap();
        assert!(p.bool("force", false));
        assert_eq!(p.list("only"), vec!["a", "b"]);
        assert_eq!(p.all("var"), &["x=1".to_string(), "y=2".to_string()]);
        assert_eq!(p.positional, vec!["t.json", "-force=false"]);
        assert!(!parse(&s(&["-force=false"]), T).unwrap().bool("force", true));
    }

    #[test]
    fn errors() {
        assert!(parse(&s(&["-nope"]), T)
            .unwrap_err()
            .contains("not defined: -nope"));
        assert!(parse(&s(&["-only"]), T)
            .unwrap_err()
            .contains("needs an argument"));
        assert!(split_var("novalue").is_err());
        assert_eq!(split_var("a=b=c").unwrap(), ("a".into(), "b=c".into()));
    }
}
