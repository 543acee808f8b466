//! Evaluation of parsed templates.

use super::parse::{Arg, BlockKind, Command, Node, Pipeline};
use super::{funcs, Context, InterpError};
use std::collections::BTreeMap;
use std::fmt;

/// A value inside template evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum TVal {
    /// Go's nil; prints as `<no value>`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<TVal>),
    /// A map (for `.Field` data with nested values).
    Map(BTreeMap<String, TVal>),
}

impl TVal {
    /// Go's truthiness: false, 0, nil and empty values are false.
    pub fn truthy(&self) -> bool {
        match self {
            TVal::Nil => false,
            TVal::Bool(b) => *b,
            TVal::Int(i) => *i != 0,
            TVal::Float(f) => *f != 0.0,
            TVal::Str(s) => !s.is_empty(),
            TVal::List(l) => !l.is_empty(),
            TVal::Map(m) => !m.is_empty(),
        }
    }

    /// The Go type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            TVal::Nil => "nil",
            TVal::Bool(_) => "bool",
            TVal::Int(_) => "int",
            TVal::Float(_) => "float64",
            TVal::Str(_) => "string",
            TVal::List(_) => "slice",
            TVal::Map(_) => "map",
        }
    }
}

impl fmt::Display for TVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TVal::Nil => f.write_str("<no value>"),
            TVal::Bool(b) => write!(f, "{b}"),
            TVal::Int(i) => write!(f, "{i}"),
            TVal::Float(x) => write!(f, "{x}"),
            TVal::Str(s) => f.write_str(s),
            TVal::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            TVal::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for TVal {
    fn from(s: &str) -> Self {
        TVal::Str(s.to_string())
    }
}

impl From<String> for TVal {
    fn from(s: String) -> Self {
        TVal::Str(s)
    }
}

/// Why evaluation stopped: an error, or a value that belongs to a later phase.
pub(super) enum Stop {
    Error(InterpError),
    Deferred,
}

impl From<InterpError> for Stop {
    fn from(e: InterpError) -> Self {
        Stop::Error(e)
    }
}

pub(super) fn render_tree(tree: &[Node], src: &str, cx: &Context) -> Result<String, InterpError> {
    let mut out = String::new();
    render_nodes(tree, src, cx, None, &mut out)?;
    Ok(out)
}

fn render_nodes(
    nodes: &[Node],
    src: &str,
    cx: &Context,
    dot: Option<&TVal>,
    out: &mut String,
) -> Result<(), InterpError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe, range) => match eval_pipeline(pipe, cx, dot) {
                Ok(v) => out.push_str(&v.to_string()),
                Err(Stop::Deferred) => out.push_str(&src[range.clone()]),
                Err(Stop::Error(e)) => return Err(e),
            },
            Node::Block {
                kind,
                pipe,
                then,
                otherwise,
                range,
            } => {
                let mut inner = String::new();
                match render_block(*kind, pipe, then, otherwise, src, cx, dot, &mut inner) {
                    Ok(()) => out.push_str(&inner),
                    Err(Stop::Deferred) => out.push_str(&src[range.clone()]),
                    Err(Stop::Error(e)) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn render_block(
    kind: BlockKind,
    pipe: &Pipeline,
    then: &[Node],
    otherwise: &[Node],
    src: &str,
    cx: &Context,
    dot: Option<&TVal>,
    out: &mut String,
) -> Result<(), Stop> {
    let v = eval_pipeline(pipe, cx, dot)?;
    // A deferred value anywhere inside defers the whole block.
    let probe = |nodes: &[Node], dot: Option<&TVal>, out: &mut String| -> Result<(), Stop> {
        let mut s = String::new();
        render_nodes_deferring(nodes, cx, dot, &mut s, src)?;
        out.push_str(&s);
        Ok(())
    };
    match kind {
        BlockKind::If => {
            if v.truthy() {
                probe(then, dot, out)
            } else {
                probe(otherwise, dot, out)
            }
        }
        BlockKind::With => {
            if v.truthy() {
                probe(then, Some(&v), out)
            } else {
                probe(otherwise, dot, out)
            }
        }
        BlockKind::Range => {
            let items: Vec<TVal> = match &v {
                TVal::List(l) => l.clone(),
                TVal::Map(m) => m.values().cloned().collect(),
                TVal::Int(n) => (0..*n).map(TVal::Int).collect(),
                TVal::Nil => vec![],
                other => {
                    return Err(Stop::Error(InterpError {
                        message: format!("range can't iterate over {other}"),
                        pos: 0,
                    }))
                }
            };
            if items.is_empty() {
                return probe(otherwise, dot, out);
            }
            for item in &items {
                probe(then, Some(item), out)?;
            }
            Ok(())
        }
    }
}

fn render_nodes_deferring(
    nodes: &[Node],
    cx: &Context,
    dot: Option<&TVal>,
    out: &mut String,
    src: &str,
) -> Result<(), Stop> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe, _) => out.push_str(&eval_pipeline(pipe, cx, dot)?.to_string()),
            Node::Block {
                kind,
                pipe,
                then,
                otherwise,
                ..
            } => render_block(*kind, pipe, then, otherwise, src, cx, dot, out)?,
        }
    }
    Ok(())
}

