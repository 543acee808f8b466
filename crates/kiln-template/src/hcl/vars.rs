//! Input variables (declarations, types, the values given for them, validations) and
//! locals (evaluated in the order their references allow).

use super::eval::{Fail, Scope};
use super::types::Ty;
use super::{parse_file, span_in, unknown, unknown_entry};
use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{Source, Span};
use crate::value::{Kind, Member, Value};
use crate::variables::Overrides;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Structure};
use std::path::PathBuf;
use std::sync::Arc;

/// A declared input variable.
pub(crate) struct VarDecl {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) sensitive: bool,
    pub(crate) value: Option<Value>,
    pub(crate) span: Option<Span>,
    pub(crate) validations: Vec<(Arc<Source>, Block)>,
}

/// A local, evaluated once every local it uses is.
pub(crate) struct LocalDecl {
    pub(crate) name: String,
    pub(crate) expr: Expression,
    pub(crate) src: Arc<Source>,
    pub(crate) sensitive: bool,
}

const VARIABLE_KEYS: &[&str] = &["type", "default", "description", "sensitive", "validation"];

pub(crate) fn variable_block(
    sc: &Scope,
    name: &str,
    b: &Block,
    errs: &mut Diagnostics,
) -> Option<VarDecl> {
    let mut v = VarDecl {
        name: name.to_string(),
        ty: Ty::Any,
        sensitive: false,
        value: None,
        span: span_in(&sc.src, b),
        validations: vec![],
    };
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a) => match a.key.as_str() {
                "type" => match Ty::parse(&a.value) {
                    Ok(t) => v.ty = t,
                    Err(m) => {
                        errs.push(Diagnostic::at(span_in(&sc.src, &a.value).as_ref(), m));
                        return None;
                    }
                },
                "default" => match sc.eval(&a.value) {
                    Ok(x) => v.value = Some(x),
                    Err(x) => {
                        errs.push(x.diag);
                        return None;
                    }
                },
                "description" => {}
                "sensitive" => match sc.eval(&a.value).and_then(|x| sc.truth(&x)) {
                    Ok(s) => v.sensitive = s,
                    Err(x) => errs.push(x.diag),
                },
                other => errs.push(unknown(&sc.src, &a.key, "argument", other, VARIABLE_KEYS)),
            },
            Structure::Block(inner) if inner.ident.as_str() == "validation" => {
                v.validations.push((sc.src.clone(), inner.clone()))
            }
            Structure::Block(inner) => errs.push(unknown(
                &sc.src,
                &inner.ident,
                "block",
                inner.ident.as_str(),
                VARIABLE_KEYS,
            )),
        }
    }
    if let Some(d) = v.value.take() {
        match v.ty.convert(d) {
            Ok(x) => v.value = Some(x),
            Err(m) => {
                errs.push(Diagnostic::at(
                    v.span.as_ref(),
                    format!("Invalid default value for variable \"{name}\": {m}"),
                ));
                return None;
            }
        }
    }
    Some(v)
}

pub(crate) fn local_block(
    src: &Arc<Source>,
    name: &str,
    b: &Block,
    locals: &mut Vec<LocalDecl>,
    errs: &mut Diagnostics,
) {
    let mut expr = None;
    let mut sensitive = false;
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a) if a.key.as_str() == "expression" => {
                expr = Some(a.value.clone())
            }
            Structure::Attribute(a) if a.key.as_str() == "sensitive" => {
                sensitive = matches!(a.value, Expression::Bool(ref x) if *x.value())
            }
            other => errs.push(unknown_entry(src, other, &["expression", "sensitive"])),
        }
    }
    match expr {
        Some(expr) => locals.push(LocalDecl {
            name: name.to_string(),
            expr,
            src: src.clone(),
            sensitive,
        }),
        None => errs.push(Diagnostic::at(
            span_in(src, b).as_ref(),
            format!("local \"{name}\" has no expression"),
        )),
    }
}

/// A value given as text (`-var`, `PKR_VAR_`): as is for a string, else read as HCL.
fn from_text(v: &VarDecl, text: &str, what: &str, scope: &Scope) -> Result<Value, Diagnostic> {
    let value = if v.ty.takes_raw_text() {
        Value::string(text)
    } else {
        let e = hcl_edit::parser::parse_expr(text).map_err(|e| {
            Diagnostic::new(format!(
                "{what}: the value of \"{}\" is not a valid expression: {}",
                v.name,
                e.message()
            ))
        })?;
        let mut sc = scope.clone();
        sc.src = Source::new_hcl(what.to_string(), text.to_string());
        sc.eval(&e).map_err(|f| f.diag)?
    };
    v.ty.convert(value).map_err(|m| {
        Diagnostic::new(format!(
            "{what}: invalid value for variable \"{}\": {m}",
            v.name
        ))
    })
}

