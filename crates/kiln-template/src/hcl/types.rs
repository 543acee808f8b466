//! A variable's `type` constraint (`string`, `number`, `bool`, `list(T)`, `map(T)`,
//! `object({...})`, `any`, …) and HCL's conversions into it.

use super::funcs::{format_number, to_f64};
use crate::value::{Kind, Member, Value};
use hcl_edit::expr::{Expression, ObjectKey};

/// A type constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `any`, or no `type`.
    Any,
    /// `string`
    String,
    /// `number`
    Number,
    /// `bool`
    Bool,
    /// `list(T)`, `set(T)`
    List(Box<Ty>),
    /// `map(T)`
    Map(Box<Ty>),
    /// `object({ name = T, ... })`
    Object(Vec<(String, Ty)>),
    /// `tuple([T, ...])`
    Tuple(Vec<Ty>),
}

impl Ty {
    /// Reads a type expression.
    pub fn parse(e: &Expression) -> Result<Ty, String> {
        match e {
            Expression::Variable(v) => match v.as_str() {
                "any" => Ok(Ty::Any),
                "string" => Ok(Ty::String),
                "number" => Ok(Ty::Number),
                "bool" => Ok(Ty::Bool),
                other => Err(format!("\"{other}\" is not a type (string, number, bool, list(...), map(...), object(...), any)")),
            },
            Expression::FuncCall(f) => {
                let args: Vec<&Expression> = f.args.iter().collect();
                let [arg] = args[..] else {
                    return Err(format!("{}(...) takes one argument", f.name.name.as_str()));
                };
                match f.name.name.as_str() {
                    "list" | "set" => Ok(Ty::List(Box::new(Ty::parse(arg)?))),
                    "map" => Ok(Ty::Map(Box::new(Ty::parse(arg)?))),
                    "object" => match arg {
                        Expression::Object(o) => o
                            .iter()
                            .map(|(k, v)| {
                                let key = match k {
                                    ObjectKey::Ident(i) => i.as_str().to_string(),
                                    ObjectKey::Expression(x) => x
                                        .as_str()
                                        .ok_or("an object type's attribute names must be names")?
                                        .to_string(),
                                };
                                Ok((key, Ty::parse(v.expr())?))
                            })
                            .collect::<Result<_, String>>()
                            .map(Ty::Object),
                        _ => Err("object(...) takes { name = type, ... }".into()),
                    },
                    "tuple" => match arg {
                        Expression::Array(a) => {
                            a.iter().map(Ty::parse).collect::<Result<_, _>>().map(Ty::Tuple)
                        }
                        _ => Err("tuple(...) takes [type, ...]".into()),
                    },
                    other => Err(format!("\"{other}\" is not a type constructor")),
                }
            }
            _ => Err("a type is a name such as string, or list(string)".into()),
        }
    }

    /// Whether a value given as text on the command line (or in `PKR_VAR_`) is taken as is
    /// (`string`) or read as an HCL expression.
    pub fn takes_raw_text(&self) -> bool {
        matches!(self, Ty::String | Ty::Any)
    }

    /// Converts `v` to this type, as HCL does (numbers and bools to strings and back).
    pub fn convert(&self, v: Value) -> Result<Value, String> {
        let span = v.span.clone();
        let kind = match (self, v.kind) {
            (Ty::Any, k) => k,
            (_, Kind::Null) => Kind::Null,
            (Ty::String, Kind::String(s)) => Kind::String(s),
            (Ty::String, Kind::Number(n)) => Kind::String(n),
            (Ty::String, Kind::Bool(b)) => Kind::String(b.to_string()),
            (Ty::Number, k @ Kind::Number(_)) => k,
            (Ty::Number, Kind::String(s)) => {
                let f = to_f64(&Value::string(s.clone()))?;
                Kind::Number(format_number(f))
            }
            (Ty::Bool, Kind::Bool(b)) => Kind::Bool(b),
            (Ty::Bool, Kind::String(s)) if s == "true" || s == "false" => Kind::Bool(s == "true"),
            (Ty::List(t), Kind::Array(items)) => Kind::Array(
                items
                    .into_iter()
                    .map(|x| t.convert(x))
                    .collect::<Result<_, _>>()?,
            ),
            (Ty::Tuple(ts), Kind::Array(items)) if ts.len() == items.len() => Kind::Array(
                ts.iter()
                    .zip(items)
                    .map(|(t, x)| t.convert(x))
                    .collect::<Result<_, _>>()?,
            ),
            (Ty::Map(t), Kind::Object(ms)) => Kind::Object(
                ms.into_iter()
                    .map(|m| {
                        Ok(Member {
                            value: t.convert(m.value)?,
                            ..m
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
            (Ty::Object(attrs), Kind::Object(ms)) => {
                let mut out = vec![];
                for (name, t) in attrs {
                    let m = ms
                        .iter()
                        .find(|m| &m.key == name)
                        .ok_or_else(|| format!("attribute \"{name}\" is required"))?;
                    out.push(Member {
                        value: t.convert(m.value.clone())?,
                        ..m.clone()
                    });
                }
                Kind::Object(out)
            }
            (t, k) => {
                return Err(format!(
                    "{} required, not {}",
                    t.describe(),
                    Value::new(k).type_name()
                ))
            }
        };
        Ok(Value { kind, span })
    }

    fn describe(&self) -> String {
        match self {
            Ty::Any => "any value".into(),
            Ty::String => "a string".into(),
            Ty::Number => "a number".into(),
            Ty::Bool => "a bool".into(),
            Ty::List(t) => format!("a list of {}", t.describe()),
            Ty::Map(t) => format!("a map of {}", t.describe()),
            Ty::Object(_) => "an object".into(),
            Ty::Tuple(_) => "a tuple".into(),
        }
    }
}
