//! Packer's HCL2 templates (`*.pkr.hcl`, or a directory of them), parsed with `hcl-edit`,
//! evaluated by [`eval`] and turned into the same [`ir::Template`] the legacy JSON front end
//! makes: `variable`/`variables`, `locals`/`local`, `source` and `build` blocks (with
//! `provisioner`, `post-processor` and `post-processors`), `packer { required_version }`.
//!
//! Variables take their values as Packer gives them: the default, then `PKR_VAR_name`, then
//! `*.auto.pkrvars.hcl` beside the templates, then `-var-file`s, then `-var`s. Everything is
//! evaluated here; what only a build knows (`build.ID`, `{{ .HTTPIP }}`) is left as a Go
//! template for the plugin to render, as Packer does.

mod bcrypt;
mod build;
pub mod eval;
pub mod fmt;
mod funcs;
mod json_syntax;
mod net;
pub mod plugins;
mod rsadecrypt;
mod text;
mod timefmt;
mod types;
pub mod upgrade;
mod vars;
mod yaml;

#[cfg(test)]
mod tests;

use crate::decode::nearest;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{HclSummary, Template};
use crate::source::{Source, Span};
use crate::value::{Kind, Member, Value};
use crate::variables::Overrides;
use eval::Scope;
use hcl_edit::structure::{Block, Body, Structure};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use types::Ty;
use vars::{
    assign_vars, check_validations, eval_locals, local_block, variable_block, LocalDecl, VarDecl,
};

/// Whether `path` names an HCL2 template: a `.pkr.hcl` or `.pkr.json` file, or a directory.
pub fn is_hcl(path: &str) -> bool {
    path.ends_with(".pkr.hcl") || path.ends_with(".pkr.json") || Path::new(path).is_dir()
}

/// One parsed file.
pub(crate) struct File {
    pub src: Arc<Source>,
    pub body: Body,
}

/// Reads and parses one HCL file, in the native syntax or, for a `.json` one, HCL's JSON
/// syntax; a syntax error points at its line and column.
pub(crate) fn parse_file(path: &Path) -> Result<File, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(format!("could not read {}: {e}", path.display())))?;
    let name = path.display().to_string();
    let src = if name.ends_with(".json") {
        let doc = json_syntax::Doc::of(&name);
        json_syntax::convert(&Source::new(name, text), doc)?
    } else {
        Source::new_hcl(name, text)
    };
    let body = parse_source(&src)?;
    Ok(File { src, body })
}

/// Parses a file with hcl-edit, then scans it with the formatter's tokenizer to find what
/// HCL's own scanner refuses and hcl-edit reads past (a comment after a heredoc's closing
/// marker): a template Packer refuses is refused here too.
fn parse_source(src: &Arc<Source>) -> Result<Body, Diagnostic> {
    let malformed = |m: fmt::Malformed| {
        let end = src.text[m.at..]
            .chars()
            .next()
            .map_or(m.at, |c| m.at + c.len_utf8());
        Diagnostic::at(
            Some(&Span::new(src, m.at, end)),
            format!("invalid HCL: {}", m.what),
        )
    };
    let body = hcl_edit::parser::parse_body(&src.text).map_err(|e| {
        // What the scanner finds left open (a string, a heredoc, a bracket) is said where it
        // opens; the parser would only say where it gave up.
        if let Err(m) = fmt::scan(&src.text) {
            return malformed(m);
        }
        let at = e.location().offset();
        Diagnostic::at(
            Some(&Span::new(src, at, at + 1)),
            format!("invalid HCL: {}", e.message()),
        )
    })?;
    fmt::scan(&src.text).map_err(malformed)?;
    Ok(body)
}

/// `text` (the file `name`) in HCL's canonical layout, as `packer fmt` writes it; a syntax
/// error points at its line and column, and nothing is formatted.
pub fn format_file(name: &str, text: &str) -> Result<String, Diagnostic> {
    parse_source(&Source::new_hcl(name.to_string(), text.to_string()))?;
    // The text scanned clean just now.
    fmt::format(text).map_err(|m| Diagnostic::new(format!("{name}: invalid HCL: {}", m.what)))
}

