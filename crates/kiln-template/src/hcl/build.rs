//! HCL2 `build` blocks into the IR: one build per source a block names (shown as
//! `type.name`, or `build-name.type.name`), with the block's provisioners and post-processors
//! evaluated for each of them (`source.name`, `source.type` and `build.name` differ per build).

use super::eval::Scope;
use super::{object, one_label, span_in, unknown, unknown_entry, Declared};
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::parse_go_duration;
use crate::ir::{
    BuilderDef, HclBuildSummary, HclSummary, PostProcessorDef, ProvisionerDef, Template,
};
use crate::value::{Kind, Member, Value};
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Block, Body, Structure};
use std::collections::BTreeMap;

const BUILD_KEYS: &[&str] = &[
    "name",
    "description",
    "sources",
    "source",
    "provisioner",
    "post-processor",
    "post-processors",
    "error-cleanup-provisioner",
];
const PROVISIONER_META: &[&str] = &[
    "name",
    "only",
    "except",
    "pause_before",
    "max_retries",
    "timeout",
    "override",
];
const POST_PROCESSOR_META: &[&str] = &["name", "only", "except", "keep_input_artifact"];

/// One build of a block: the source it runs and the names it goes by.
struct Instance {
    kind: String,
    /// `source.name` and the manifest's name.
    name: String,
    /// `type.name` (or `build-name.type.name`).
    display: String,
}

/// Makes the builds, provisioners and post-processors of every `build` block.
pub(crate) fn make_builds(
    d: &Declared,
    scope: &Scope,
    t: &mut Template,
    summary: &mut HclSummary,
    errs: &mut Diagnostics,
) {
    for (src, b) in &d.builds {
        let mut sc = scope.clone();
        sc.src = src.clone();
        let mut build_name = None;
        let mut description = None;
        let mut refs: Vec<(String, Option<crate::Span>, Option<Block>)> = vec![];
        for st in b.body.iter() {
            match st {
                Structure::Attribute(a) => match a.key.as_str() {
                    "name" => match sc.eval(&a.value) {
                        Ok(v) => build_name = v.as_str().map(str::to_string),
                        Err(x) => errs.push(x.diag),
                    },
                    "description" => match sc.eval(&a.value) {
                        Ok(v) => description = v.as_str().map(str::to_string),
                        Err(x) => errs.push(x.diag),
                    },
                    "sources" => match &a.value {
                        Expression::Array(items) => {
                            for item in items.iter() {
                                match ref_text(item) {
                                    Some(r) => refs.push((r, span_in(src, item), None)),
                                    None => errs.push(Diagnostic::at(
                                        span_in(src, item).as_ref(),
                                        "a source is named as \"source.TYPE.NAME\"",
                                    )),
                                }
                            }
                        }
                        other => errs.push(Diagnostic::at(
                            span_in(src, other).as_ref(),
                            "sources must be a list such as [\"source.null.example\"]",
                        )),
                    },
                    other => errs.push(unknown(src, &a.key, "argument", other, BUILD_KEYS)),
                },
                Structure::Block(inner) => match inner.ident.as_str() {
                    "source" => {
                        if let Some(r) = &one_label(src, inner, "source.TYPE.NAME", errs) {
                            refs.push((r.clone(), span_in(src, inner), Some(inner.clone())));
                        }
                    }
                    "provisioner" | "post-processor" | "post-processors" => {}
                    "error-cleanup-provisioner" => {}
                    other => errs.push(unknown(src, &inner.ident, "block", other, BUILD_KEYS)),
                },
            }
        }
        let mut bs = HclBuildSummary {
            name: build_name.clone(),
            description,
            ..Default::default()
        };
        let mut instances = vec![];
        for (r, at, nested) in refs {
            let key = source_key(&r);
            let Some((kind, name, ssrc, sblock)) = d.sources.get(&key) else {
                let e = Diagnostic::at(
                    at.as_ref(),
                    format!("Unknown source: {r} is not declared by a source block"),
                );
                errs.push(
                    match crate::decode::nearest(&key, d.sources.keys().map(String::as_str)) {
                        Some(n) => e.with_hint(format!("did you mean \"source.{n}\"?")),
                        None => e,
                    },
                );
                continue;
            };
            let mut ssc = scope.clone();
            ssc.src = ssrc.clone();
            let mut config = body_value(&ssc, &sblock.body, &[], errs).0;
            config.span = span_in(ssrc, sblock);
            let mut name = name.clone();
            if let Some(nb) = &nested {
                let (extra, meta) = body_value(&sc, &nb.body, &["name"], errs);
                if let Some(n) = meta.get("name").and_then(|v| v.as_str()) {
                    name = n.to_string();
                }
                for m in extra.as_object().unwrap_or_default() {
                    config.set(&m.key, m.value.clone());
                }
            }
            let display = match &build_name {
                Some(bn) => format!("{bn}.{kind}.{name}"),
                None => format!("{kind}.{name}"),
            };
            if t.builders.iter().any(|b| b.key() == display) {
                errs.push(Diagnostic::at(
                    at.as_ref(),
                    format!("Duplicate build: {display} is built twice; give one a name (build name, or name in a source block)"),
                ));
                continue;
            }
            bs.sources.push(format!("{kind}.{name}"));
            t.builders.push(BuilderDef {
                name: name.clone(),
                kind: kind.clone(),
                config,
                span: at,
                display: Some(display.clone()),
            });
            instances.push(Instance {
                kind: kind.clone(),
                name,
                display,
            });
        }
        // What provisioners and post-processors see in each build, made once per build.
        let scopes: Vec<Scope> = instances
            .iter()
            .map(|i| instance_scope(&sc, i, build_name.as_deref()))
            .collect();
        let each = || instances.iter().zip(&scopes);
        for st in b.body.iter() {
            let Structure::Block(inner) = st else {
                continue;
            };
            match inner.ident.as_str() {
                "provisioner" => {
                    let Some(kind) = &one_label(src, inner, "type", errs) else {
                        continue;
                    };
                    bs.provisioners.push(shown_as(&sc, kind, inner));
                    for (i, isc) in each() {
                        if let Some(p) = provisioner(isc, kind, inner, i, errs) {
                            t.provisioners.push(p);
                        }
                    }
                }
                "error-cleanup-provisioner" => {
                    let Some(kind) = &one_label(src, inner, "type", errs) else {
                        continue;
                    };
                    for (i, isc) in each() {
                        if let Some(p) = provisioner(isc, kind, inner, i, errs) {
                            t.error_cleanup_provisioners.push(p);
                        }
                    }
                }
                "post-processor" => {
                    let Some(kind) = &one_label(src, inner, "type", errs) else {
                        continue;
                    };
                    bs.post_processors.push(vec![shown_as(&sc, kind, inner)]);
                    for (i, isc) in each() {
                        if let Some(p) = post_processor(isc, kind, inner, i, errs) {
                            t.post_processors.push(vec![p]);
                        }
                    }
                }
                "post-processors" => {
                    let mut kinds = vec![];
                    let mut chains: Vec<Vec<PostProcessorDef>> =
                        instances.iter().map(|_| vec![]).collect();
                    for st in inner.body.iter() {
                        match st {
                            Structure::Block(pb) if pb.ident.as_str() == "post-processor" => {
                                let Some(kind) = &one_label(src, pb, "type", errs) else {
                                    continue;
                                };
                                kinds.push(shown_as(&sc, kind, pb));
                                for ((i, isc), chain) in each().zip(chains.iter_mut()) {
                                    if let Some(p) = post_processor(isc, kind, pb, i, errs) {
                                        chain.push(p);
                                    }
                                }
                            }
                            other => errs.push(Diagnostic::at(
                                span_in(src, other).as_ref(),
                                "a post-processors block holds only post-processor blocks",
                            )),
                        }
                    }
                    bs.post_processors.push(kinds);
                    t.post_processors
                        .extend(chains.into_iter().filter(|c| !c.is_empty()));
                }
                _ => {}
            }
        }
        summary.builds.push(bs);
    }
}

