//! Evaluating HCL expressions (as parsed by `hcl-edit`) into [`Value`]s, with HCL's rules:
//! a template that is a single interpolation yields its value unconverted, `for` expressions,
//! splats, conditionals, arithmetic and comparisons, and the function library in
//! [`super::funcs`]. Every value keeps the span of the expression it came from.

use super::funcs;
use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use crate::value::{Kind, Member, Value};
use hcl_edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::template::{Directive, Element, Strip, Template};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why an evaluation failed.
#[derive(Debug)]
pub struct Fail {
    /// The error to show.
    pub diag: Diagnostic,
    /// The evaluation needed a local that is not evaluated yet (try again later).
    pub pending: bool,
}

impl From<Diagnostic> for Fail {
    fn from(diag: Diagnostic) -> Fail {
        Fail {
            diag,
            pending: false,
        }
    }
}

/// An evaluation's result.
pub type Eval = Result<Value, Fail>;

/// What names mean while evaluating: the root objects (`var`, `local`, `source`, `build`,
/// `path`), the variables of enclosing `for` expressions, and the run's facts functions use.
#[derive(Clone)]
pub struct Scope {
    /// The file being evaluated, for spans.
    pub src: Arc<Source>,
    /// `var`, `local`, … as objects.
    pub roots: BTreeMap<String, Value>,
    /// Locals declared but not evaluated yet.
    pub pending_locals: Vec<String>,
    /// Data sources (`TYPE.NAME`) declared but not read yet.
    pub pending_data: Vec<String>,
    /// In a provisioner or post-processor: `build.X` (but `build.name`) is what only the
    /// running build knows, left as `{{ build `X` }}` for the plugin to render.
    pub defer_build: bool,
    /// `for` variables, innermost last.
    pub iter: Vec<(String, Value)>,
    /// Facts for functions (`timestamp()`, relative paths).
    pub facts: Arc<funcs::Facts>,
    /// Where the parsed text starts in `src` (a `<<-` heredoc's body is parsed again on its
    /// own, dedented).
    pub offset: usize,
}

impl Scope {
    /// The span of a parsed node in this scope's file.
    pub fn span(&self, node: &impl hcl_edit::Span) -> Option<Span> {
        node.span()
            .map(|r| Span::new(&self.src, self.offset + r.start, self.offset + r.end))
    }

    fn at(&self, node: &impl hcl_edit::Span, kind: Kind) -> Value {
        Value {
            kind,
            span: self.span(node),
        }
    }

    fn err(&self, node: &impl hcl_edit::Span, msg: impl Into<String>) -> Fail {
        Diagnostic::at(self.span(node).as_ref(), msg).into()
    }

