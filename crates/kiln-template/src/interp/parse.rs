//! Lexer and parser for Go's text/template syntax, as far as Packer templates use it:
//! text, `{{ pipelines }}` with `|`, parentheses, string/raw/number/bool literals, `.Field`
//! chains, `if`/`else if`/`else`/`range`/`with`/`end`, trim markers and comments.

use std::ops::Range;

/// A parsed template: a list of nodes.
pub type Tree = Vec<Node>;

/// One piece of a template.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`, with the byte range of the whole action in the source.
    Action(Pipeline, Range<usize>),
    /// `{{if}}`, `{{range}}` or `{{with}}` with its branches and the range of the whole block.
    Block {
        /// Which control structure.
        kind: BlockKind,
        /// The condition (or ranged-over value).
        pipe: Pipeline,
        /// Body.
        then: Tree,
        /// `else` branch (an `else if` chain nests here).
        otherwise: Tree,
        /// Source range of the whole block.
        range: Range<usize>,
    },
}

/// The control structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `{{if}}`
    If,
    /// `{{range}}`
    Range,
    /// `{{with}}`
    With,
}

/// `cmd | cmd | ...`
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The commands; each one's result is passed as the last argument of the next.
    pub cmds: Vec<Command>,
}

/// One command: a function call, or a single operand.
#[derive(Debug, Clone)]
pub struct Command {
    /// First the function or operand, then arguments.
    pub args: Vec<Arg>,
    /// Byte offset in the source, for errors.
    pub pos: usize,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A function name.
    Ident(String),
    /// `.` alone.
    Dot,
    /// `.A.B`
    Field(Vec<String>),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `true`/`false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `( pipeline )`
    Sub(Pipeline),
}

/// A syntax error with its byte offset.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Where (byte offset into the template string).
    pub pos: usize,
}

/// Parses a template string.
pub fn parse(src: &str) -> Result<Tree, ParseError> {
    let items = lex(src)?;
    let mut p = Parser { items, i: 0 };
    let (tree, end) = p.list()?;
    if let Some((word, pos)) = end {
        return Err(ParseError {
            message: format!("unexpected {{{{{word}}}}}"),
            pos,
        });
    }
    Ok(tree)
}

#[derive(Debug, Clone)]
enum Item {
    Text(String),
    /// An action's tokens, its keyword (if any) and its byte range.
    Action(Vec<Tok>, Range<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    Open,
    Close,
    Var(String),
}

fn lex(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let rest = &src[pos..];
        let Some(open) = rest.find("{{") else {
            let mut t = rest.to_string();
            if trim_next {
                t = t.trim_start().to_string();
            }
            items.push(Item::Text(t));
            break;
        };
        let mut text = rest[..open].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let start = pos + open;
        let mut inner_start = start + 2;
        if src[inner_start..].starts_with("- ")
            || src[inner_start..].starts_with("-\t")
            || src[inner_start..].starts_with("-\n")
        {
            text = text.trim_end().to_string();
            inner_start += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        // Comments.
        let inner = src[inner_start..].trim_start();
        if inner.starts_with("/*") {
            let cstart = src.len() - inner.len();
            let Some(cend) = src[cstart..].find("*/") else {
                return Err(ParseError {
                    message: "unclosed comment".into(),
                    pos: start,
                });
            };
            let after = cstart + cend + 2;
            let after_trim = src[after..].trim_start();
            let (close_at, trims) = if let Some(r) = after_trim.strip_prefix("-}}") {
                (src.len() - r.len(), true)
            } else if let Some(r) = after_trim.strip_prefix("}}") {
                (src.len() - r.len(), false)
            } else {
                return Err(ParseError {
                    message: "comment ends before closing delimiter".into(),
                    pos: after,
                });
            };
            trim_next = trims;
            pos = close_at;
            continue;
        }
        let (toks, end, trims) = lex_action(src, inner_start, start)?;
        items.push(Item::Action(toks, start..end));
        trim_next = trims;
        pos = end;
    }
    Ok(items)
}

/// Lexes the inside of an action from `at`; returns tokens, the offset after `}}`, and
/// whether the close had a trim marker.
fn lex_action(
    src: &str,
    mut at: usize,
    start: usize,
) -> Result<(Vec<Tok>, usize, bool), ParseError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let err = |message: &str, pos: usize| ParseError {
        message: message.to_string(),
        pos,
    };
    loop {
        while at < b.len() && (b[at] as char).is_ascii_whitespace() {
            // " -}}" closes with a trim.
            at += 1;
        }
        if at >= b.len() {
            return Err(err("unclosed action: missing \"}}\"", start));
        }
        if src[at..].starts_with("-}}") && at > 0 && (b[at - 1] as char).is_ascii_whitespace() {
            return Ok((toks, at + 3, true));
        }
        if src[at..].starts_with("}}") {
            return Ok((toks, at + 2, false));
        }
        let c = b[at];
        match c {
            b'|' => {
                toks.push(Tok::Pipe);
                at += 1;
            }
            b'(' => {
                toks.push(Tok::Open);
                at += 1;
            }
            b')' => {
                toks.push(Tok::Close);
                at += 1;
            }
            b'"' => {
                let mut s = String::new();
                let mut i = at + 1;
                loop {
                    let Some(ch) = src[i..].chars().next() else {
                        return Err(err("unterminated quoted string", at));
                    };
                    match ch {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' => {
                            let e = src[i + 1..]
                                .chars()
                                .next()
                                .ok_or_else(|| err("unterminated quoted string", at))?;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                _ => return Err(err("unknown escape sequence", i)),
                            });
                            i += 1 + e.len_utf8();
                        }
                        '\n' => return Err(err("unterminated quoted string", at)),
                        _ => {
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                toks.push(Tok::Str(s));
                at = i;
            }
            b'`' => {
                let Some(end) = src[at + 1..].find('`') else {
                    return Err(err("unterminated raw quoted string", at));
                };
                toks.push(Tok::Str(src[at + 1..at + 1 + end].to_string()));
                at += end + 2;
            }
            b'.' => {
                let mut fields = Vec::new();
                let mut i = at;
                while i < b.len() && b[i] == b'.' {
                    let s = i + 1;
                    let mut e = s;
                    while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
                        e += 1;
                    }
                    if e == s {
                        break;
                    }
                    fields.push(src[s..e].to_string());
                    i = e;
                }
                if fields.is_empty() {
                    toks.push(Tok::Dot);
                    at += 1;
                } else {
                    toks.push(Tok::Field(fields));
                    at = i;
                }
            }
            b'$' => {
                let s = at;
                at += 1;
                while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_') {
                    at += 1;
                }
                toks.push(Tok::Var(src[s..at].to_string()));
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let s = at;
                at += 1;
                while at < b.len()
                    && (b[at].is_ascii_alphanumeric() || b[at] == b'.' || b[at] == b'_')
                {
                    at += 1;
                }
                let text = src[s..at].replace('_', "");
                if let Ok(i) = text.parse::<i64>() {
                    toks.push(Tok::Int(i));
                } else if let Some(h) = text.strip_prefix("0x") {
                    toks.push(Tok::Int(
                        i64::from_str_radix(h, 16).map_err(|_| err("bad number syntax", s))?,
                    ));
                } else if let Ok(f) = text.parse::<f64>() {
                    toks.push(Tok::Float(f));
                } else {
                    return Err(err(&format!("bad number syntax: {:?}", &src[s..at]), s));
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = at;
                while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_') {
                    at += 1;
                }
                toks.push(Tok::Ident(src[s..at].to_string()));
            }
            _ => {
                let ch = src[at..].chars().next().unwrap_or('?');
                return Err(err(&format!("unexpected {ch:?} in command"), at));
            }
        }
    }
}