pub(crate) fn assign_vars(
    vars: &mut [VarDecl],
    (auto_hcl, auto_json): (&[PathBuf], &[PathBuf]),
    overrides: &Overrides,
    scope: &Scope,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostics> {
    let mut errs = Diagnostics::default();
    for v in vars.iter_mut() {
        if let Ok(text) = std::env::var(format!("PKR_VAR_{}", v.name)) {
            match from_text(v, &text, &format!("PKR_VAR_{}", v.name), scope) {
                Ok(x) => v.value = Some(x),
                Err(d) => errs.push(d),
            }
        }
    }
    // As Packer: the HCL var files (beside the template, then given), then the JSON ones.
    for path in auto_hcl.iter().chain(&overrides.hcl_files).chain(auto_json) {
        let f = match parse_file(path) {
            Ok(f) => f,
            Err(d) => {
                errs.push(d);
                continue;
            }
        };
        let mut sc = scope.clone();
        sc.src = f.src.clone();
        for st in f.body.iter() {
            let Structure::Attribute(a) = st else {
                errs.push(Diagnostic::at(
                    span_in(&f.src, st).as_ref(),
                    "a var file holds only name = value",
                ));
                continue;
            };
            // Packer warns of values for undeclared variables in var files and goes on.
            let Some(v) = vars.iter_mut().find(|v| v.name == a.key.as_str()) else {
                warnings.push(undeclared(a.key.as_str(), span_in(&f.src, &a.key)));
                continue;
            };
            match sc.eval(&a.value) {
                Ok(x) => match v.ty.convert(x) {
                    Ok(x) => v.value = Some(x),
                    Err(m) => errs.push(Diagnostic::at(
                        span_in(&f.src, &a.value).as_ref(),
                        format!("invalid value for variable \"{}\": {m}", v.name),
                    )),
                },
                Err(x) => errs.push(x.diag),
            }
        }
    }
    for (name, value) in &overrides.json_values {
        if !vars.iter().any(|v| &v.name == name) {
            warnings.push(undeclared(name, value.span.clone()));
        }
        if let Some(v) = vars.iter_mut().find(|v| &v.name == name) {
            match v.ty.convert(value.clone()) {
                Ok(x) => v.value = Some(x),
                Err(m) => errs.push(Diagnostic::at(
                    value.span.as_ref(),
                    format!("invalid value for variable \"{name}\": {m}"),
                )),
            }
        }
    }
    for (name, text) in &overrides.vars {
        match vars.iter_mut().find(|v| &v.name == name) {
            Some(v) => match from_text(v, text, "-var", scope) {
                Ok(x) => v.value = Some(x),
                Err(d) => errs.push(d),
            },
            None => errs.push(
                Diagnostic::new(format!(
                    "Undefined -var variable: a \"{name}\" variable was passed in the command line but was not found in known variables"
                ))
                .with_hint(format!(
                    "to declare it, add a block variable \"{name}\" {{}} to one of the .pkr.hcl files"
                )),
            ),
        }
    }
    for v in vars.iter() {
        if v.value.is_none() {
            errs.push(
                Diagnostic::at(
                    v.span.as_ref(),
                    format!("Unset variable \"{}\": a used variable must be set or have a default value", v.name),
                )
                .with_hint(format!("set it with -var {}=..., a var file or PKR_VAR_{}", v.name, v.name)),
            );
        }
    }
    errs.into_result()
}

/// Packer's warning for a var file's value of a variable no template declares.
fn undeclared(name: &str, at: Option<Span>) -> Diagnostic {
    Diagnostic::at(
        at.as_ref(),
        format!("Undefined variable: a \"{name}\" variable was set but was not found in known variables"),
    )
    .with_hint(format!(
        "to declare it, add a block variable \"{name}\" {{}} to one of the .pkr.hcl files"
    ))
}

pub(crate) fn check_validations(v: &VarDecl, scope: &Scope, errs: &mut Diagnostics) {
    for (src, b) in &v.validations {
        let mut sc = scope.clone();
        sc.src = src.clone();
        let attr = |key: &str| {
            b.body.iter().find_map(|st| match st {
                Structure::Attribute(a) if a.key.as_str() == key => Some(a.value.clone()),
                _ => None,
            })
        };
        let (Some(cond), Some(message)) = (attr("condition"), attr("error_message")) else {
            errs.push(Diagnostic::at(
                span_in(src, b).as_ref(),
                "a validation block needs condition and error_message",
            ));
            continue;
        };
        match sc.eval(&cond).and_then(|c| sc.truth(&c)) {
            Ok(true) => {}
            Ok(false) => {
                let text = sc
                    .eval(&message)
                    .ok()
                    .and_then(|m| m.as_str().map(str::to_string))
                    .unwrap_or_default();
                errs.push(Diagnostic::at(
                    span_in(src, &cond).as_ref(),
                    format!("Invalid value for variable \"{}\": {text}", v.name),
                ));
            }
            Err(x) => errs.push(x.diag),
        }
    }
}

/// The first reference in `body` (its arguments, nested blocks included) to a local or data
/// source not evaluated yet.
fn pending_in(sc: &Scope, body: &hcl_edit::structure::Body) -> Option<Diagnostic> {
    for st in body.iter() {
        match st {
            Structure::Attribute(a) => {
                if let Err(Fail {
                    diag,
                    pending: true,
                }) = sc.eval(&a.value)
                {
                    return Some(diag);
                }
            }
            Structure::Block(b) => {
                if let Some(d) = pending_in(sc, &b.body) {
                    return Some(d);
                }
            }
        }
    }
    None
}

/// `data.TYPE.NAME` objects for the data sources read so far.
fn data_root(data: &[super::DataDecl], done: &[Option<Value>]) -> Value {
    let mut kinds: Vec<Member> = vec![];
    for (d, v) in data.iter().zip(done) {
        let Some(v) = v else { continue };
        let member = Member {
            key: d.name.clone(),
            key_span: None,
            value: v.clone(),
        };
        match kinds.iter_mut().find(|m| m.key == d.kind) {
            Some(Member {
                value:
                    Value {
                        kind: Kind::Object(names),
                        ..
                    },
                ..
            }) => names.push(member),
            _ => kinds.push(Member {
                key: d.kind.clone(),
                key_span: None,
                value: Value::new(Kind::Object(vec![member])),
            }),
        }
    }
    Value::new(Kind::Object(kinds))
}

/// Evaluates locals and reads data sources in the order their references allow (a data
/// source may use variables, locals and other data sources, and locals may use data
/// sources); a cycle, or a reference to something that does not exist, is reported at the
/// reference. Returns the locals' values and the secrets the data sources read.
pub(crate) fn eval_locals(
    locals: &[LocalDecl],
    data: &[super::DataDecl],
    scope: &mut Scope,
) -> Result<(Vec<Value>, Vec<String>), Diagnostics> {
    let mut done: Vec<Option<Value>> = vec![None; locals.len()];
    let mut read: Vec<Option<Value>> = vec![None; data.len()];
    let mut secrets = vec![];
    loop {
        let pending: Vec<String> = locals
            .iter()
            .zip(&done)
            .filter(|(_, d)| d.is_none())
            .map(|(l, _)| l.name.clone())
            .collect();
        let pending_data: Vec<String> = data
            .iter()
            .zip(&read)
            .filter(|(_, r)| r.is_none())
            .map(|(d, _)| format!("{}.{}", d.kind, d.name))
            .collect();
        let members: Vec<Member> = locals
            .iter()
            .zip(&done)
            .filter_map(|(l, d)| {
                d.clone().map(|value| Member {
                    key: l.name.clone(),
                    key_span: None,
                    value,
                })
            })
            .collect();
        scope
            .roots
            .insert("local".into(), Value::new(Kind::Object(members)));
        scope.roots.insert("data".into(), data_root(data, &read));
        if pending.is_empty() && pending_data.is_empty() {
            scope.pending_locals.clear();
            scope.pending_data.clear();
            return Ok((done.into_iter().flatten().collect(), secrets));
        }
        scope.pending_locals = pending;
        scope.pending_data = pending_data;
        let mut progressed = false;
        let mut errs = Diagnostics::default();
        let mut waiting = Diagnostics::default();
        for (i, l) in locals.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            let mut sc = scope.clone();
            sc.src = l.src.clone();
            match sc.eval(&l.expr) {
                Ok(v) => {
                    done[i] = Some(v);
                    progressed = true;
                }
                Err(Fail {
                    diag,
                    pending: true,
                }) => waiting.push(diag),
                Err(Fail { diag, .. }) => errs.push(diag),
            }
        }
        for (i, d) in data.iter().enumerate() {
            if read[i].is_some() {
                continue;
            }
            let mut sc = scope.clone();
            sc.src = d.src.clone();
            if let Some(diag) = pending_in(&sc, &d.block.body) {
                waiting.push(diag);
                continue;
            }
            let mut bad = Diagnostics::default();
            let (config, _) = super::build::body_value(&sc, &d.block.body, &[], &mut bad);
            if !bad.0.is_empty() {
                errs.0.extend(bad.0);
                // Not read, and not to be tried again.
                read[i] = Some(Value::new(Kind::Null));
                continue;
            }
            let at = span_in(&d.src, &d.block);
            match crate::datasources::read(&d.kind, &config.to_json()) {
                Ok((json, found)) => {
                    secrets.extend(found.into_iter().filter(|s| !s.is_empty()));
                    let mut v = Value::from_json(&json);
                    v.span = at;
                    read[i] = Some(v);
                    progressed = true;
                }
                Err(m) => {
                    errs.push(Diagnostic::at(
                        at.as_ref(),
                        format!("data \"{}\" \"{}\": {m}", d.kind, d.name),
                    ));
                    read[i] = Some(Value::new(Kind::Null));
                }
            }
        }
        std::mem::take(&mut errs).into_result()?;
        if !progressed {
            return Err(waiting);
        }
    }
}
