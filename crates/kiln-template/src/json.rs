//! A JSON parser that keeps spans, rejects duplicate keys, and explains syntax errors with the
//! line, the column and a hint for the usual mistakes (missing comma, trailing comma, unquoted key).

use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use crate::value::{Kind, Member, Value};
use std::sync::Arc;

/// Parses a whole JSON document.
pub fn parse(src: &Arc<Source>) -> Result<Value, Diagnostic> {
    parse_document(src, false)
}

/// Parses a whole JSON document in which a key may appear more than once in an object, as
/// HCL's JSON syntax allows (each is a block); every member is kept, in order.
pub fn parse_keeping_duplicates(src: &Arc<Source>) -> Result<Value, Diagnostic> {
    parse_document(src, true)
}

fn parse_document(src: &Arc<Source>, duplicates: bool) -> Result<Value, Diagnostic> {
    let mut p = Parser {
        src,
        bytes: src.text.as_bytes(),
        pos: 0,
        depth: 0,
        duplicates,
    };
    p.skip_ws();
    let v = p.value()?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(p.error_here("unexpected content after the end of the JSON document"));
    }
    Ok(v)
}

/// Nesting deeper than this is refused, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 256;

struct Parser<'a> {
    src: &'a Arc<Source>,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Keys may repeat in an object.
    duplicates: bool,
}