struct Parser {
    items: Vec<Item>,
    i: usize,
}

impl Parser {
    /// Parses nodes until `{{end}}` / `{{else}}` or the end. Returns the nodes and the
    /// terminating keyword with its position, if any.
    #[allow(clippy::type_complexity)]
    fn list(&mut self) -> Result<(Tree, Option<(String, usize)>), ParseError> {
        let mut out = Vec::new();
        while self.i < self.items.len() {
            let item = self.items[self.i].clone();
            self.i += 1;
            match item {
                Item::Text(t) => out.push(Node::Text(t)),
                Item::Action(toks, range) => {
                    let kw = match toks.first() {
                        Some(Tok::Ident(w)) => w.as_str(),
                        _ => "",
                    };
                    match kw {
                        "end" => return Ok((out, Some(("end".into(), range.start)))),
                        "else" => {
                            // Leave the tokens after `else` for the caller (`else if`).
                            self.i -= 1;
                            self.items[self.i] = Item::Action(toks[1..].to_vec(), range.clone());
                            return Ok((out, Some(("else".into(), range.start))));
                        }
                        "if" | "range" | "with" => {
                            out.push(self.block(kw, &toks[1..], range)?);
                        }
                        "define" | "template" | "block" => {
                            return Err(ParseError {
                                message: format!(
                                    "{{{{{kw}}}}} is not supported in Packer templates"
                                ),
                                pos: range.start,
                            })
                        }
                        _ => {
                            let pipe = pipeline(&toks, range.start)?;
                            out.push(Node::Action(pipe, range));
                        }
                    }
                }
            }
        }
        Ok((out, None))
    }

