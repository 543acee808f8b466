//! Decoding plugin configuration from a [`Value`] with serde, the way Packer decodes it:
//! weakly typed (`"22"` fills an integer, `5` fills a string, a single value fills a list),
//! and strict about keys: an unknown key is an error naming the key, where it is, and the
//! nearest valid key.

use crate::diag::Diagnostic;
use crate::source::Span;
use crate::value::{Kind, Member, Value};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

/// Decodes `T` from `value`; errors say which key (as a dotted path) and where.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, Diagnostic> {
    T::deserialize(De {
        v: value,
        path: String::new(),
    })
    .map_err(DecodeError::into_diagnostic)
}

/// The nearest of `candidates` to `key`, if any is close enough to be a likely typo.
pub fn nearest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(key, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An error from decoding, located once the deserializer that caught it knows where it was.
#[derive(Debug)]
pub struct DecodeError {
    message: String,
    span: Option<Span>,
    path: Option<String>,
    hint: Option<String>,
}

impl DecodeError {
    fn into_diagnostic(self) -> Diagnostic {
        let message = match self.path {
            Some(p) if !p.is_empty() => format!("{p}: {}", self.message),
            _ => self.message,
        };
        Diagnostic {
            message,
            span: self.span,
            hint: self.hint,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            message: msg.to_string(),
            span: None,
            path: None,
            hint: None,
        }
    }
}

struct De<'a> {
    v: &'a Value,
    path: String,
}

impl<'a> De<'a> {
    fn locate(&self, mut e: DecodeError) -> DecodeError {
        if e.span.is_none() {
            e.span = self.v.span.clone();
        }
        if e.path.is_none() {
            e.path = Some(self.path.clone());
        }
        e
    }

    fn child(&self, v: &'a Value, key: &str) -> De<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else if key.starts_with('[') {
            format!("{}{key}", self.path)
        } else {
            format!("{}.{key}", self.path)
        };
        De { v, path }
    }

    fn type_error(&self, expected: &str) -> DecodeError {
        self.locate(de::Error::custom(format!(
            "expected {expected}, found {}",
            self.v.type_name()
        )))
    }