/// How `inspect` shows a provisioner or post-processor block: `type.name` when it has a
/// `name`, else its type.
fn shown_as(sc: &Scope, kind: &str, b: &Block) -> String {
    let name = b.body.iter().find_map(|st| match st {
        Structure::Attribute(a) if a.key.as_str() == "name" => sc.eval(&a.value).ok(),
        _ => None,
    });
    match name.as_ref().and_then(|v| v.as_str()) {
        Some(n) if !n.is_empty() => format!("{kind}.{n}"),
        _ => kind.to_string(),
    }
}

/// The `type.name` a source reference names, as Packer reads one: of three parts or more
/// (`source.null.x`, also `sources.null.x`) the second and third, of two the two.
fn source_key(r: &str) -> String {
    let parts: Vec<&str> = r.split('.').collect();
    let parts = if parts.len() > 2 {
        &parts[1..]
    } else {
        &parts[..]
    };
    parts.iter().take(2).copied().collect::<Vec<_>>().join(".")
}

/// `"source.null.x"` or a bare `source.null.x` as text.
fn ref_text(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().to_string()),
        Expression::StringTemplate(t) => match t.as_single_element() {
            Some(hcl_edit::template::Element::Literal(l)) => Some(l.value().to_string()),
            _ => None,
        },
        Expression::Traversal(t) => {
            let Expression::Variable(root) = &t.expr else {
                return None;
            };
            let mut out = root.as_str().to_string();
            for op in &t.operators {
                let TraversalOperator::GetAttr(n) = op.value() else {
                    return None;
                };
                out.push('.');
                out.push_str(n.as_str());
            }
            Some(out)
        }
        _ => None,
    }
}