/// The files a directory holds, as Packer reads them.
#[derive(Default)]
struct Discovered {
    /// The templates: the `.pkr.hcl` files by name, then the `.pkr.json` ones.
    templates: Vec<PathBuf>,
    /// The `.auto.pkrvars.hcl` files, by name.
    auto_hcl: Vec<PathBuf>,
    /// The `.auto.pkrvars.json` files, by name: read after every HCL var file.
    auto_json: Vec<PathBuf>,
}

/// The template files and auto var files `path` stands for.
fn discover(path: &Path) -> Result<Discovered, Diagnostic> {
    if !path.is_dir() {
        return Ok(Discovered {
            templates: vec![path.to_path_buf()],
            ..Default::default()
        });
    }
    let mut d = Discovered::default();
    let mut json = vec![];
    let entries = std::fs::read_dir(path)
        .map_err(|e| Diagnostic::new(format!("could not read {}: {e}", path.display())))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".pkr.hcl") {
            d.templates.push(p);
        } else if name.ends_with(".pkr.json") {
            json.push(p);
        } else if name.ends_with(".auto.pkrvars.hcl") {
            d.auto_hcl.push(p);
        } else if name.ends_with(".auto.pkrvars.json") {
            d.auto_json.push(p);
        }
    }
    d.templates.sort();
    json.sort();
    d.templates.extend(json);
    d.auto_hcl.sort();
    d.auto_json.sort();
    if d.templates.is_empty() {
        return Err(Diagnostic::new(format!(
            "Could not find any config file in {}",
            path.display()
        ))
        .with_hint("a config file is named *.pkr.hcl or *.pkr.json"));
    }
    Ok(d)
}

/// What the top-level blocks declared, before builds are made.
pub(crate) struct Declared {
    vars: Vec<VarDecl>,
    locals: Vec<LocalDecl>,
    /// `source` blocks by `type.name`.
    pub sources: BTreeMap<String, (String, String, Arc<Source>, Block)>,
    /// `build` blocks in order.
    pub builds: Vec<(Arc<Source>, Block)>,
    /// What the declarations warn of (a `required_version` only a later 1.x release meets).
    pub warnings: Vec<Diagnostic>,
    /// `data` blocks in order.
    pub data: Vec<DataDecl>,
}

/// A `data "TYPE" "NAME"` block.
pub(crate) struct DataDecl {
    pub kind: String,
    pub name: String,
    pub src: Arc<Source>,
    pub block: Block,
}

/// A template read up to its variables, locals and data sources.
struct Evaluated {
    paths: Vec<PathBuf>,
    files: Vec<File>,
    d: Declared,
    scope: Scope,
    summary: HclSummary,
    secrets: Vec<String>,
    warnings: Vec<Diagnostic>,
}

/// Loads an HCL2 template (a file or a directory) with the command line's variables.
pub fn load(
    path: &Path,
    overrides: &Overrides,
    init_time: chrono::DateTime<chrono::Utc>,
) -> Result<Template, Diagnostics> {
    let Evaluated {
        paths,
        files,
        d,
        scope,
        mut summary,
        secrets,
        warnings,
    } = evaluate(path, overrides, init_time)?;
    let mut errs = Diagnostics::default();
    let mut t = Template {
        // The first file: its directory is the template's (`{{template_dir}}`).
        path: Some(paths[0].clone()),
        source: Some(files[0].src.clone()),
        secrets,
        warnings,
        ..Default::default()
    };
    build::make_builds(&d, &scope, &mut t, &mut summary, &mut errs);
    std::mem::take(&mut errs).into_result()?;
    if t.builders.is_empty() {
        return Err(Diagnostic::new(format!(
            "{}: no build block with sources: nothing to build",
            path.display()
        ))
        .into());
    }
    t.hcl = Some(summary);
    Ok(t)
}

