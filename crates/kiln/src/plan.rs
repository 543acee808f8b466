//! From a template file and the command line to runnable build jobs: load, resolve variables,
//! select builds (`-only`/`-except`), interpolate and construct every plugin. All problems are
//! collected and reported together, each with its location.

use crate::args::{split_var, Parsed};
use kiln_core::engine::{BuildJob, PlannedPostProcessor, PlannedProvisioner};
use kiln_core::plugin::{BuildInfo, PrepareCx, Registry};
use kiln_core::redact::Redactor;
use kiln_template::diag::{Diagnostic, Diagnostics};
use kiln_template::fix::{explain_deprecated, PluginKind};
use kiln_template::interp::Context;
use kiln_template::ir::{applies_to, interpolate, interpolate_except, ProvisionerDef, Template};
use kiln_template::variables::{resolve, Overrides};
use kiln_template::{hcl, legacy};
use std::collections::BTreeMap;
use std::path::Path;

/// Every plugin type kiln has.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    kiln_builders::register(&mut r);
    kiln_builder_amazon::register(&mut r);
    kiln_provisioners::register(&mut r);
    kiln_post_processors::register(&mut r);
    r
}

/// Loads a template: legacy JSON, or HCL2 (a `.pkr.hcl` or `.pkr.json` file, or a directory), which
/// is evaluated now with the command line's variables.
pub fn load_template(path: &str, overrides: &Overrides) -> Result<Template, Diagnostics> {
    if hcl::is_hcl(path) {
        return hcl::load(Path::new(path), overrides, init_time());
    }
    let mut t = legacy::load(Path::new(path))?;
    check_min_version(&mut t)?;
    Ok(t)
}

/// The command line's `-var`/`-var-file` values and the template loaded with them.
pub fn load_with_flags(path: &str, flags: &Parsed) -> Result<(Template, Overrides), Diagnostics> {
    let o = overrides(flags)?;
    Ok((load_template(path, &o)?, o))
}

/// `min_packer_version`, as `>= VERSION` (see [`kiln_template::version`]): refused, met, or
/// met only by a later 1.x release, which is warned of.
fn check_min_version(t: &mut Template) -> Result<(), Diagnostic> {
    let Some(min) = &t.min_version else {
        return Ok(());
    };
    if kiln_template::version::parse(min).is_none() {
        return Err(Diagnostic::new(format!(
            "min_packer_version: \"{min}\" is not a version"
        )));
    }
    match kiln_template::version::check(&format!(">= {min}"), "min_packer_version") {
        kiln_template::version::Verdict::Met => Ok(()),
        kiln_template::version::Verdict::Later(m) => {
            t.warnings.push(Diagnostic::new(m));
            Ok(())
        }
        kiln_template::version::Verdict::Refused(m) => Err(Diagnostic::new(m)),
    }
}

/// `-var`/`-var-file` values from parsed flags.
pub fn overrides(flags: &Parsed) -> Result<Overrides, Diagnostic> {
    let mut o = Overrides::default();
    for f in flags.all("var-file") {
        o.add_var_file(Path::new(f))?;
    }
    for kv in flags.all("var") {
        o.vars.push(split_var(kv).map_err(Diagnostic::new)?);
    }
    Ok(o)
}

/// The secrets known before planning (sensitive variables' defaults and the values given for
/// them on the command line or in var files), so that even an error found while planning,
/// which may quote the template, never shows them.
pub fn early_redactor(t: &Template, overrides: &Overrides) -> Redactor {
    let defaults = t
        .variables
        .iter()
        .filter(|v| t.sensitive.contains(&v.name))
        .filter_map(|v| v.default.clone());
    let given = overrides
        .files
        .iter()
        .chain(&overrides.vars)
        .filter(|(k, _)| t.sensitive.contains(k))
        .map(|(_, v)| v.clone());
    Redactor::new(
        defaults
            .chain(given)
            .chain(t.secrets.iter().cloned())
            .collect::<Vec<_>>(),
    )
}

/// A planned run: the jobs and the secrets to mask.
pub struct Plan {
    /// One job per selected build.
    pub jobs: Vec<BuildJob>,
    /// Masks sensitive variables.
    pub redactor: Redactor,
    /// What the user should know before the builds start (an `-only` that selects nothing).
    pub warnings: Vec<String>,
}

/// Selection and identity of a run.
pub struct PlanOptions<'a> {
    /// `-only`
    pub only: &'a [String],
    /// `-except`
    pub except: &'a [String],
    /// The run's start time.
    pub init_time: chrono::DateTime<chrono::Utc>,
    /// The run's id.
    pub run_uuid: &'a str,
    /// `-force`.
    pub force: bool,
    /// The run's resource journal.
    pub journal: std::sync::Arc<kiln_core::journal::Journal>,
}