    fn int(&self) -> Result<i128, DecodeError> {
        let parsed = match &self.v.kind {
            Kind::Number(n) => n.parse::<i128>().ok().or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0)
                    .map(|f| f as i128)
            }),
            Kind::String(s) if s.trim().is_empty() => Some(0),
            Kind::String(s) => s.trim().parse::<i128>().ok(),
            Kind::Bool(b) => Some(*b as i128),
            Kind::Null => Some(0),
            _ => None,
        };
        parsed.ok_or_else(|| self.type_error("an integer"))
    }

    fn float(&self) -> Result<f64, DecodeError> {
        let parsed = match &self.v.kind {
            Kind::Number(n) => n.parse::<f64>().ok(),
            Kind::String(s) if s.trim().is_empty() => Some(0.0),
            Kind::String(s) => s.trim().parse::<f64>().ok(),
            Kind::Bool(b) => Some(*b as u8 as f64),
            Kind::Null => Some(0.0),
            _ => None,
        };
        parsed.ok_or_else(|| self.type_error("a number"))
    }

    fn string(&self) -> Result<String, DecodeError> {
        match &self.v.kind {
            Kind::String(s) => Ok(s.clone()),
            Kind::Number(n) => Ok(n.clone()),
            Kind::Bool(b) if self.v.span.as_ref().is_some_and(|s| s.src.hcl) => Ok(b.to_string()),
            Kind::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
            Kind::Null => Ok(String::new()),
            _ => Err(self.type_error("a string")),
        }
    }

    fn check_keys(
        &self,
        members: &[Member],
        fields: &'static [&'static str],
    ) -> Result<(), DecodeError> {
        for m in members {
            if !fields.contains(&m.key.as_str()) {
                let hint = nearest(&m.key, fields.iter().copied())
                    .map(|n| format!("did you mean \"{n}\"?"));
                return Err(DecodeError {
                    message: format!("unknown configuration key \"{}\"", m.key),
                    span: m.key_span.clone().or_else(|| self.v.span.clone()),
                    path: Some(self.path.clone()),
                    hint,
                });
            }
        }
        Ok(())
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let n = self.int()?;
            let n = <$ty>::try_from(n).map_err(|_| self.locate(de::Error::custom(
                format!("number {n} is out of range"))))?;
            visitor.$visit(n).map_err(|e| self.locate(e))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let r = match &self.v.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Number(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(u) = n.parse::<u64>() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.parse::<f64>().unwrap_or(f64::NAN))
                }
            }
            Kind::String(s) => visitor.visit_str(s),
            Kind::Array(items) => return self.seq(items, visitor),
            Kind::Object(members) => return self.map(members, visitor),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let b = match &self.v.kind {
            Kind::Bool(b) => Some(*b),
            Kind::Null => Some(false),
            Kind::Number(n) => n.parse::<f64>().ok().map(|f| f != 0.0),
            Kind::String(s) => match s.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
                "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
                _ => None,
            },
            _ => None,
        };
        let b = b.ok_or_else(|| self.type_error("a boolean"))?;
        visitor.visit_bool(b).map_err(|e| self.locate(e))
    }

    deserialize_int! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let f = self.float()?;
        visitor.visit_f64(f).map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let s = self.string()?;
        visitor.visit_string(s).map_err(|e| self.locate(e))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.v.kind {
            Kind::Null => visitor.visit_none().map_err(|e| self.locate(e)),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit().map_err(|e| self.locate(e))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.v.kind {
            Kind::Array(items) => self.seq(items, visitor),
            Kind::Null => self.seq(&[], visitor),
            // Weak typing: a single value where a list is expected is a list of one (an
            // object too: an HCL2 block written once, such as one
            // launch_block_device_mappings { ... }).
            _ => self.seq(std::slice::from_ref(self.v), visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.v.kind {
            Kind::Object(members) => self.map(members, visitor),
            Kind::Null => self.map(&[], visitor),
            _ => Err(self.type_error("an object")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.v.kind {
            Kind::Object(members) => {
                self.check_keys(members, fields)?;
                self.map(members, visitor)
            }
            Kind::Null => self.map(&[], visitor),
            _ => Err(self.type_error("an object")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let s = self.string()?;
        if !variants.contains(&s.as_str()) {
            let mut e: DecodeError = de::Error::custom(format!(
                "invalid value \"{s}\": expected one of {}",
                variants.join(", ")
            ));
            e.hint =
                nearest(&s, variants.iter().copied()).map(|n| format!("did you mean \"{n}\"?"));
            return Err(self.locate(e));
        }
        visitor
            .visit_enum(s.into_deserializer())
            .map_err(|e: DecodeError| self.locate(e))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }
}

impl<'a> De<'a> {
    fn seq<'de, V: Visitor<'de>>(
        &self,
        items: &'a [Value],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let access = SeqAccess {
            parent: self,
            items: items.iter().enumerate(),
        };
        visitor.visit_seq(access).map_err(|e| self.locate(e))
    }

    fn map<'de, V: Visitor<'de>>(
        &self,
        members: &'a [Member],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let access = MapAccess {
            parent: self,
            members: members.iter(),
            current: None,
        };
        visitor.visit_map(access).map_err(|e| self.locate(e))
    }
}

struct SeqAccess<'a, 'b> {
    parent: &'b De<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, v)) => seed
                .deserialize(self.parent.child(v, &format!("[{i}]")))
                .map(Some),
        }
    }
}

struct MapAccess<'a, 'b> {
    parent: &'b De<'a>,
    members: std::slice::Iter<'a, Member>,
    current: Option<&'a Member>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.members.next() {
            None => Ok(None),
            Some(m) => {
                self.current = Some(m);
                let key: de::value::StrDeserializer<DecodeError> =
                    m.key.as_str().into_deserializer();
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let m = self.current.take().expect("value after key");
        seed.deserialize(self.parent.child(&m.value, &m.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::source::Source;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        ssh_port: u16,
        #[serde(default)]
        name: String,
        #[serde(default)]
        inline: Vec<String>,
        #[serde(default)]
        enabled: bool,
        #[serde(default)]
        tags: BTreeMap<String, String>,
    }

    fn parse(text: &str) -> Value {
        json::parse(&Source::new("c.json", text)).unwrap()
    }

    #[test]
    fn weak_typing_like_packer() {
        let c: Cfg = decode(&parse(
            r#"{"ssh_port": "22", "name": 5, "inline": "echo hi", "enabled": "true", "tags": {"n": 1}}"#,
        ))
        .unwrap();
        assert_eq!(c.ssh_port, 22);
        assert_eq!(c.name, "5");
        assert_eq!(c.inline, vec!["echo hi"]);
        assert!(c.enabled);
        assert_eq!(c.tags["n"], "1");
    }

    #[test]
    fn unknown_key_names_key_location_and_nearest() {
        let d = decode::<Cfg>(&parse("{\"ssh_port\": 22,\n  \"ssh_prot\": 1}")).unwrap_err();
        assert!(
            d.message.contains("unknown configuration key \"ssh_prot\""),
            "{d}"
        );
        assert_eq!(d.span.as_ref().unwrap().line_col(), (2, 3));
        assert_eq!(d.hint.as_deref(), Some("did you mean \"ssh_port\"?"));
    }

    #[test]
    fn type_errors_name_the_path() {
        let d = decode::<Cfg>(&parse("{\"ssh_port\": \"abc\"}")).unwrap_err();
        assert!(
            d.message.starts_with("ssh_port: expected an integer"),
            "{d}"
        );
        let d = decode::<Cfg>(&parse("{\"ssh_port\": 70000}")).unwrap_err();
        assert!(d.message.contains("out of range"), "{d}");
        let d = decode::<Cfg>(&parse("{}")).unwrap_err();
        assert!(d.message.contains("missing field `ssh_port`"), "{d}");
    }
}

/// The field names a struct type accepts (its `Deserialize` impl's list), learned by asking it
/// to deserialize from a probe that records the list.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Found(&[])
        }
    }
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Decodes two configuration structs from one object (a builder's own options and its
/// communicator's). Every key must belong to one of them; an unknown key is reported as by
/// [`decode`], with the nearest key of either.
pub fn decode_split<A: DeserializeOwned, B: DeserializeOwned>(
    value: &Value,
) -> Result<(A, B), Diagnostic> {
    let (fa, fb) = (fields_of::<A>(), fields_of::<B>());
    let Kind::Object(members) = &value.kind else {
        return Ok((decode(value)?, decode(value)?));
    };
    let all: Vec<&'static str> = fa.iter().chain(fb.iter()).copied().collect();
    for m in members {
        if !all.contains(&m.key.as_str()) {
            let hint =
                nearest(&m.key, all.iter().copied()).map(|n| format!("did you mean \"{n}\"?"));
            return Err(Diagnostic {
                message: format!("unknown configuration key \"{}\"", m.key),
                span: m.key_span.clone().or_else(|| value.span.clone()),
                hint,
            });
        }
    }
    let part = |fields: &[&str]| Value {
        kind: Kind::Object(
            members
                .iter()
                .filter(|m| fields.contains(&m.key.as_str()))
                .cloned()
                .collect(),
        ),
        span: value.span.clone(),
    };
    Ok((decode(&part(fa))?, decode(&part(fb))?))
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use crate::json;
    use crate::source::Source;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct A {
        #[serde(default)]
        a: String,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct B {
        #[serde(default)]
        ssh_port: u16,
    }

    #[test]
    fn splits_and_reports_unknown_keys_across_both() {
        assert_eq!(fields_of::<B>(), &["ssh_port"]);
        let v = json::parse(&Source::new("t", r#"{"a": "x", "ssh_port": "22"}"#)).unwrap();
        let (a, b): (A, B) = decode_split(&v).unwrap();
        assert_eq!((a.a.as_str(), b.ssh_port), ("x", 22));
        let v = json::parse(&Source::new("t", r#"{"a": "x", "ssh_prot": 1}"#)).unwrap();
        let e = decode_split::<A, B>(&v).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"ssh_port\"?"));
    }
}