/// Parses the template's files and evaluates its variables, locals and data sources.
fn evaluate(
    path: &Path,
    overrides: &Overrides,
    init_time: chrono::DateTime<chrono::Utc>,
) -> Result<Evaluated, Diagnostics> {
    let Discovered {
        templates: paths,
        auto_hcl,
        auto_json,
    } = discover(path)?;
    let mut files = vec![];
    let mut errs = Diagnostics::default();
    for p in &paths {
        match parse_file(p) {
            Ok(f) => files.push(f),
            Err(d) => errs.push(d),
        }
    }
    std::mem::take(&mut errs).into_result()?;
    let root_dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let facts = Arc::new(funcs::Facts {
        init_time,
        cwd,
        template_dir: root_dir.clone(),
    });
    let empty_src = files[0].src.clone();
    let mut scope = Scope {
        src: empty_src,
        roots: BTreeMap::new(),
        pending_locals: vec![],
        pending_data: vec![],
        defer_build: false,
        iter: vec![],
        facts,
        offset: 0,
    };
    scope.roots.insert(
        "path".into(),
        object(vec![
            ("root", Value::string(dir_string(&root_dir))),
            ("cwd", Value::string(dir_string(&scope.facts.cwd))),
        ]),
    );

    let mut d = declare(&files, &scope, &mut errs);
    for (i, l) in d.locals.iter().enumerate() {
        if d.locals[..i].iter().any(|o| o.name == l.name) {
            errs.push(Diagnostic::at(
                span_in(&l.src, &l.expr).as_ref(),
                format!("Duplicate local: local.{} is declared twice", l.name),
            ));
        }
    }
    std::mem::take(&mut errs).into_result()?;
    let mut warnings = std::mem::take(&mut d.warnings);
    assign_vars(
        &mut d.vars,
        (&auto_hcl, &auto_json),
        overrides,
        &scope,
        &mut warnings,
    )?;
    let mut secrets = vec![];
    let mut summary = HclSummary::default();
    let mut var_obj = vec![];
    for v in &d.vars {
        let value = v.value.clone().unwrap_or(Value::new(Kind::Null));
        if v.sensitive {
            collect_strings(&value, &mut secrets);
        }
        summary.inputs.push((
            v.name.clone(),
            if v.sensitive {
                "\"<sensitive>\"".into()
            } else {
                shown(&value)
            },
        ));
        var_obj.push(Member {
            key: v.name.clone(),
            key_span: None,
            value,
        });
    }
    scope
        .roots
        .insert("var".into(), Value::new(Kind::Object(var_obj)));
    for v in &d.vars {
        check_validations(v, &scope, &mut errs);
    }
    std::mem::take(&mut errs).into_result()?;
    let (locals, data_secrets) = eval_locals(&d.locals, &d.data, &mut scope)?;
    secrets.extend(data_secrets);
    for (l, value) in d.locals.iter().zip(&locals) {
        if l.sensitive {
            collect_strings(value, &mut secrets);
        }
        summary.locals.push((
            l.name.clone(),
            if l.sensitive {
                "\"<sensitive>\"".into()
            } else {
                shown(value)
            },
        ));
    }
    summary.inputs.sort();
    summary.locals.sort();
    Ok(Evaluated {
        paths,
        files,
        d,
        scope,
        summary,
        secrets,
        warnings,
    })
}

/// What `kiln console` evaluates expressions in: a template's variables, locals, data
/// sources and `path`, or (with no template) functions alone.
pub struct Console {
    scope: Scope,
    /// The variables and locals, as `inspect` shows them.
    pub summary: HclSummary,
    /// Values to mask in what is printed.
    pub secrets: Vec<String>,
}