/// The scope provisioners and post-processors of one build see.
fn instance_scope(sc: &Scope, i: &Instance, build_name: Option<&str>) -> Scope {
    let mut s = sc.clone();
    s.roots.insert(
        "source".into(),
        object(vec![
            ("name", Value::string(&i.name)),
            ("type", Value::string(&i.kind)),
        ]),
    );
    s.roots.insert(
        "build".into(),
        object(vec![("name", Value::string(build_name.unwrap_or("")))]),
    );
    s.defer_build = true;
    s
}

fn list_of_names(v: Option<&Value>) -> Vec<String> {
    let names = match v.map(|v| &v.kind) {
        Some(Kind::Array(items)) => items.iter().filter_map(|x| x.as_str()).collect(),
        Some(Kind::String(s)) => vec![s.as_str()],
        _ => vec![],
    };
    names
        .into_iter()
        .map(|n| n.strip_prefix("source.").unwrap_or(n).to_string())
        .collect()
}

/// Whether `only` / `except` let this build run the block.
fn selected(meta: &BTreeMap<String, Value>, i: &Instance) -> bool {
    let matches = |n: &String| n == &i.display || *n == format!("{}.{}", i.kind, i.name);
    let only = list_of_names(meta.get("only"));
    let except = list_of_names(meta.get("except"));
    (only.is_empty() || only.iter().any(matches)) && !except.iter().any(matches)
}

fn duration(
    meta: &BTreeMap<String, Value>,
    key: &str,
    errs: &mut Diagnostics,
) -> Option<std::time::Duration> {
    let v = meta.get(key)?;
    let text = match &v.kind {
        Kind::String(s) => s.clone(),
        Kind::Number(n) => format!("{n}s"),
        _ => String::new(),
    };
    match parse_go_duration(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(Diagnostic::at(v.span.as_ref(), format!("{key}: {e}")));
            None
        }
    }
}

fn provisioner(
    sc: &Scope,
    kind: &str,
    b: &Block,
    i: &Instance,
    errs: &mut Diagnostics,
) -> Option<ProvisionerDef> {
    let (mut config, meta) = body_value(sc, &b.body, PROVISIONER_META, errs);
    config.span = span_in(&sc.src, b);
    if !selected(&meta, i) {
        return None;
    }
    if let Some(ov) = meta.get("override") {
        for m in ov.as_object().unwrap_or_default() {
            let key = m.key.strip_prefix("source.").unwrap_or(&m.key);
            if key == i.display || key == i.name || key == format!("{}.{}", i.kind, i.name) {
                for o in m.value.as_object().unwrap_or_default() {
                    config.set(&o.key, o.value.clone());
                }
            }
        }
    }
    let max_retries = match meta.get("max_retries") {
        None => 0,
        Some(v) => match crate::decode::decode::<u32>(v) {
            Ok(n) => n,
            Err(d) => {
                errs.push(d.context("max_retries"));
                0
            }
        },
    };
    Some(ProvisionerDef {
        kind: kind.to_string(),
        config,
        only: vec![i.display.clone()],
        except: vec![],
        overrides: vec![],
        pause_before: duration(&meta, "pause_before", errs),
        max_retries,
        timeout: duration(&meta, "timeout", errs),
        span: span_in(&sc.src, b),
    })
}

fn post_processor(
    sc: &Scope,
    kind: &str,
    b: &Block,
    i: &Instance,
    errs: &mut Diagnostics,
) -> Option<PostProcessorDef> {
    let (mut config, meta) = body_value(sc, &b.body, POST_PROCESSOR_META, errs);
    config.span = span_in(&sc.src, b);
    if !selected(&meta, i) {
        return None;
    }
    let keep_input_artifact = match meta.get("keep_input_artifact") {
        None => None,
        Some(v) => match crate::decode::decode::<bool>(v) {
            Ok(k) => Some(k),
            Err(d) => {
                errs.push(d.context("keep_input_artifact"));
                None
            }
        },
    };
    Some(PostProcessorDef {
        kind: kind.to_string(),
        name: meta
            .get("name")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        config,
        keep_input_artifact,
        only: vec![i.display.clone()],
        except: vec![],
        span: span_in(&sc.src, b),
    })
}