fn eval_pipeline(pipe: &Pipeline, cx: &Context, dot: Option<&TVal>) -> Result<TVal, Stop> {
    let mut prev: Option<TVal> = None;
    for cmd in &pipe.cmds {
        prev = Some(eval_command(cmd, cx, dot, prev.take())?);
    }
    Ok(prev.unwrap_or(TVal::Nil))
}

fn eval_command(
    cmd: &Command,
    cx: &Context,
    dot: Option<&TVal>,
    piped: Option<TVal>,
) -> Result<TVal, Stop> {
    let err = |message: String| {
        Stop::Error(InterpError {
            message,
            pos: cmd.pos,
        })
    };
    match &cmd.args[0] {
        Arg::Ident(name) => {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(eval_arg(a, cx, dot, cmd.pos)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            funcs::call(name, args, cx).map_err(|e| match e {
                funcs::CallError::Deferred => Stop::Deferred,
                funcs::CallError::Msg(m) => err(format!("error calling {name}: {m}")),
                funcs::CallError::Unknown => err(format!("function \"{name}\" not defined")),
            })
        }
        first => {
            if cmd.args.len() > 1 || piped.is_some() {
                return Err(err(format!(
                    "can't give argument to non-function {}",
                    describe(first)
                )));
            }
            eval_arg(first, cx, dot, cmd.pos)
        }
    }
}

fn describe(a: &Arg) -> String {
    match a {
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Field(f) => format!(".{}", f.join(".")),
        _ => "operand".into(),
    }
}

fn eval_arg(a: &Arg, cx: &Context, dot: Option<&TVal>, pos: usize) -> Result<TVal, Stop> {
    Ok(match a {
        Arg::Str(s) => TVal::Str(s.clone()),
        Arg::Int(i) => TVal::Int(*i),
        Arg::Float(f) => TVal::Float(*f),
        Arg::Bool(b) => TVal::Bool(*b),
        Arg::Nil => TVal::Nil,
        Arg::Sub(p) => eval_pipeline(p, cx, dot)?,
        Arg::Ident(name) => funcs::call(name, vec![], cx).map_err(|e| match e {
            funcs::CallError::Deferred => Stop::Deferred,
            funcs::CallError::Msg(m) => Stop::Error(InterpError {
                message: format!("error calling {name}: {m}"),
                pos,
            }),
            funcs::CallError::Unknown => Stop::Error(InterpError {
                message: format!("function \"{name}\" not defined"),
                pos,
            }),
        })?,
        Arg::Dot => match dot {
            Some(d) => d.clone(),
            None => match &cx.data {
                Some(data) => TVal::Map(data.clone()),
                None => return Err(Stop::Deferred),
            },
        },
        Arg::Field(path) => {
            let root = match dot {
                Some(d) => d.clone(),
                None => match &cx.data {
                    Some(data) => TVal::Map(data.clone()),
                    None => return Err(Stop::Deferred),
                },
            };
            let mut cur = root;
            for (depth, f) in path.iter().enumerate() {
                cur = match cur {
                    TVal::Map(m) => match m.get(f) {
                        Some(v) => v.clone(),
                        // A missing key of a map inside the data (e.g. `.SourceAMITags.X`)
                        // is Go's zero value, as with `missingkey=default`.
                        None if dot.is_none() && depth == 0 => {
                            return Err(Stop::Error(InterpError {
                                message: format!(
                                    "can't evaluate field {f}: it is not available here"
                                ),
                                pos,
                            }))
                        }
                        None => TVal::Nil,
                    },
                    other => {
                        return Err(Stop::Error(InterpError {
                            message: format!(
                                "can't evaluate field {f} in type {}",
                                other.type_name()
                            ),
                            pos,
                        }))
                    }
                }
            }
            cur
        }
    })
}