impl Parser<'_> {
    fn span(&self, start: usize) -> Option<Span> {
        Some(Span::new(self.src, start, self.pos))
    }

    fn error_at(&self, at: usize, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(Some(&Span::new(self.src, at, at + 1)), msg)
    }

    fn error_here(&self, msg: impl Into<String>) -> Diagnostic {
        self.error_at(self.pos, msg)
    }

    fn found(&self) -> String {
        match self.src.text[self.pos.min(self.bytes.len())..]
            .chars()
            .next()
        {
            None => "the end of the file".to_string(),
            Some(c) => format!("'{c}'"),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The end of the last token before `pos` (skipping whitespace backwards): where a missing
    /// comma belongs.
    fn end_of_previous_token(&self) -> usize {
        let mut i = self.pos;
        while i > 0 && matches!(self.bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
            i -= 1;
        }
        i
    }

    fn value(&mut self) -> Result<Value, Diagnostic> {
        let start = self.pos;
        match self.bytes.get(self.pos) {
            None => Err(self.error_here("unexpected end of file: expected a value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value {
                    kind: Kind::String(s),
                    span: self.span(start),
                })
            }
            Some(b't') => self.literal("true", Kind::Bool(true)),
            Some(b'f') => self.literal("false", Kind::Bool(false)),
            Some(b'n') => self.literal("null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'\'') => Err(self
                .error_here("invalid character '\\'': JSON strings use double quotes")
                .with_hint("replace the single quotes with double quotes")),
            Some(_) => Err(self.error_here(format!(
                "invalid character {} where a value was expected",
                self.found()
            ))),
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Value, Diagnostic> {
        let start = self.pos;
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(Value {
                kind,
                span: self.span(start),
            })
        } else {
            Err(self.error_here(format!(
                "invalid literal: expected '{word}' or a quoted string"
            )))
        }
    }

    fn number(&mut self) -> Result<Value, Diagnostic> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.bytes.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - s
        };
        let int_start = self.pos;
        if digits(self) == 0 {
            return Err(self.error_here("invalid number: expected a digit"));
        }
        if self.bytes[int_start] == b'0' && self.pos - int_start > 1 {
            return Err(self.error_at(int_start, "invalid number: leading zeros are not allowed"));
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error_here("invalid number: expected a digit after '.'"));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error_here("invalid number: expected a digit in the exponent"));
            }
        }
        Ok(Value {
            kind: Kind::Number(self.src.text[start..self.pos].to_string()),
            span: self.span(start),
        })
    }

    fn string(&mut self) -> Result<String, Diagnostic> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error_at(open, "unterminated string: no closing '\"'"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(self.error_at(open, "unterminated string: no closing '\"'"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            return Err(self
                                .error_at(
                                    self.pos - 2,
                                    format!("invalid escape '\\{}' in string", e as char),
                                )
                                .with_hint("write a backslash as \\\\"))
                        }
                    }
                }
                b'\n' => {
                    return Err(self
                        .error_here("newline inside a string")
                        .with_hint("close the string on the same line, or write \\n"))
                }
                b if b < 0x20 => {
                    return Err(self.error_here("control character inside a string"));
                }
                _ => {
                    let rest = &self.src.text[self.pos..];
                    let c = rest.chars().next().expect("in bounds");
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Diagnostic> {
        let hex = self
            .src
            .text
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error_here("invalid \\u escape: expected 4 hex digits"))?;
        self.pos += 4;
        Ok(u32::from_str_radix(hex, 16).expect("checked hex"))
    }

    fn unicode_escape(&mut self) -> Result<char, Diagnostic> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.bytes[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn enter(&mut self) -> Result<(), Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here("nesting too deep"));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Value, Diagnostic> {
        let start = self.pos;
        self.enter()?;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value {
                kind: Kind::Object(members),
                span: self.span(start),
            });
        }
        loop {
            self.skip_ws();
            let key_start = self.pos;
            match self.bytes.get(self.pos) {
                Some(b'"') => {}
                Some(b'}') if !members.is_empty() => {
                    let comma = self.end_of_previous_token() - 1;
                    return Err(self.error_at(comma, "trailing comma before '}'").with_hint(
                        "JSON does not allow a comma after the last member: remove it",
                    ));
                }
                Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                    return Err(self
                        .error_here("object key is not quoted")
                        .with_hint("JSON keys must be in double quotes, like \"key\": value"));
                }
                _ => {
                    return Err(self.error_here(format!(
                        "expected a quoted object key, found {}",
                        self.found()
                    )))
                }
            }
            let key = self.string()?;
            let key_span = self.span(key_start);
            if let Some(first) = members
                .iter()
                .find(|m| m.key == key)
                .filter(|_| !self.duplicates)
            {
                let (l, c) = first
                    .key_span
                    .as_ref()
                    .map(Span::line_col)
                    .unwrap_or((0, 0));
                return Err(Diagnostic::at(
                    key_span.as_ref(),
                    format!("duplicate key \"{key}\" (first defined at line {l}, column {c})"),
                )
                .with_hint("each key may appear once in an object: remove or rename one"));
            }
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.error_here(format!(
                    "expected ':' after the object key \"{key}\", found {}",
                    self.found()
                )));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value {
                        kind: Kind::Object(members),
                        span: self.span(start),
                    });
                }
                Some(b'"') => {
                    return Err(self.missing_comma("object member"));
                }
                _ => {
                    return Err(self.error_here(format!(
                        "expected ',' or '}}' after an object member, found {}",
                        self.found()
                    )))
                }
            }
        }
    }

    fn missing_comma(&self, what: &str) -> Diagnostic {
        let prev_end = self.end_of_previous_token();
        let (line, col) = self.src.line_col(prev_end);
        self.error_here(format!("missing comma: expected ',' before this {what}"))
            .with_hint(format!(
                "add a ',' at the end of line {line} (after column {})",
                col - 1
            ))
    }

    fn array(&mut self) -> Result<Value, Diagnostic> {
        let start = self.pos;
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value {
                kind: Kind::Array(items),
                span: self.span(start),
            });
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) == Some(&b']') {
                let comma = self.end_of_previous_token() - 1;
                return Err(self
                    .error_at(comma, "trailing comma before ']'")
                    .with_hint("JSON does not allow a comma after the last element: remove it"));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value {
                        kind: Kind::Array(items),
                        span: self.span(start),
                    });
                }
                Some(b'"' | b'{' | b'[' | b'0'..=b'9' | b'-' | b't' | b'f' | b'n') => {
                    return Err(self.missing_comma("array element"));
                }
                _ => {
                    return Err(self.error_here(format!(
                        "expected ',' or ']' after an array element, found {}",
                        self.found()
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Diagnostic {
        parse(&Source::new("t.json", text)).unwrap_err()
    }

    #[test]
    fn parses_nested_values_with_spans() {
        let src = Source::new("t.json", "{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\"]}");
        let v = parse(&src).unwrap();
        let a = v.get("a").unwrap();
        match &a.kind {
            Kind::Array(items) => {
                assert_eq!(items.len(), 5);
                assert!(matches!(&items[1].kind, Kind::Number(n) if n == "-2.5e3"));
                assert_eq!(items[4].as_str(), Some("xé"));
                assert_eq!(items[0].span.as_ref().unwrap().line_col(), (1, 8));
            }
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn missing_comma_points_at_next_key_and_names_previous_line() {
        let d = err("{\n  \"a\": \"x\"\n  \"b\": 1\n}");
        assert_eq!(d.span.as_ref().unwrap().line_col(), (3, 3));
        assert!(d.message.contains("missing comma"), "{}", d.message);
        assert!(d.hint.unwrap().contains("end of line 2"));
    }

    #[test]
    fn trailing_comma_is_explained() {
        let d = err("{\"a\": [1, 2,]}");
        assert!(d.message.contains("trailing comma"));
        assert_eq!(d.span.unwrap().line_col(), (1, 12));
        let d = err("{\"a\": 1,\n}");
        assert!(d.message.contains("trailing comma"));
        assert_eq!(d.span.unwrap().line_col(), (1, 8));
    }

    #[test]
    fn unquoted_key_and_duplicates_are_errors() {
        assert!(err("{a: 1}").message.contains("not quoted"));
        let d = err("{\"a\": 1,\n \"a\": 2}");
        assert!(d.message.contains("duplicate key \"a\""));
        assert!(d.message.contains("line 1, column 2"));
        assert_eq!(d.span.unwrap().line_col(), (2, 2));
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "", "{", "[", "\"", "{\"a\"", "{\"a\":", "[1,", "\"\\u12", "-", "01", "{}}",
        ] {
            assert!(parse(&Source::new("t", text)).is_err(), "{text:?} parsed");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(&Source::new("t", deep)).is_err());
    }
}