/// A block body as a plugin's configuration: arguments become members, nested blocks become
/// objects (a list of them when repeated), `dynamic` blocks are expanded. The `meta`
/// arguments (`only`, `pause_before`, …) are returned apart.
pub(crate) fn body_value(
    sc: &Scope,
    body: &Body,
    meta: &[&str],
    errs: &mut Diagnostics,
) -> (Value, BTreeMap<String, Value>) {
    let mut members: Vec<Member> = vec![];
    let mut metas = BTreeMap::new();
    let mut blocks: Vec<(String, Option<crate::Span>, Vec<Value>)> = vec![];
    let mut add_block = |name: &str, at: Option<crate::Span>, v: Value| match blocks
        .iter_mut()
        .find(|(n, _, _)| n == name)
    {
        Some((_, _, vs)) => vs.push(v),
        None => blocks.push((name.to_string(), at, vec![v])),
    };
    for st in body.iter() {
        match st {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                let value = match sc.eval(&a.value) {
                    Ok(v) => v,
                    Err(x) => {
                        errs.push(x.diag);
                        continue;
                    }
                };
                if meta.contains(&key) {
                    metas.insert(key.to_string(), value);
                } else if members.iter().any(|m| m.key == key) {
                    errs.push(Diagnostic::at(
                        span_in(&sc.src, a).as_ref(),
                        format!("Attribute redefined: \"{key}\" is set twice"),
                    ));
                } else {
                    members.push(Member {
                        key: key.to_string(),
                        key_span: span_in(&sc.src, &a.key),
                        value,
                    });
                }
            }
            Structure::Block(inner) if inner.ident.as_str() == "dynamic" => {
                let Some(name) = &one_label(&sc.src, inner, "block name", errs) else {
                    continue;
                };
                for v in dynamic(sc, name, inner, errs) {
                    add_block(name, span_in(&sc.src, inner), v);
                }
            }
            Structure::Block(inner) => {
                if !inner.labels.is_empty() {
                    errs.push(Diagnostic::at(
                        span_in(&sc.src, inner).as_ref(),
                        format!("a \"{}\" block here takes no labels", inner.ident.as_str()),
                    ));
                    continue;
                }
                let (mut v, _) = body_value(sc, &inner.body, &[], errs);
                v.span = span_in(&sc.src, inner);
                add_block(inner.ident.as_str(), span_in(&sc.src, &inner.ident), v);
            }
        }
    }
    for (name, at, mut vs) in blocks {
        let value = if vs.len() == 1 {
            vs.remove(0)
        } else {
            Value {
                kind: Kind::Array(vs),
                span: at.clone(),
            }
        };
        if members.iter().any(|m| m.key == name) {
            errs.push(Diagnostic::at(
                at.as_ref(),
                format!("\"{name}\" is set both as an argument and as a block"),
            ));
            continue;
        }
        members.push(Member {
            key: name,
            key_span: at,
            value,
        });
    }
    (Value::new(Kind::Object(members)), metas)
}

/// `dynamic "name" { for_each = …, iterator = it, content { … } }`: one block per element,
/// with `it.key` and `it.value` (the iterator is named after the block unless `iterator`).
fn dynamic(sc: &Scope, name: &str, b: &Block, errs: &mut Diagnostics) -> Vec<Value> {
    let mut for_each = None;
    let mut iterator = name.to_string();
    let mut content = None;
    for st in b.body.iter() {
        match st {
            Structure::Attribute(a) if a.key.as_str() == "for_each" => for_each = Some(&a.value),
            Structure::Attribute(a) if a.key.as_str() == "iterator" => {
                if let Expression::Variable(v) = &a.value {
                    iterator = v.as_str().to_string();
                }
            }
            Structure::Block(c) if c.ident.as_str() == "content" => content = Some(c),
            other => errs.push(unknown_entry(
                &sc.src,
                other,
                &["for_each", "iterator", "content"],
            )),
        }
    }
    let (Some(for_each), Some(content)) = (for_each, content) else {
        errs.push(Diagnostic::at(
            span_in(&sc.src, b).as_ref(),
            "a dynamic block needs for_each and a content block",
        ));
        return vec![];
    };
    let coll = match sc.eval(for_each) {
        Ok(v) => v,
        Err(x) => {
            errs.push(x.diag);
            return vec![];
        }
    };
    let what = coll.type_name();
    let pairs = match coll.kind {
        Kind::Null => vec![],
        _ => match super::eval::pairs(coll) {
            Some(p) => p,
            None => {
                errs.push(Diagnostic::at(
                    span_in(&sc.src, for_each).as_ref(),
                    format!("for_each must be a list or a map, not {what}"),
                ));
                return vec![];
            }
        },
    };
    let mut out = vec![];
    for (k, v) in pairs {
        let mut inner = sc.clone();
        inner
            .iter
            .push((iterator.clone(), object(vec![("key", k), ("value", v)])));
        let (mut value, _) = body_value(&inner, &content.body, &[], errs);
        value.span = span_in(&sc.src, content);
        out.push(value);
    }
    out
}