/// The run's start time, which `timestamp`, `isotime` and `strftime` render: now, or the Unix
/// time in `KILN_INIT_TIME` (`SECONDS[.FRACTION]`) when set, for reproducible names and outputs.
/// Read once: the HCL2 front end and the plan see the same time.
pub fn init_time() -> chrono::DateTime<chrono::Utc> {
    static AT: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        std::env::var("KILN_INIT_TIME")
            .ok()
            .and_then(|v| parse_unix_time(v.trim()))
            .unwrap_or_else(chrono::Utc::now)
    })
}

fn parse_unix_time(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    chrono::DateTime::from_timestamp(secs.parse().ok()?, nanos)
}

/// The values a run masks: the sensitive variables' values among `vars`, and what the
/// template read from secret stores.
pub fn secrets_of(t: &Template, vars: &BTreeMap<String, String>) -> Vec<String> {
    t.sensitive
        .iter()
        .filter_map(|n| vars.get(n).cloned())
        .chain(t.secrets.iter().cloned())
        .collect()
}

/// Builds the jobs for a template.
pub fn plan(t: &Template, overrides: &Overrides, opts: &PlanOptions) -> Result<Plan, Diagnostics> {
    let registry = registry();
    let mut base = Context::new(opts.init_time);
    base.template_path = t.path.as_ref().map(|p| p.display().to_string());
    // An HCL2 template's variables were evaluated when it was read.
    let vars = if t.hcl.is_some() {
        Default::default()
    } else {
        resolve(t, overrides, &base)?
    };
    let mut secrets = secrets_of(t, &vars);
    base.user_vars = vars;

    let mut errs = Diagnostics::default();
    // An HCL2 block is planned once per build of its build block: its error is said once.
    let mut said: Vec<(Option<(usize, usize)>, String)> = vec![];
    let mut report = |errs: &mut Diagnostics, d: Diagnostic, ctx: String| {
        if t.hcl.is_some() {
            let key = (d.span.as_ref().map(|s| (s.start, s.end)), d.message.clone());
            if said.contains(&key) {
                return;
            }
            said.push(key);
        }
        errs.push(d.context(ctx));
    };
    // How a plugin block is named in errors: its place in the JSON, or the HCL2 block.
    let hcl = t.hcl.is_some();
    let name_of = |json: String, block: &str, kind: &str| {
        if hcl {
            format!("{block} \"{kind}\"")
        } else {
            format!("{json} ({kind})")
        }
    };
    let mut jobs = Vec::new();
    for b in &t.builders {
        let key = b.key().to_string();
        let selects = |pattern: &String| selects(t, pattern, &key);
        if !opts.only.is_empty() && !opts.only.iter().any(selects) {
            continue;
        }
        if opts.except.iter().any(selects) {
            continue;
        }
        let mut icx = base.clone();
        icx.build_name = Some(b.name.clone());
        icx.build_type = Some(b.kind.clone());
        let info = BuildInfo {
            name: b.name.clone(),
            display: key.clone(),
            builder_type: b.kind.clone(),
            interp: icx.clone(),
            run_uuid: opts.run_uuid.to_string(),
            journal: opts.journal.clone(),
            force: opts.force,
        };
        let template_dir = t.path.as_ref().and_then(|p| p.parent());
        let pcx = PrepareCx {
            info: &info,
            template_dir,
        };
        let ctx = format!("build \"{key}\"");
        let builder = (|| {
            let factory = registry
                .get_builder(&b.kind)
                .map_err(|m| Diagnostic::at(b.span.as_ref(), m))?;
            let mut config = b.config.clone();
            interpolate_except(&mut config, &icx, registry.rendered_at_build(&b.kind))?;
            factory(&config, &pcx)
                .map_err(|d| explain_deprecated(d, PluginKind::Builder, &b.kind).or_in(&b.config))
        })();
        let builder = match builder {
            Ok(x) => Some(x),
            Err(d) => {
                report(&mut errs, d, ctx.clone());
                None
            }
        };

        let mut provisioners = Vec::new();
        for (i, p) in t.provisioners.iter().enumerate() {
            if !applies_to(&p.only, &p.except, &key) {
                continue;
            }
            match plan_provisioner(p, &b.name, &icx, &registry, &pcx) {
                Ok(pp) => provisioners.push(pp),
                Err(d) => report(
                    &mut errs,
                    d,
                    format!(
                        "{ctx}: {}",
                        name_of(format!("provisioners[{i}]"), "provisioner", &p.kind)
                    ),
                ),
            }
        }
        let error_cleanup = match t
            .error_cleanup_provisioners
            .iter()
            .find(|p| applies_to(&p.only, &p.except, &key))
        {
            Some(p) => match plan_provisioner(p, &b.name, &icx, &registry, &pcx) {
                Ok(pp) => Some(pp),
                Err(d) => {
                    report(
                        &mut errs,
                        d,
                        format!("{ctx}: error-cleanup-provisioner ({})", p.kind),
                    );
                    None
                }
            },
            None => None,
        };

        let mut chains = Vec::new();
        for (i, chain) in t.post_processors.iter().enumerate() {
            let mut planned = Vec::new();
            for (j, pp) in chain.iter().enumerate() {
                if !applies_to(&pp.only, &pp.except, &key) {
                    continue;
                }
                // As in Packer, -except also skips post-processors by name (-only does not).
                if pp.name.as_ref().is_some_and(|n| opts.except.contains(n)) {
                    continue;
                }
                let r = (|| {
                    let factory = registry
                        .get_post_processor(&pp.kind)
                        .map_err(|m| Diagnostic::at(pp.span.as_ref(), m))?;
                    let mut config = pp.config.clone();
                    interpolate(&mut config, &icx)?;
                    let made = factory(&config, &pcx).map_err(|d| {
                        explain_deprecated(d, PluginKind::PostProcessor, &pp.kind).or_in(&pp.config)
                    })?;
                    secrets.extend(made.secrets());
                    Ok::<_, Diagnostic>(PlannedPostProcessor {
                        kind: pp.kind.clone(),
                        name: pp.name.clone(),
                        config,
                        factory,
                        keep_input_artifact: pp.keep_input_artifact,
                    })
                })();
                match r {
                    Ok(p) => planned.push(p),
                    Err(d) => report(
                        &mut errs,
                        d,
                        format!(
                            "{ctx}: {}",
                            name_of(
                                format!("post-processors[{i}][{j}]"),
                                "post-processor",
                                &pp.kind
                            )
                        ),
                    ),
                }
            }
            if !planned.is_empty() {
                chains.push(planned);
            }
        }
        if let Some(builder) = builder {
            secrets.extend(builder.secrets());
            jobs.push(BuildJob {
                info,
                builder,
                provisioners,
                error_cleanup,
                post_processors: chains,
            });
        }
    }
    errs.into_result()?;
    let mut warnings: Vec<String> = t.warnings.iter().map(|d| d.to_string()).collect();
    for (flag, patterns) in [("only", opts.only), ("except", opts.except)] {
        for p in patterns {
            let hits = t.builders.iter().any(|b| selects(t, p, b.key()));
            if !hits {
                let names: Vec<&str> = t.builders.iter().map(|b| b.key()).collect();
                warnings.push(format!(
                    "-{flag}={p} names no build; the builds are: {}{}",
                    names.join(", "),
                    if t.hcl.is_some() {
                        " (HCL2 builds are named TYPE.NAME)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    Ok(Plan {
        jobs,
        redactor: Redactor::new(secrets),
        warnings,
    })
}

/// Whether `-only`/`-except` `pattern` names build `key`: HCL2 builds are selected by glob
/// (`-only='*.ubuntu'`), legacy ones by name, as in Packer 1.6.6.
fn selects(t: &Template, pattern: &str, key: &str) -> bool {
    if t.hcl.is_some() {
        glob_match(pattern, key)
    } else {
        pattern == key
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters and `?` for
/// one.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer match, going back to the last `*` on a mismatch.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

fn plan_provisioner(
    p: &ProvisionerDef,
    build: &str,
    icx: &Context,
    registry: &Registry,
    pcx: &PrepareCx,
) -> Result<PlannedProvisioner, Diagnostic> {
    let factory = registry
        .get_provisioner(&p.kind)
        .map_err(|m| Diagnostic::at(p.span.as_ref(), m))?;
    let mut config = p.config.clone();
    for (name, ov) in &p.overrides {
        if name == build {
            if let Some(members) = ov.as_object() {
                for m in members {
                    config.set(&m.key, m.value.clone());
                }
            }
        }
    }
    interpolate(&mut config, icx)?;
    // Construct once now so configuration errors surface before anything runs.
    factory(&config, pcx)
        .map_err(|d| explain_deprecated(d, PluginKind::Provisioner, &p.kind).or_in(&p.config))?;
    Ok(PlannedProvisioner {
        kind: p.kind.clone(),
        config,
        factory,
        pause_before: p.pause_before,
        max_retries: p.max_retries,
        timeout: p.timeout,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs_match_as_packer_selects_hcl2_builds() {
        use super::glob_match;
        assert!(glob_match("*.one", "null.one"));
        assert!(glob_match("null.*", "null.one"));
        assert!(glob_match("n?ll.o*e", "null.one"));
        assert!(glob_match("null.one", "null.one"));
        assert!(!glob_match("*.two", "null.one"));
        assert!(!glob_match("null", "null.one"));
        assert!(glob_match("*", ""));
    }
}