    fn block(&mut self, kw: &str, toks: &[Tok], range: Range<usize>) -> Result<Node, ParseError> {
        let kind = match kw {
            "if" => BlockKind::If,
            "range" => BlockKind::Range,
            _ => BlockKind::With,
        };
        let pipe = pipeline(toks, range.start)?;
        let (then, end) = self.list()?;
        let mut otherwise = Vec::new();
        let end_pos;
        match end {
            Some((w, _)) if w == "end" => {
                end_pos = self.end_of_prev();
            }
            Some((w, _)) if w == "else" => {
                let Item::Action(rest, r) = self.items[self.i].clone() else {
                    unreachable!("else is an action")
                };
                self.i += 1;
                if matches!(rest.first(), Some(Tok::Ident(k)) if k == "if") {
                    otherwise.push(self.block("if", &rest[1..], r)?);
                    end_pos = self.end_of_prev();
                } else {
                    let (els, end2) = self.list()?;
                    otherwise = els;
                    match end2 {
                        Some((w, _)) if w == "end" => end_pos = self.end_of_prev(),
                        _ => {
                            return Err(ParseError {
                                message: format!("unexpected EOF: {{{{{kw}}}}} has no {{{{end}}}}"),
                                pos: range.start,
                            })
                        }
                    }
                }
            }
            _ => {
                return Err(ParseError {
                    message: format!("unexpected EOF: {{{{{kw}}}}} has no {{{{end}}}}"),
                    pos: range.start,
                })
            }
        }
        Ok(Node::Block {
            kind,
            pipe,
            then,
            otherwise,
            range: range.start..end_pos,
        })
    }

    fn end_of_prev(&self) -> usize {
        match &self.items[self.i - 1] {
            Item::Action(_, r) => r.end,
            Item::Text(_) => 0,
        }
    }
}

fn pipeline(toks: &[Tok], pos: usize) -> Result<Pipeline, ParseError> {
    if toks.iter().any(|t| matches!(t, Tok::Var(_))) {
        return Err(ParseError {
            message: "template variables ($x) are not supported by kiln yet; use the value directly or a user variable".into(),
            pos,
        });
    }
    let mut i = 0;
    let p = pipe_until(toks, &mut i, pos, false)?;
    if i < toks.len() {
        return Err(ParseError {
            message: "unexpected \")\" in operand".into(),
            pos,
        });
    }
    Ok(p)
}

fn pipe_until(
    toks: &[Tok],
    i: &mut usize,
    pos: usize,
    in_paren: bool,
) -> Result<Pipeline, ParseError> {
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    let empty = |what: &str| ParseError {
        message: format!("missing value for {what}"),
        pos,
    };
    while *i < toks.len() {
        let t = toks[*i].clone();
        *i += 1;
        match t {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err(empty("command"));
                }
                cmds.push(Command {
                    args: std::mem::take(&mut args),
                    pos,
                });
            }
            Tok::Close => {
                if !in_paren {
                    return Err(ParseError {
                        message: "unexpected \")\"".into(),
                        pos,
                    });
                }
                if args.is_empty() && cmds.is_empty() {
                    return Err(empty("parenthesized pipeline"));
                }
                if !args.is_empty() {
                    cmds.push(Command { args, pos });
                }
                return Ok(Pipeline { cmds });
            }
            Tok::Open => {
                let sub = pipe_until(toks, i, pos, true)?;
                args.push(Arg::Sub(sub));
            }
            Tok::Ident(w) => args.push(match w.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(w),
            }),
            Tok::Field(f) => args.push(Arg::Field(f)),
            Tok::Dot => args.push(Arg::Dot),
            Tok::Str(s) => args.push(Arg::Str(s)),
            Tok::Int(n) => args.push(Arg::Int(n)),
            Tok::Float(f) => args.push(Arg::Float(f)),
            Tok::Var(_) => unreachable!("rejected above"),
        }
    }
    if in_paren {
        return Err(ParseError {
            message: "unclosed left paren".into(),
            pos,
        });
    }
    if args.is_empty() {
        if cmds.is_empty() {
            return Err(empty("command"));
        }
        return Err(empty("command after \"|\""));
    }
    cmds.push(Command { args, pos });
    Ok(Pipeline { cmds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_actions_blocks() {
        let t = parse("a {{user `x` | upper}} b {{if .A}}y{{else}}n{{end}}").unwrap();
        assert_eq!(t.len(), 4);
        assert!(matches!(&t[1], Node::Action(p, _) if p.cmds.len() == 2));
        assert!(matches!(
            &t[3],
            Node::Block {
                kind: BlockKind::If,
                ..
            }
        ));
    }

    #[test]
    fn trims_and_comments() {
        let t = parse("a  {{- \"x\" -}}  b{{/* c */}}").unwrap();
        match (&t[0], &t[2]) {
            (Node::Text(a), Node::Text(b)) => {
                assert_eq!(a, "a");
                assert_eq!(b, "b");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("ok {{ user `x` ").unwrap_err();
        assert_eq!(e.pos, 3);
        assert!(parse("{{if 1}}x").is_err());
        assert!(parse("{{end}}").is_err());
        assert!(parse("{{ (upper }}").is_err());
        assert!(parse("{{ }}").is_err());
    }
}
