//! One value model for every template syntax: JSON-like data where each node remembers where it
//! was written, so any later error (an unknown key, a bad type) can point at the file.

use crate::source::Span;

/// A template value with its source location (none for values from flags or defaults).
#[derive(Debug, Clone)]
pub struct Value {
    /// The data.
    pub kind: Kind,
    /// Where it was written.
    pub span: Option<Span>,
}

/// The data of a [`Value`].
#[derive(Debug, Clone)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, kept as written so integers stay exact.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, in the order written.
    Object(Vec<Member>),
}

/// One `key: value` of an object.
#[derive(Debug, Clone)]
pub struct Member {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_span: Option<Span>,
    /// The value.
    pub value: Value,
}

impl Value {
    /// A value with no location.
    pub fn new(kind: Kind) -> Value {
        Value { kind, span: None }
    }

    /// A string value with no location.
    pub fn string(s: impl Into<String>) -> Value {
        Value::new(Kind::String(s.into()))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The member named `key`, if this is an object holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.member(key).map(|m| &m.value)
    }

    /// The whole member named `key`.
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.as_object()?.iter().find(|m| m.key == key)
    }

    /// Removes and returns the member named `key` from an object.
    pub fn remove(&mut self, key: &str) -> Option<Member> {
        match &mut self.kind {
            Kind::Object(members) => {
                let i = members.iter().position(|m| m.key == key)?;
                Some(members.remove(i))
            }
            _ => None,
        }
    }

    /// A short name of the kind, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    /// Sets (or replaces) `key` in an object; shallow, as Packer's `override` merge.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Kind::Object(members) = &mut self.kind {
            if let Some(m) = members.iter_mut().find(|m| m.key == key) {
                m.value = value;
            } else {
                members.push(Member {
                    key: key.to_string(),
                    key_span: None,
                    value,
                });
            }
        }
    }

    /// Applies `f` to every string in the tree, in place; stops at the first error.
    pub fn try_map_strings<E>(
        &mut self,
        f: &mut impl FnMut(&str, Option<&Span>) -> Result<String, E>,
    ) -> Result<(), E> {
        match &mut self.kind {
            Kind::String(s) => {
                *s = f(s, self.span.as_ref())?;
            }
            Kind::Array(items) => {
                for v in items {
                    v.try_map_strings(f)?;
                }
            }
            Kind::Object(members) => {
                for m in members {
                    m.value.try_map_strings(f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Converts to `serde_json::Value` (spans dropped), for output such as `custom_data`.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Null => serde_json::Value::Null,
            Kind::Bool(b) => serde_json::Value::Bool(*b),
            Kind::Number(n) => serde_json::from_str(n).unwrap_or(serde_json::Value::Null),
            Kind::String(s) => serde_json::Value::String(s.clone()),
            Kind::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Kind::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|m| (m.key.clone(), m.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Converts from `serde_json::Value` (no spans).
    pub fn from_json(v: &serde_json::Value) -> Value {
        Value::new(match v {
            serde_json::Value::Null => Kind::Null,
            serde_json::Value::Bool(b) => Kind::Bool(*b),
            serde_json::Value::Number(n) => Kind::Number(n.to_string()),
            serde_json::Value::String(s) => Kind::String(s.clone()),
            serde_json::Value::Array(a) => Kind::Array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Kind::Object(
                o.iter()
                    .map(|(k, v)| Member {
                        key: k.clone(),
                        key_span: None,
                        value: Value::from_json(v),
                    })
                    .collect(),
            ),
        })
    }
}