impl Console {
    /// The console of the template at `path`.
    pub fn of_template(
        path: &Path,
        overrides: &Overrides,
        init_time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Console, Diagnostics> {
        let e = evaluate(path, overrides, init_time)?;
        Ok(Console {
            scope: e.scope,
            summary: e.summary,
            secrets: e.secrets,
        })
    }

    /// A console with no template.
    pub fn empty(init_time: chrono::DateTime<chrono::Utc>) -> Console {
        let cwd = std::env::current_dir().unwrap_or_default();
        let scope = Scope {
            src: Source::new_hcl("<console-input>", String::new()),
            roots: BTreeMap::new(),
            pending_locals: vec![],
            pending_data: vec![],
            defer_build: false,
            iter: vec![],
            facts: Arc::new(funcs::Facts {
                init_time,
                cwd: cwd.clone(),
                template_dir: cwd,
            }),
            offset: 0,
        };
        Console {
            scope,
            summary: HclSummary::default(),
            secrets: vec![],
        }
    }

    /// Evaluates one line: its value as Packer's console prints it ([`printable`]), or the
    /// error, placed in the line.
    pub fn eval(&self, line: &str) -> Result<String, Diagnostic> {
        let src = Source::new_hcl("<console-input>", line.to_string());
        let expr = hcl_edit::parser::parse_expr(line).map_err(|e| {
            let at = e.location().offset();
            Diagnostic::at(
                Some(&Span::new(&src, at, (at + 1).min(line.len().max(1)))),
                format!("invalid expression: {}", e.message()),
            )
        })?;
        let mut sc = self.scope.clone();
        sc.src = src;
        sc.offset = 0;
        let v = sc.eval(&expr).map_err(|f| f.diag)?;
        Ok(printable(&v))
    }
}

/// A value as Packer's console and `inspect` print it (its `PrintableCtyValue`): a string as
/// it is, numbers as Go prints them, lists and maps one element a line (quoted strings, maps
/// by key and without their nulls), each level indented two spaces.
pub(crate) fn printable(v: &Value) -> String {
    fn nested(v: &Value) -> String {
        match &v.kind {
            Kind::String(s) => text::go_quote(s),
            _ => printable(v),
        }
    }
    fn indent(text: &str) -> String {
        text.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
    match &v.kind {
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        Kind::Number(n) => go_number(n),
        Kind::String(s) => s.clone(),
        Kind::Array(items) if items.is_empty() => "[]".into(),
        Kind::Array(items) => {
            let mut out = String::from("[\n");
            for x in items {
                out.push_str(&indent(&nested(x)));
                out.push_str(",\n");
            }
            out.push(']');
            out
        }
        Kind::Object(members) => {
            // Packer leaves out what is null in a map.
            let mut sorted: Vec<&Member> = members
                .iter()
                .filter(|m| !matches!(m.value.kind, Kind::Null))
                .collect();
            if sorted.is_empty() {
                return "{}".into();
            }
            sorted.sort_by(|a, b| a.key.cmp(&b.key));
            let mut out = String::from("{\n");
            for m in sorted {
                out.push_str(&indent(&format!(
                    "{} = {}",
                    text::go_quote(&m.key),
                    nested(&m.value)
                )));
                out.push('\n');
            }
            out.push('}');
            out
        }
    }
}

/// A number as Packer prints one: a whole number as an integer, anything else as Go's `%g`
/// (`2.5`, `1e+06`, `1e-05`).
fn go_number(n: &str) -> String {
    if let Ok(i) = n.parse::<i64>() {
        return i.to_string();
    }
    let Ok(f) = n.parse::<f64>() else {
        return n.to_string();
    };
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        return (f as i64).to_string();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

fn dir_string(p: &Path) -> String {
    let s = p.display().to_string();
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// An object value from pairs.
pub(crate) fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::new(Kind::Object(
        pairs
            .into_iter()
            .map(|(k, v)| Member {
                key: k.to_string(),
                key_span: None,
                value: v,
            })
            .collect(),
    ))
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match &v.kind {
        Kind::String(s) => out.push(s.clone()),
        Kind::Number(n) => out.push(n.clone()),
        Kind::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Kind::Object(m) => m.iter().for_each(|x| collect_strings(&x.value, out)),
        _ => {}
    }
}

/// A value as `inspect` shows it: Packer's printable form, quoted as Go quotes.
fn shown(v: &Value) -> String {
    text::go_quote(&printable(v))
}

/// The span of a parsed node in `src`.
pub(crate) fn span_in(src: &Arc<Source>, node: &impl hcl_edit::Span) -> Option<Span> {
    node.span().map(|r| Span::new(src, r.start, r.end))
}

fn labels(b: &Block) -> Vec<String> {
    b.labels.iter().map(|l| l.as_str().to_string()).collect()
}

/// Checks a block's labels: exactly `want` of them, named in the message.
pub(crate) fn want_labels(
    src: &Arc<Source>,
    b: &Block,
    want: &[&str],
    errs: &mut Diagnostics,
) -> Option<Vec<String>> {
    let got = labels(b);
    if got.len() == want.len() {
        return Some(got);
    }
    let what = if want.is_empty() {
        "no labels".to_string()
    } else {
        want.iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    errs.push(Diagnostic::at(
        span_in(src, b).as_ref(),
        format!(
            "a \"{}\" block takes {what}, not {} label{}",
            b.ident.as_str(),
            got.len(),
            if got.len() == 1 { "" } else { "s" }
        ),
    ));
    None
}

/// The one label of a block that takes one (`want` names it in the message).
pub(crate) fn one_label(
    src: &Arc<Source>,
    b: &Block,
    want: &str,
    errs: &mut Diagnostics,
) -> Option<String> {
    want_labels(src, b, &[want], errs).and_then(|mut l| l.pop())
}

/// An error for a block or argument that is not allowed where it is.
pub(crate) fn unknown(
    src: &Arc<Source>,
    node: &impl hcl_edit::Span,
    what: &str,
    name: &str,
    valid: &[&str],
) -> Diagnostic {
    let d = Diagnostic::at(
        span_in(src, node).as_ref(),
        format!("unsupported {what} \"{name}\" here"),
    );
    match nearest(name, valid.iter().copied()) {
        Some(n) => d.with_hint(format!("did you mean \"{n}\"?")),
        None => d.with_hint(format!("expected one of: {}", valid.join(", "))),
    }
}

/// [`unknown`] for an argument or block in a body that takes only the `valid` arguments.
pub(crate) fn unknown_entry(src: &Arc<Source>, st: &Structure, valid: &[&str]) -> Diagnostic {
    let name = match st {
        Structure::Attribute(a) => a.key.as_str(),
        Structure::Block(b) => b.ident.as_str(),
    };
    unknown(src, st, "argument", name, valid)
}

const TOP_BLOCKS: &[&str] = &[
    "packer",
    "data",
    "variable",
    "variables",
    "locals",
    "local",
    "source",
    "build",
];

fn declare(files: &[File], scope: &Scope, errs: &mut Diagnostics) -> Declared {
    let mut d = Declared {
        vars: vec![],
        locals: vec![],
        sources: BTreeMap::new(),
        builds: vec![],
        warnings: vec![],
        data: vec![],
    };
    for f in files {
        let mut sc = scope.clone();
        sc.src = f.src.clone();
        for st in f.body.iter() {
            let b = match st {
                Structure::Attribute(a) => {
                    errs.push(Diagnostic::at(
                        span_in(&f.src, a).as_ref(),
                        format!(
                            "an argument (\"{}\") is not expected at the top level; put it in a block",
                            a.key.as_str()
                        ),
                    ));
                    continue;
                }
                Structure::Block(b) => b,
            };
            match b.ident.as_str() {
                "packer" => check_packer_block(&sc, b, errs, &mut d.warnings),
                "variable" => {
                    if let Some(name) = &one_label(&f.src, b, "name", errs) {
                        if let Some(v) = variable_block(&sc, name, b, errs) {
                            push_var(&mut d.vars, v, &f.src, b, errs);
                        }
                    }
                }
                "variables" => {
                    for st in b.body.iter() {
                        let Structure::Attribute(a) = st else {
                            errs.push(Diagnostic::at(
                                span_in(&f.src, st).as_ref(),
                                "a \"variables\" block holds only name = default",
                            ));
                            continue;
                        };
                        match sc.eval(&a.value) {
                            Ok(value) => {
                                let v = VarDecl {
                                    name: a.key.as_str().to_string(),
                                    ty: Ty::Any,
                                    sensitive: false,
                                    value: Some(value),
                                    span: span_in(&f.src, a),
                                    validations: vec![],
                                };
                                push_var(&mut d.vars, v, &f.src, b, errs);
                            }
                            Err(x) => errs.push(x.diag),
                        }
                    }
                }
                "locals" => {
                    for st in b.body.iter() {
                        match st {
                            Structure::Attribute(a) => d.locals.push(LocalDecl {
                                name: a.key.as_str().to_string(),
                                expr: a.value.clone(),
                                src: f.src.clone(),
                                sensitive: false,
                            }),
                            Structure::Block(inner) => errs.push(Diagnostic::at(
                                span_in(&f.src, inner).as_ref(),
                                "a \"locals\" block holds only name = expression",
                            )),
                        }
                    }
                }
                "local" => {
                    if let Some(name) = &one_label(&f.src, b, "name", errs) {
                        local_block(&f.src, name, b, &mut d.locals, errs);
                    }
                }
                "source" => {
                    if let Some([kind, name]) =
                        want_labels(&f.src, b, &["type", "name"], errs).as_deref()
                    {
                        match d.sources.entry(format!("{kind}.{name}")) {
                            std::collections::btree_map::Entry::Occupied(_) => {
                                errs.push(Diagnostic::at(
                                    span_in(&f.src, b).as_ref(),
                                    format!("Duplicate source: source \"{kind}\" \"{name}\" is declared twice"),
                                ))
                            }
                            std::collections::btree_map::Entry::Vacant(v) => {
                                v.insert((kind.clone(), name.clone(), f.src.clone(), b.clone()));
                            }
                        }
                    }
                }
                "build" => {
                    if want_labels(&f.src, b, &[], errs).is_some() {
                        d.builds.push((f.src.clone(), b.clone()));
                    }
                }
                "data" => {
                    if let Some([kind, name]) =
                        want_labels(&f.src, b, &["type", "name"], errs).as_deref()
                    {
                        if d.data.iter().any(|x| x.kind == *kind && x.name == *name) {
                            errs.push(Diagnostic::at(
                                span_in(&f.src, b).as_ref(),
                                format!("Duplicate data source: data \"{kind}\" \"{name}\" is declared twice"),
                            ));
                        } else {
                            d.data.push(DataDecl {
                                kind: kind.clone(),
                                name: name.clone(),
                                src: f.src.clone(),
                                block: b.clone(),
                            });
                        }
                    }
                }
                other => errs.push(unknown(&f.src, &b.ident, "block", other, TOP_BLOCKS)),
            }
        }
    }
    d
}

fn push_var(
    vars: &mut Vec<VarDecl>,
    v: VarDecl,
    src: &Arc<Source>,
    b: &Block,
    errs: &mut Diagnostics,
) {
    if vars.iter().any(|x| x.name == v.name) {
        errs.push(Diagnostic::at(
            span_in(src, b).as_ref(),
            format!(
                "Duplicate variable: variable \"{}\" is declared twice",
                v.name
            ),
        ));
    } else {
        vars.push(v);
    }
}

/// `packer { required_version = "..." }`, checked against the Packer version kiln follows
/// (see [`crate::version`]).
fn check_packer_block(
    sc: &Scope,
    b: &Block,
    errs: &mut Diagnostics,
    warnings: &mut Vec<Diagnostic>,
) {
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a) if a.key.as_str() == "required_version" => {
                match sc.eval(&a.value).map(|v| v.as_str().map(str::to_string)) {
                    Ok(Some(c)) => {
                        let at = span_in(&sc.src, a);
                        match crate::version::check(&c, "required_version") {
                            crate::version::Verdict::Met => {}
                            crate::version::Verdict::Later(m) => {
                                warnings.push(Diagnostic::at(at.as_ref(), m))
                            }
                            crate::version::Verdict::Refused(m) => {
                                errs.push(Diagnostic::at(at.as_ref(), m))
                            }
                        }
                    }
                    Ok(None) => errs.push(Diagnostic::at(
                        span_in(&sc.src, a).as_ref(),
                        "required_version must be a string",
                    )),
                    Err(x) => errs.push(x.diag),
                }
            }
            // Plugins are built in: what a template asks to install is there already, or is
            // warned of.
            Structure::Block(inner) if inner.ident.as_str() == "required_plugins" => {
                match plugins::required(&sc.src, inner) {
                    Ok(list) => {
                        for p in list.iter().filter(|p| p.built_in.is_none()) {
                            warnings.push(Diagnostic::at(
                                span_in(&sc.src, inner).as_ref(),
                                plugins::missing(p),
                            ));
                        }
                    }
                    Err(d) => errs.push(d),
                }
            }
            other => errs.push(unknown_entry(
                &sc.src,
                other,
                &["required_version", "required_plugins"],
            )),
        }
    }
}