    /// Evaluates one expression.
    pub fn eval(&self, e: &Expression) -> Eval {
        Ok(match e {
            Expression::Null(_) => self.at(e, Kind::Null),
            Expression::Bool(b) => self.at(e, Kind::Bool(*b.value())),
            Expression::Number(n) => {
                // Integers exactly as written; 1.0 and 1e3 as HCL shows them (1, 1000).
                let text = match n.value().as_f64() {
                    Some(f) if n.value().is_f64() => funcs::format_number(f),
                    _ => n.value().to_string(),
                };
                self.at(e, Kind::Number(text))
            }
            Expression::String(s) => self.at(e, Kind::String(s.value().to_string())),
            Expression::Array(a) => {
                let items = a.iter().map(|x| self.eval(x)).collect::<Result<_, _>>()?;
                self.at(e, Kind::Array(items))
            }
            Expression::Object(o) => {
                let mut members: Vec<Member> = Vec::new();
                for (k, v) in o.iter() {
                    let (key, key_span) = match k {
                        ObjectKey::Ident(i) => (i.as_str().to_string(), self.span(i)),
                        ObjectKey::Expression(x) => {
                            let kv = self.eval(x)?;
                            (self.key_string(&kv)?, kv.span)
                        }
                    };
                    let value = self.eval(v.expr())?;
                    members.retain(|m| m.key != key);
                    members.push(Member {
                        key,
                        key_span,
                        value,
                    });
                }
                self.at(e, Kind::Object(members))
            }
            Expression::StringTemplate(t) => self.template(t, e)?,
            Expression::HeredocTemplate(h) => match self.flush_heredoc(e)? {
                Some(v) => v,
                None => self.template(&h.template, e)?,
            },
            Expression::Parenthesis(p) => self.eval(p.inner())?,
            Expression::Variable(v) => self.variable(v.as_str(), v)?,
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr)?;
                if self.truth(&cond)? {
                    self.eval(&c.true_expr)?
                } else {
                    self.eval(&c.false_expr)?
                }
            }
            Expression::FuncCall(f) if f.name.name.as_str() == "try" => {
                let mut last = None;
                for arg in f.args.iter() {
                    match self.eval(arg) {
                        Ok(v) => return Ok(v),
                        Err(x) if x.pending => return Err(x),
                        Err(x) => last = Some(x),
                    }
                }
                return Err(
                    last.unwrap_or_else(|| self.err(f.as_ref(), "try needs at least one argument"))
                );
            }
            // `convert(value, type)`: its second argument is a type, not a value.
            Expression::FuncCall(f) if f.name.name.as_str() == "convert" => {
                let [value, ty] = f.args.iter().collect::<Vec<_>>()[..] else {
                    return Err(self.err(
                        f.as_ref(),
                        "convert takes a value and a type, such as convert(var.x, list(string))",
                    ));
                };
                let ty = super::types::Ty::parse(ty)
                    .map_err(|m| self.err(ty, format!("Invalid type specification: {m}")))?;
                let mut v = ty.convert(self.eval(value)?).map_err(|m| {
                    self.err(
                        f.as_ref(),
                        format!("Error in function call: call to function \"convert\" failed: {m}"),
                    )
                })?;
                v.span = self.span(e);
                v
            }
            Expression::FuncCall(f) if f.name.name.as_str() == "templatefile" => {
                return self.templatefile(f, e);
            }
            Expression::FuncCall(f) if f.name.name.as_str() == "can" => {
                let [arg] = f.args.iter().collect::<Vec<_>>()[..] else {
                    return Err(self.err(f.as_ref(), "can takes one argument"));
                };
                match self.eval(arg) {
                    Err(x) if x.pending => return Err(x),
                    r => self.at(e, Kind::Bool(r.is_ok())),
                }
            }
            Expression::FuncCall(f) => {
                let args = f
                    .args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut args = args;
                if f.args.expand_final() {
                    match args.pop().map(|v| v.kind) {
                        Some(Kind::Array(items)) => args.extend(items),
                        _ => {
                            return Err(self.err(
                                f.as_ref(),
                                "the final argument expanded with ... must be a list",
                            ))
                        }
                    }
                }
                let name = f.name.name.as_str();
                let mut v = funcs::call(name, args, &self.facts).map_err(|m| {
                    self.err(
                        f.as_ref(),
                        format!("Error in function call: call to function \"{name}\" failed: {m}"),
                    )
                })?;
                v.span = self.span(e);
                v
            }
            Expression::Traversal(t) => {
                if let (Expression::Variable(root), Some(first)) = (&t.expr, t.operators.first()) {
                    if let TraversalOperator::GetAttr(name) = first.value() {
                        if root.as_str() == "build" && self.defer_build && name.as_str() != "name" {
                            let later = format!("{{{{ build `{}` }}}}", name.as_str());
                            let v = self.at(first, Kind::String(later));
                            return self.traverse(v, &t.operators[1..]);
                        }
                        if root.as_str() == "data" {
                            if let Some(TraversalOperator::GetAttr(second)) =
                                t.operators.get(1).map(|o| o.value())
                            {
                                let key = format!("{}.{}", name.as_str(), second.as_str());
                                if self.pending_data.contains(&key) {
                                    return Err(Fail {
                                        diag: Diagnostic::at(
                                            self.span(first).as_ref(),
                                            format!("data.{key} refers to itself, through locals and other data sources or directly"),
                                        ),
                                        pending: true,
                                    });
                                }
                            }
                        }
                        if root.as_str() == "local"
                            && self.pending_locals.iter().any(|p| p == name.as_str())
                        {
                            return Err(Fail {
                                diag: Diagnostic::at(
                                    self.span(first).as_ref(),
                                    format!("local.{} refers to itself, through other locals or directly", name.as_str()),
                                ),
                                pending: true,
                            });
                        }
                    }
                }
                let base = self.eval(&t.expr)?;
                self.traverse(base, &t.operators)?
            }
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr)?;
                match u.operator.value() {
                    UnaryOperator::Not => self.at(e, Kind::Bool(!self.truth(&v)?)),
                    UnaryOperator::Neg => self.at(e, number(-self.num(&v)?)),
                }
            }
            Expression::BinaryOp(b) => self.binary(b, e)?,
            Expression::ForExpr(f) => self.for_expr(f, e)?,
        })
    }

    fn variable(&self, name: &str, node: &impl hcl_edit::Span) -> Eval {
        if let Some((_, v)) = self.iter.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        match self.roots.get(name) {
            Some(v) => Ok(v.clone()),
            None => Err(self.err(
                node,
                format!("Unknown variable: there is no variable named \"{name}\""),
            )),
        }
    }

    fn traverse(&self, mut v: Value, ops: &[hcl_edit::Decorated<TraversalOperator>]) -> Eval {
        for (i, op) in ops.iter().enumerate() {
            match op.value() {
                TraversalOperator::GetAttr(name) => {
                    v = self.get_attr(&v, name.as_str(), op)?;
                }
                TraversalOperator::Index(ix) => {
                    let key = self.eval(ix)?;
                    v = self.index(&v, &key, op)?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    let key = Value::new(Kind::Number(n.value().to_string()));
                    v = self.index(&v, &key, op)?;
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let items = match v.kind {
                        Kind::Array(items) => items,
                        Kind::Null => vec![],
                        _ => vec![v.clone()],
                    };
                    let rest = &ops[i + 1..];
                    let out = items
                        .into_iter()
                        .map(|x| self.traverse(x, rest))
                        .collect::<Result<_, _>>()?;
                    return Ok(Value {
                        kind: Kind::Array(out),
                        span: self.span(op),
                    });
                }
            }
        }
        Ok(v)
    }

    fn get_attr(&self, v: &Value, name: &str, node: &impl hcl_edit::Span) -> Eval {
        match &v.kind {
            Kind::Object(members) => match members.iter().find(|m| m.key == name) {
                Some(m) => Ok(m.value.clone()),
                None => {
                    let names: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
                    let d = Diagnostic::at(
                        self.span(node).as_ref(),
                        format!("Unsupported attribute: this object does not have an attribute named \"{name}\""),
                    );
                    Err(match crate::decode::nearest(name, names) {
                        Some(n) => d.with_hint(format!("did you mean \"{n}\"?")),
                        None => d,
                    }
                    .into())
                }
            },
            _ => Err(self.err(
                node,
                format!(
                    "Unsupported attribute: {} has no attribute \"{name}\"",
                    v.type_name()
                ),
            )),
        }
    }

    fn index(&self, v: &Value, key: &Value, node: &impl hcl_edit::Span) -> Eval {
        match &v.kind {
            Kind::Array(items) => {
                let n = self.num(key)?;
                if n.fract() != 0.0 || n < 0.0 || n as usize >= items.len() {
                    return Err(self.err(
                        node,
                        format!(
                            "Invalid index: the given key does not identify an element in this collection value (index {n}, {} elements)",
                            items.len()
                        ),
                    ));
                }
                Ok(items[n as usize].clone())
            }
            Kind::Object(_) => {
                let k = self.key_string(key)?;
                self.get_attr(v, &k, node)
            }
            _ => Err(self.err(
                node,
                format!("Invalid index: {} cannot be indexed", v.type_name()),
            )),
        }
    }

    fn key_string(&self, v: &Value) -> Result<String, Fail> {
        match &v.kind {
            Kind::String(s) => Ok(s.clone()),
            Kind::Number(n) => Ok(n.clone()),
            Kind::Bool(b) => Ok(b.to_string()),
            _ => Err(Diagnostic::at(
                v.span.as_ref(),
                format!("a key must be a string, not {}", v.type_name()),
            )
            .into()),
        }
    }

    /// A value as a boolean (HCL converts "true" / "false").
    pub fn truth(&self, v: &Value) -> Result<bool, Fail> {
        match &v.kind {
            Kind::Bool(b) => Ok(*b),
            Kind::String(s) if s == "true" => Ok(true),
            Kind::String(s) if s == "false" => Ok(false),
            _ => Err(Diagnostic::at(
                v.span.as_ref(),
                format!("a bool is required here, not {}", v.type_name()),
            )
            .into()),
        }
    }

    fn num(&self, v: &Value) -> Result<f64, Fail> {
        funcs::to_f64(v).map_err(|m| Diagnostic::at(v.span.as_ref(), m).into())
    }

    fn binary(&self, b: &hcl_edit::expr::BinaryOp, e: &Expression) -> Eval {
        use BinaryOperator as Op;
        let op = *b.operator.value();
        let l = self.eval(&b.lhs_expr)?;
        // `&&` and `||` need only the left side when it decides.
        match op {
            Op::And if !self.truth(&l)? => return Ok(self.at(e, Kind::Bool(false))),
            Op::Or if self.truth(&l)? => return Ok(self.at(e, Kind::Bool(true))),
            _ => {}
        }
        let r = self.eval(&b.rhs_expr)?;
        let kind = match op {
            Op::And | Op::Or => Kind::Bool(self.truth(&r)?),
            Op::Eq => Kind::Bool(funcs::equal(&l, &r)),
            Op::NotEq => Kind::Bool(!funcs::equal(&l, &r)),
            Op::Less => Kind::Bool(self.num(&l)? < self.num(&r)?),
            Op::LessEq => Kind::Bool(self.num(&l)? <= self.num(&r)?),
            Op::Greater => Kind::Bool(self.num(&l)? > self.num(&r)?),
            Op::GreaterEq => Kind::Bool(self.num(&l)? >= self.num(&r)?),
            Op::Plus => number(self.num(&l)? + self.num(&r)?),
            Op::Minus => number(self.num(&l)? - self.num(&r)?),
            Op::Mul => number(self.num(&l)? * self.num(&r)?),
            Op::Div => {
                let d = self.num(&r)?;
                if d == 0.0 {
                    return Err(self.err(e, "Division by zero"));
                }
                number(self.num(&l)? / d)
            }
            Op::Mod => {
                let d = self.num(&r)?;
                if d == 0.0 {
                    return Err(self.err(e, "Division by zero"));
                }
                number(self.num(&l)? % d)
            }
        };
        Ok(self.at(e, kind))
    }

    fn for_expr(&self, f: &hcl_edit::expr::ForExpr, e: &Expression) -> Eval {
        let coll = self.eval(&f.intro.collection_expr)?;
        let what = coll.type_name();
        let Some(pairs) = pairs(coll) else {
            return Err(self.err(
                &f.intro.collection_expr,
                format!("Iteration over non-iterable value: {what}"),
            ));
        };
        let mut inner = self.clone();
        let mut items = Vec::new();
        let mut members: Vec<Member> = Vec::new();
        for (k, v) in pairs {
            inner.iter.truncate(self.iter.len());
            if let Some(kv) = &f.intro.key_var {
                inner.iter.push((kv.as_str().to_string(), k));
            }
            inner.iter.push((f.intro.value_var.as_str().to_string(), v));
            if let Some(c) = &f.cond {
                let keep = inner.eval(&c.expr)?;
                if !inner.truth(&keep)? {
                    continue;
                }
            }
            let value = inner.eval(&f.value_expr)?;
            match &f.key_expr {
                None => items.push(value),
                Some(kx) => {
                    let kv = inner.eval(kx)?;
                    let key = inner.key_string(&kv)?;
                    if f.grouping {
                        match members.iter_mut().find(|m| m.key == key) {
                            Some(m) => {
                                if let Kind::Array(a) = &mut m.value.kind {
                                    a.push(value)
                                }
                            }
                            None => members.push(Member {
                                key,
                                key_span: None,
                                value: Value::new(Kind::Array(vec![value])),
                            }),
                        }
                    } else if members.iter().any(|m| m.key == key) {
                        return Err(self.err(
                            kx,
                            format!("Duplicate object key: two elements produce the key \"{key}\" (add ... after the value to group them)"),
                        ));
                    } else {
                        members.push(Member {
                            key,
                            key_span: None,
                            value,
                        });
                    }
                }
            }
        }
        Ok(self.at(
            e,
            if f.key_expr.is_some() {
                Kind::Object(members)
            } else {
                Kind::Array(items)
            },
        ))
    }

    /// A `<<-` heredoc, dedented as HCL dedents it: by the least indentation of its lines
    /// that hold anything, counting the lines inside `%{ }` directives, then rendered. (The
    /// parser's own dedent misses lines inside directives and lines after an interpolation.)
    /// None for a plain `<<` heredoc.
    fn flush_heredoc(&self, e: &Expression) -> Result<Option<Value>, Fail> {
        let Some(range) = hcl_edit::Span::span(e) else {
            return Ok(None);
        };
        let start = self.offset + range.start;
        let raw = &self.src.text[start..self.offset + range.end];
        if !raw.starts_with("<<-") {
            return Ok(None);
        }
        let Some(first_newline) = raw.find('\n') else {
            return Ok(None);
        };
        // The body: after the opening line, up to the closing delimiter's line.
        let body = &raw[first_newline + 1..];
        let body = match body.trim_end().rfind('\n') {
            Some(i) => &body[..i + 1],
            None => "",
        };
        let indent = body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
            .min()
            .unwrap_or(0);
        let dedented: String = body
            .split_inclusive('\n')
            .map(|l| {
                let lead = l.len() - l.trim_start_matches([' ', '\t']).len();
                &l[lead.min(indent)..]
            })
            .collect();
        let body_start = start + first_newline + 1;
        let template = hcl_edit::parser::parse_template(&dedented)
            .map_err(|x| self.err(e, format!("invalid heredoc: {}", x.message())))?;
        let mut inner = self.clone();
        inner.src = Source::new_hcl(
            self.src.name.clone(),
            format!("{}{dedented}", &self.src.text[..body_start]),
        );
        inner.offset = body_start;
        let mut out = String::new();
        inner.render(&template, &mut out, &mut false)?;
        Ok(Some(self.at(e, Kind::String(out))))
    }

    /// `templatefile(path, vars)`: the file (relative paths from the template's directory,
    /// as `file`) rendered as an HCL template that sees only `vars`, by their names.
    fn templatefile(&self, f: &hcl_edit::expr::FuncCall, e: &Expression) -> Eval {
        thread_local! {
            static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let fail = |m: String| {
            self.err(
                f,
                format!("Error in function call: call to function \"templatefile\" failed: {m}"),
            )
        };
        let args: Vec<&Expression> = f.args.iter().collect();
        let [path, vars] = args[..] else {
            return Err(fail("2 arguments required (path, vars)".into()));
        };
        let path = self.eval(path)?;
        let path = self.stringify(&path)?;
        let vars = self.eval(vars)?;
        let Kind::Object(vars) = vars.kind else {
            return Err(fail(format!(
                "vars must be a map, not {}",
                vars.type_name()
            )));
        };
        let file = self.facts.template_dir.join(&path);
        let text = std::fs::read_to_string(&file)
            .map_err(|x| fail(format!("cannot read {}: {x}", file.display())))?;
        let template = hcl_edit::parser::parse_template(&text).map_err(|x| {
            fail(format!(
                "{}: invalid template: {}",
                file.display(),
                x.message()
            ))
        })?;
        if DEPTH.with(|d| d.get()) >= 16 {
            return Err(fail(
                "templatefile calls nest 16 deep: does a template render itself?".into(),
            ));
        }
        let mut inner = self.clone();
        inner.src = Source::new_hcl(file.display().to_string(), text);
        inner.offset = 0;
        inner.roots = BTreeMap::new();
        inner.iter = vars.into_iter().map(|m| (m.key, m.value)).collect();
        let mut out = String::new();
        DEPTH.with(|d| d.set(d.get() + 1));
        let r = inner.render(&template, &mut out, &mut false);
        DEPTH.with(|d| d.set(d.get() - 1));
        r?;
        Ok(self.at(e, Kind::String(out)))
    }

    fn template(&self, t: &Template, e: &Expression) -> Eval {
        // A template that is one interpolation and nothing else yields the value itself.
        if let Some(Element::Interpolation(i)) = t.as_single_element() {
            return self.eval(&i.expr);
        }
        let mut out = String::new();
        self.render(t, &mut out, &mut false)?;
        Ok(self.at(e, Kind::String(out)))
    }

    fn render(&self, t: &Template, out: &mut String, strip_next: &mut bool) -> Result<(), Fail> {
        for el in t.iter() {
            match el {
                Element::Literal(s) => {
                    let s = s.value();
                    if std::mem::take(strip_next) {
                        out.push_str(s.trim_start());
                    } else {
                        out.push_str(s);
                    }
                }
                Element::Interpolation(i) => {
                    strip(out, i.strip, strip_next);
                    let v = self.eval(&i.expr)?;
                    out.push_str(&self.stringify(&v)?);
                    *strip_next = ends(i.strip);
                }
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        // `~` on a tag trims the text next to it: before it (`%{~`), after
                        // it (`~}`), in whichever branch was written out.
                        strip(out, d.if_expr.strip, strip_next);
                        let cond = self.eval(&d.if_expr.cond_expr)?;
                        *strip_next = ends(d.if_expr.strip);
                        let mut rendered = true;
                        if self.truth(&cond)? {
                            self.render(&d.if_expr.template, out, strip_next)?;
                            if let Some(el) = &d.else_expr {
                                strip(out, el.strip, strip_next);
                            }
                        } else if let Some(el) = &d.else_expr {
                            *strip_next = ends(el.strip);
                            self.render(&el.template, out, strip_next)?;
                        } else {
                            rendered = false;
                        }
                        if rendered {
                            strip(out, d.endif_expr.strip, strip_next);
                        }
                        *strip_next = ends(d.endif_expr.strip);
                    }
                    Directive::For(d) => {
                        let fe = &d.for_expr;
                        strip(out, fe.strip, strip_next);
                        let coll = self.eval(&fe.collection_expr)?;
                        let Some(pairs) = pairs(coll) else {
                            return Err(
                                self.err(&fe.collection_expr, "Iteration over non-iterable value")
                            );
                        };
                        let mut inner = self.clone();
                        for (k, v) in pairs {
                            inner.iter.truncate(self.iter.len());
                            if let Some(kv) = &fe.key_var {
                                inner.iter.push((kv.as_str().to_string(), k));
                            }
                            inner.iter.push((fe.value_var.as_str().to_string(), v));
                            *strip_next = ends(fe.strip);
                            inner.render(&fe.template, out, strip_next)?;
                            strip(out, d.endfor_expr.strip, strip_next);
                        }
                        *strip_next = ends(d.endfor_expr.strip);
                    }
                },
            }
        }
        Ok(())
    }

    /// A value as a string inside a template.
    pub fn stringify(&self, v: &Value) -> Result<String, Fail> {
        match &v.kind {
            Kind::String(s) => Ok(s.clone()),
            Kind::Number(n) => Ok(n.clone()),
            Kind::Bool(b) => Ok(b.to_string()),
            Kind::Null => Err(Diagnostic::at(
                v.span.as_ref(),
                "Invalid template interpolation value: the expression result is null",
            )
            .into()),
            _ => Err(Diagnostic::at(
                v.span.as_ref(),
                format!(
                    "Invalid template interpolation value: cannot include {} in a string template",
                    v.type_name()
                ),
            )
            .into()),
        }
    }
}

/// `~}`: the whitespace after the action is trimmed.
fn ends(s: Strip) -> bool {
    matches!(s, Strip::End | Strip::Both)
}

/// `{~` before a template action: trims the whitespace written before it.
fn strip(out: &mut String, s: Strip, strip_next: &mut bool) {
    *strip_next = false;
    if matches!(s, Strip::Start | Strip::Both) {
        let kept = out.trim_end().len();
        out.truncate(kept);
    }
}

/// The (key, value) pairs a `for` or `for_each` goes through: a list's indexes and elements,
/// an object's keys and values; None for anything else.
pub fn pairs(v: Value) -> Option<Vec<(Value, Value)>> {
    match v.kind {
        Kind::Array(items) => Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::new(Kind::Number(i.to_string())), v))
                .collect(),
        ),
        // HCL goes through a map in the order of its keys, not as written.
        Kind::Object(mut members) => {
            members.sort_by(|a, b| a.key.cmp(&b.key));
            Some(
                members
                    .into_iter()
                    .map(|m| (Value::string(m.key), m.value))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// A number value: integers written without a fraction.
pub fn number(f: f64) -> Kind {
    Kind::Number(funcs::format_number(f))
}
