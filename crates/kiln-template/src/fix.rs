//! `kiln fix`: Packer's fixers, which rewrite a legacy JSON template written for an older
//! version (renamed options, moved fields, changed types) into its current form.
//!
//! The fixers run in Packer's order and read the template as Packer's do: the builders as a
//! list of objects, the provisioners as a list that one object or value is lifted into, the
//! post-processors as a list of names, objects and sequences. The output is what Packer
//! prints: keys sorted, two-space indent, numbers as Go writes a float64, `&` and the line
//! separators escaped as `\u0026`, `\u2028`, `\u2029`.
//!
//! Where Packer's fixer would crash on an odd value (a builder without a type in
//! `comm-config`, a tag that is not a string) kiln says where the value is instead.

use crate::diag::Diagnostic;
use crate::source::Span;
use crate::value::{Kind, Member, Value};

/// A fixer: its name, what it does (Packer's words), and the rewrite.
pub struct Fixer {
    /// Packer's name for it.
    pub name: &'static str,
    /// One line on what it does.
    pub synopsis: &'static str,
    run: fn(&mut Value) -> Result<(), Diagnostic>,
}

/// Every fixer, in the order they run (Packer's `FixerOrder`).
pub const FIXERS: &[Fixer] = &[
    Fixer {
        name: "iso-md5",
        synopsis: r#"Replaces "iso_md5" in builders with "iso_checksum""#,
        run: iso_md5,
    },
    Fixer {
        name: "createtime",
        synopsis: r#"Replaces ".CreateTime" in builder configs with "{{timestamp}}""#,
        run: create_time,
    },
    Fixer {
        name: "virtualbox-gaattach",
        synopsis: r#"Updates VirtualBox builders using "guest_additions_attach" to use "guest_additions_mode""#,
        run: virtualbox_ga_attach,
    },
    Fixer {
        name: "pp-vagrant-override",
        synopsis: "Fixes provider-specific overrides for Vagrant post-processor",
        run: vagrant_override,
    },
    Fixer {
        name: "virtualbox-rename",
        synopsis: r#"Updates "virtualbox" builders to "virtualbox-iso""#,
        run: virtualbox_rename,
    },
    Fixer {
        name: "vmware-rename",
        synopsis: r#"Updates "vmware" builders to "vmware-iso""#,
        run: vmware_rename,
    },
    Fixer {
        name: "parallels-headless",
        synopsis: r#"Removes unused "headless" from Parallels builders"#,
        run: parallels_headless,
    },
    Fixer {
        name: "parallels-deprecations",
        synopsis: r#"Removes deprecated "parallels_tools_host_path" from Parallels builders and changes "guest_os_distribution" to "guest_os_type"."#,
        run: parallels_deprecations,
    },
    Fixer {
        name: "sshkeypath",
        synopsis: r#"Updates builders using "ssh_key_path" to use "ssh_private_key_file""#,
        run: ssh_key_path,
    },
    Fixer {
        name: "sshdisableagent",
        synopsis: r#"Updates builders using "ssh_disable_agent" to use "ssh_disable_agent_forwarding""#,
        run: ssh_disable_agent,
    },
    Fixer {
        name: "scaleway-access-key",
        synopsis: r#"Updates builders using "access_key" to use "organization_id""#,
        run: scaleway_access_key,
    },
    Fixer {
        name: "manifest-filename",
        synopsis: r#"Updates "manifest" post-processor so any "filename" field is renamed to "output"."#,
        run: manifest_filename,
    },
    Fixer {
        name: "amazon-shutdown_behavior",
        synopsis: r#"Changes "shutdown_behaviour" to "shutdown_behavior" in Amazon builders."#,
        run: amazon_shutdown_behavior,
    },
    Fixer {
        name: "amazon-enhanced-networking",
        synopsis: r#"Replaces "enhanced_networking" in builders with "ena_support""#,
        run: amazon_enhanced_networking,
    },
    Fixer {
        name: "amazon-private-ip",
        synopsis: r#"Replaces `"ssh_private_ip": true` in amazon builders with `"ssh_interface": "private_ip"`"#,
        run: amazon_private_ip,
    },
    Fixer {
        name: "amazon-temp-sec-cidrs",
        synopsis: r#"Replaces "temporary_security_group_source_cidr" (string) with "temporary_security_group_source_cidrs" (list of strings)"#,
        run: amazon_temp_sec_cidrs,
    },
    Fixer {
        name: "docker-email",
        synopsis: r#"Removes "login_email" from the Docker builder."#,
        run: docker_email,
    },
    Fixer {
        name: "docker-tag-tags",
        synopsis: r#"Updates "docker" post-processor so any "tag" field is renamed to "tags"."#,
        run: docker_tag_tags,
    },
    Fixer {
        name: "powershell-escapes",
        synopsis: "Removes PowerShell escapes from user env vars and elevated username and password strings",
        run: powershell_escapes,
    },
    Fixer {
        name: "vmware-compaction",
        synopsis: r#"Adds "skip_compaction = true" to "vmware-iso" builders with incompatible disk_type_id"#,
        run: vmware_compaction,
    },
    Fixer {
        name: "hyperv-deprecations",
        synopsis: r#"Removes the deprecated "vhd_temp_path" setting from Hyper-V ISO builder templates"#,
        run: hyperv_deprecations,
    },
    Fixer {
        name: "hyperv-vmxc-typo",
        synopsis: r#"Fixes a typo replacing "clone_from_vmxc_path" with "clone_from_vmcx_path" in Hyper-V VMCX builder templates"#,
        run: hyperv_vmxc_typo,
    },
    Fixer {
        name: "hyperv-cpu-and-ram",
        synopsis: r#"Replaces "cpu" with "cpus" and "ram_size" with "memory"in Hyper-V VMCX builder templates"#,
        run: hyperv_cpu_and_ram,
    },
    Fixer {
        name: "clean-image-name",
        synopsis: r#"Replaces /clean_(image|ami)_name/ in builder configs with "clean_resource_name""#,
        run: clean_image_name,
    },
    Fixer {
        name: "spot-price-auto-product",
        synopsis: r#"Removes the deprecated "spot_price_auto_product" setting from Amazon builder templates"#,
        run: spot_price_auto_product,
    },
    Fixer {
        name: "qemu-disk-size",
        synopsis: r#"Updates "disk_size" from int to string in QEMU builders."#,
        run: qemu_disk_size,
    },
    Fixer {
        name: "galaxy-command",
        synopsis: r#"Replaces "galaxycommand" in ansible-local provisioner configs with "galaxy_command""#,
        run: galaxy_command,
    },
    Fixer {
        name: "comm-config",
        synopsis: "Remove ssh prefixes from communicator port forwarding configuration (host_port_min, host_port_max, skip_nat_mapping)",
        run: comm_config,
    },
    Fixer {
        name: "ssh-wait-timeout",
        synopsis: r#"Replaces "ssh_wait_timeout" with "ssh_timeout""#,
        run: ssh_wait_timeout,
    },
    Fixer {
        name: "vsphere-iso-net-disk",
        synopsis: r#"Removes deprecated network and disk fields from "vsphere-iso" builder"#,
        run: vsphere_network_disk,
    },
    Fixer {
        name: "iso-checksum-type-and-url",
        synopsis: r#"Puts content of potential "iso_checksum_url" and "iso_checksum_url" in "iso_checksum""#,
        run: iso_checksum_type_and_url,
    },
    Fixer {
        name: "qemu-host-port",
        synopsis: "Updates ssh_host_port_min and ssh_host_port_max to host_port_min and host_port_max",
        run: qemu_host_port,
    },
    Fixer {
        name: "azure-exclude_from_latest",
        synopsis: r#"Changes "exlude_from_latest" to "exclude_from_latest" in Azure builders."#,
        run: azure_exclude_from_latest,
    },
    Fixer {
        name: "proxmox-type",
        synopsis: "Updates the builder type proxmox to proxmox-iso",
        run: proxmox_type,
    },
];

/// Runs every fixer over a parsed template (a JSON object) and returns the text Packer's
/// `fix` prints for it (without the final line break `say` adds).
pub fn fix(mut root: Value) -> Result<String, Diagnostic> {
    if !matches!(root.kind, Kind::Object(_)) {
        return Err(Diagnostic::at(
            root.span.as_ref(),
            format!("a template must be a JSON object, not {}", root.type_name()),
        ));
    }
    as_go_numbers(&mut root)?;
    for f in FIXERS {
        (f.run)(&mut root)?;
    }
    let mut out = String::new();
    write_indented(&root, 0, &mut out);
    out.push('\n');
    Ok(out)
}

// ----- Go's view of JSON: every number a float64 -----

/// Rewrites every number as Go writes the float64 it decodes to; a number past float64's
/// range is refused, as Go's decoder refuses it.
fn as_go_numbers(v: &mut Value) -> Result<(), Diagnostic> {
    match &mut v.kind {
        Kind::Number(n) => {
            let f: f64 = n.parse().unwrap_or(f64::INFINITY);
            if !f.is_finite() {
                return Err(Diagnostic::at(
                    v.span.as_ref(),
                    format!("the number {n} is out of range of a 64-bit float"),
                ));
            }
            *n = go_float(f);
        }
        Kind::Array(items) => {
            for i in items {
                as_go_numbers(i)?;
            }
        }
        Kind::Object(members) => {
            for m in members {
                as_go_numbers(&mut m.value)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A float64 as Go's `encoding/json` writes it: the shortest digits that read back the same,
/// plain between 1e-6 and 1e21, else with an exponent (`1e+21`, `1e-7`).
pub fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if exp < 0 {
            format!("{mantissa}e-{}", -exp)
        } else {
            format!("{mantissa}e+{exp:02}")
        }
    } else {
        format!("{f}")
    }
}

fn number(v: &Value) -> Option<f64> {
    match &v.kind {
        Kind::Number(n) => n.parse().ok(),
        _ => None,
    }
}

// ----- output: Go's json.Encoder, then json.Indent with two spaces -----

fn write_indented(v: &Value, depth: usize, out: &mut String) {
    let pad = |out: &mut String, depth: usize| out.extend(std::iter::repeat_n("  ", depth));
    match &v.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Number(n) => out.push_str(n),
        Kind::String(s) => go_json_string(s, out),
        Kind::Array(items) if items.is_empty() => out.push_str("[]"),
        Kind::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, depth + 1);
                write_indented(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push(']');
        }
        Kind::Object(members) if members.is_empty() => out.push_str("{}"),
        Kind::Object(members) => {
            let mut sorted: Vec<&Member> = members.iter().collect();
            sorted.sort_by(|a, b| a.key.cmp(&b.key));
            out.push_str("{\n");
            for (i, m) in sorted.iter().enumerate() {
                pad(out, depth + 1);
                go_json_string(&m.key, out);
                out.push_str(": ");
                write_indented(&m.value, depth + 1, out);
                out.push_str(if i + 1 < sorted.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push('}');
        }
    }
}

/// A JSON string as Go's encoder writes it with HTML escaping, after Packer puts `<` and `>`
/// back: `&` stays `\u0026`, and so do other control characters and U+2028/U+2029.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ----- reading the template as Packer's fixers decode it -----

fn null() -> Value {
    Value::new(Kind::Null)
}

fn string(s: impl Into<String>) -> Value {
    Value::string(s)
}

fn object() -> Value {
    Value::new(Kind::Object(vec![]))
}

/// The root member a decoder fills a field from: the exact name, else the first key that
/// equals it ignoring case.
fn field<'a>(root: &'a Value, name: &str) -> Option<&'a Value> {
    let members = root.as_object()?;
    members
        .iter()
        .find(|m| m.key == name)
        .or_else(|| members.iter().find(|m| m.key.eq_ignore_ascii_case(name)))
        .map(|m| &m.value)
}

fn type_of(v: &Value) -> Option<&str> {
    v.get("type").and_then(Value::as_str)
}

fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some()
}

/// Moves `from` to `to` (replacing `to`), if `from` is there.
fn rename(v: &mut Value, from: &str, to: &str) {
    if let Some(m) = v.remove(from) {
        v.set(to, m.value);
    }
}

/// The builders, read strictly: `null` or missing is none, else a list of objects or nulls
/// (kept with where they were written).
struct Builders {
    items: Vec<Value>,
    span: Option<Span>,
}

fn builders(root: &Value) -> Result<Option<Builders>, Diagnostic> {
    let Some(list) = field(root, "Builders") else {
        return Ok(None);
    };
    match &list.kind {
        Kind::Null => Ok(None),
        Kind::Array(items) => {
            for (i, b) in items.iter().enumerate() {
                if !matches!(b.kind, Kind::Null | Kind::Object(_)) {
                    return Err(Diagnostic::at(
                        b.span.as_ref(),
                        format!("builders[{i}] must be an object, not {}", b.type_name()),
                    ));
                }
            }
            Ok(Some(Builders {
                items: items.clone(),
                span: list.span.clone(),
            }))
        }
        _ => Err(Diagnostic::at(
            list.span.as_ref(),
            format!(
                "\"builders\" must be an array of objects, not {}",
                list.type_name()
            ),
        )),
    }
}

fn builders_value(list: Option<Builders>) -> Value {
    match list {
        None => null(),
        Some(b) => Value {
            kind: Kind::Array(b.items),
            span: b.span,
        },
    }
}

/// Runs `f` on each builder object (by index) and writes the builders back, as each of
/// Packer's builder fixers does (`"builders": null` where there were none).
fn each_builder(
    root: &mut Value,
    mut f: impl FnMut(usize, &mut Value) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    let mut list = builders(root)?;
    for b in list.iter_mut() {
        for (i, item) in b.items.iter_mut().enumerate() {
            if matches!(item.kind, Kind::Object(_)) {
                f(i, item)?;
            }
        }
    }
    root.set("builders", builders_value(list));
    Ok(())
}

/// Runs `f` on each builder whose type `wanted` takes.
fn builders_where(
    root: &mut Value,
    wanted: impl Fn(&str) -> bool,
    mut f: impl FnMut(&mut Value),
) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        if type_of(b).is_some_and(&wanted) {
            f(b);
        }
        Ok(())
    })
}

/// Runs `f` on each builder of one of `types`.
fn builders_of(
    root: &mut Value,
    types: &[&str],
    f: impl FnMut(&mut Value),
) -> Result<(), Diagnostic> {
    builders_where(root, |t| types.contains(&t), f)
}

fn amazon_builders(root: &mut Value, f: impl FnMut(&mut Value)) -> Result<(), Diagnostic> {
    builders_where(root, |t| t.starts_with("amazon-"), f)
}

/// The provisioners, read loosely: a list, or one value (an object, a string) lifted into
/// one; an empty object is an empty list.
fn provisioners(root: &Value) -> Vec<Value> {
    let Some(v) = field(root, "Provisioners") else {
        return vec![];
    };
    match &v.kind {
        Kind::Null => vec![],
        Kind::Array(items) => items.clone(),
        Kind::Object(m) if m.is_empty() => vec![],
        _ => vec![v.clone()],
    }
}

/// Writes the provisioners back, when there are any.
fn set_provisioners(root: &mut Value, list: Vec<Value>) {
    if !list.is_empty() {
        root.set("provisioners", Value::new(Kind::Array(list)));
    }
}

/// An object read loosely: an object as it is, a list of objects merged into one (later
/// keys win), `null` as no keys; anything else is not an object.
fn loose_object(v: &Value) -> Option<Vec<Member>> {
    fn merge(v: &Value, into: &mut Vec<Member>) -> bool {
        match &v.kind {
            Kind::Null => true,
            Kind::Object(members) => {
                for m in members {
                    match into.iter_mut().find(|x| x.key == m.key) {
                        Some(x) => x.value = m.value.clone(),
                        None => into.push(m.clone()),
                    }
                }
                true
            }
            Kind::Array(items) => items.iter().all(|i| merge(i, into)),
            _ => false,
        }
    }
    let mut members = vec![];
    merge(v, &mut members).then_some(members)
}

/// Runs `f` on each post-processor object: those in the list and those in its sequences.
/// Nothing happens without post-processors.
fn each_post_processor(
    root: &mut Value,
    mut f: impl FnMut(&mut Value) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    let Some(pps) = root.as_object().and_then(|m| {
        m.iter()
            .position(|m| m.key == "post-processors" && !matches!(m.value.kind, Kind::Null))
    }) else {
        return Ok(());
    };
    let Kind::Object(members) = &mut root.kind else {
        return Ok(());
    };
    let list = &mut members[pps].value;
    let span = list.span.clone();
    let type_name = list.type_name();
    let Kind::Array(items) = &mut list.kind else {
        return Err(Diagnostic::at(
            span.as_ref(),
            format!("\"post-processors\" must be an array, not {type_name}"),
        ));
    };
    for item in items {
        match &mut item.kind {
            Kind::Object(_) => f(item)?,
            Kind::Array(inner) => {
                for pp in inner {
                    if matches!(pp.kind, Kind::Object(_)) {
                        f(pp)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn post_processors_of(
    root: &mut Value,
    kind: &str,
    mut f: impl FnMut(&mut Value) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    each_post_processor(root, |pp| {
        if type_of(pp) == Some(kind) {
            f(pp)?;
        }
        Ok(())
    })
}

fn odd(v: Option<&Value>, fallback: Option<&Span>, what: impl Into<String>) -> Diagnostic {
    Diagnostic::at(v.and_then(|v| v.span.as_ref()).or(fallback), what)
}

// ----- the fixers -----

fn iso_md5(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        if let Some(md5) = b.get("iso_md5").and_then(Value::as_str).map(str::to_string) {
            b.remove("iso_md5");
            b.set("iso_checksum", string(md5));
            b.set("iso_checksum_type", string("md5"));
        }
        Ok(())
    })
}

/// Replaces each `{{ .CreateTime }}` (any spaces inside the braces) with `{{timestamp}}`.
fn replace_create_time(s: &str) -> String {
    let space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    // Where a match starting at `i` ends.
    let matched_at = |i: usize| -> Option<usize> {
        let rest = s[i..].strip_prefix("{{")?.trim_start_matches(space);
        let rest = rest.strip_prefix(".CreateTime")?.trim_start_matches(space);
        let rest = rest.strip_prefix("}}")?;
        Some(s.len() - rest.len())
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if let Some(end) = matched_at(i) {
            out.push_str("{{timestamp}}");
            i = end;
        } else {
            let c = s[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn create_time(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        for key in ["ami_name", "bundle_prefix", "snapshot_name"] {
            if let Some(s) = b.get(key).and_then(Value::as_str) {
                let fixed = replace_create_time(s);
                b.set(key, string(fixed));
            }
        }
        Ok(())
    })
}

fn virtualbox_ga_attach(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["virtualbox"], |b| {
        if let Some(Kind::Bool(attach)) = b.get("guest_additions_attach").map(|v| &v.kind) {
            let mode = if *attach { "attach" } else { "upload" };
            b.remove("guest_additions_attach");
            b.set("guest_additions_mode", string(mode));
        }
    })
}

fn vagrant_override(root: &mut Value) -> Result<(), Diagnostic> {
    post_processors_of(root, "vagrant", |pp| {
        let mut overrides = vec![];
        for name in ["aws", "digitalocean", "virtualbox", "vmware"] {
            if let Some(m) = pp.remove(name) {
                overrides.push(m);
            }
        }
        if !overrides.is_empty() {
            pp.set("override", Value::new(Kind::Object(overrides)));
        }
        Ok(())
    })
}

fn virtualbox_rename(root: &mut Value) -> Result<(), Diagnostic> {
    let mut list = builders(root)?;
    for b in list.iter_mut().flat_map(|l| l.items.iter_mut()) {
        if type_of(b) == Some("virtualbox") {
            b.set("type", string("virtualbox-iso"));
        }
    }
    let mut provs = provisioners(root);
    for (i, p) in provs.iter_mut().enumerate() {
        let Some(members) = loose_object(p) else {
            continue;
        };
        let mut m = Value {
            kind: Kind::Object(members),
            span: p.span.clone(),
        };
        let Some(raw) = m.get("override") else {
            continue;
        };
        let Some(over) = loose_object(raw) else {
            return Err(odd(
                Some(raw),
                p.span.as_ref(),
                format!(
                    "provisioners[{i}]: \"override\" must be an object, not {}",
                    raw.type_name()
                ),
            ));
        };
        let mut over = Value {
            kind: Kind::Object(over),
            span: raw.span.clone(),
        };
        if has(&over, "virtualbox") {
            rename(&mut over, "virtualbox", "virtualbox-iso");
            m.set("override", over);
            *p = m;
        }
    }
    if list.as_ref().is_some_and(|l| !l.items.is_empty()) {
        root.set("builders", builders_value(list));
    }
    set_provisioners(root, provs);
    Ok(())
}

fn vmware_rename(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["vmware"], |b| b.set("type", string("vmware-iso")))
}

fn parallels_headless(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["parallels-iso", "parallels-pvm"], |b| {
        b.remove("headless");
    })
}

fn parallels_deprecations(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["parallels-iso", "parallels-pvm"], |b| {
        b.remove("parallels_tools_host_path");
        rename(b, "guest_os_distribution", "guest_os_type");
    })
}

/// Moves a string or boolean option to its new name, unless the new name is set already;
/// the old one goes either way.
fn replace_unless_set(b: &mut Value, old: &str, new: &str, wanted: fn(&Kind) -> bool) {
    let Some(v) = b.get(old).filter(|v| wanted(&v.kind)).cloned() else {
        return;
    };
    if !has(b, new) {
        b.set(new, v);
    }
    b.remove(old);
}

fn ssh_key_path(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        replace_unless_set(b, "ssh_key_path", "ssh_private_key_file", |k| {
            matches!(k, Kind::String(_))
        });
        Ok(())
    })
}

fn ssh_disable_agent(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        replace_unless_set(
            b,
            "ssh_disable_agent",
            "ssh_disable_agent_forwarding",
            |k| matches!(k, Kind::Bool(_)),
        );
        Ok(())
    })
}

fn scaleway_access_key(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["scaleway"], |b| {
        replace_unless_set(b, "access_key", "organization_id", |k| {
            matches!(k, Kind::String(_))
        });
    })
}

fn manifest_filename(root: &mut Value) -> Result<(), Diagnostic> {
    post_processors_of(root, "manifest", |pp| {
        if let Some(name) = pp.get("filename").filter(|v| v.as_str().is_some()).cloned() {
            pp.remove("filename");
            pp.set("output", name);
        }
        Ok(())
    })
}

fn amazon_shutdown_behavior(root: &mut Value) -> Result<(), Diagnostic> {
    amazon_builders(root, |b| {
        rename(b, "shutdown_behaviour", "shutdown_behavior")
    })
}

fn amazon_enhanced_networking(root: &mut Value) -> Result<(), Diagnostic> {
    amazon_builders(root, |b| {
        if let Some(v) = b
            .get("enhanced_networking")
            .filter(|v| matches!(v.kind, Kind::Bool(_)))
            .cloned()
        {
            b.remove("enhanced_networking");
            b.set("ena_support", v);
        }
    })
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn amazon_private_ip(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |i, b| {
        if !type_of(b).is_some_and(|t| t.starts_with("amazon-")) || has(b, "ssh_interface") {
            return Ok(());
        }
        let Some(v) = b.get("ssh_private_ip") else {
            return Ok(());
        };
        let private = match &v.kind {
            Kind::Bool(x) => *x,
            Kind::String(s) => go_parse_bool(s).ok_or_else(|| {
                odd(
                    Some(v),
                    None,
                    format!("builders[{i}]: ssh_private_ip is not a boolean: {s:?}"),
                )
            })?,
            _ => {
                return Err(odd(
                    Some(v),
                    None,
                    format!(
                        "builders[{i}]: ssh_private_ip must be a boolean, not {}",
                        v.type_name()
                    ),
                ))
            }
        };
        b.remove("ssh_private_ip");
        let interface = if private { "private_ip" } else { "public_ip" };
        b.set("ssh_interface", string(interface));
        Ok(())
    })
}

fn amazon_temp_sec_cidrs(root: &mut Value) -> Result<(), Diagnostic> {
    amazon_builders(root, |b| {
        let key = "temporary_security_group_source_cidr";
        if let Some(cidr) = b.get(key).filter(|v| v.as_str().is_some()).cloned() {
            b.remove(key);
            b.set(
                "temporary_security_group_source_cidrs",
                Value::new(Kind::Array(vec![cidr])),
            );
        }
    })
}

fn has_post_processors(root: &Value) -> bool {
    root.get("post-processors")
        .is_some_and(|v| !matches!(v.kind, Kind::Null))
}

fn docker_email(root: &mut Value) -> Result<(), Diagnostic> {
    if !has_post_processors(root) {
        return Ok(());
    }
    each_builder(root, |_, b| {
        b.remove("login_email");
        Ok(())
    })?;
    each_post_processor(root, |pp| {
        pp.remove("login_email");
        Ok(())
    })
}

/// The tags a docker-tag `tag` or `tags` value names: list items, or a comma-separated
/// string; anything else names none.
fn tag_list(v: Option<&Value>, fallback: Option<&Span>) -> Result<Vec<String>, Diagnostic> {
    let Some(v) = v else {
        return Ok(vec![]);
    };
    match &v.kind {
        Kind::Array(items) => items
            .iter()
            .map(|t| {
                t.as_str().map(str::to_string).ok_or_else(|| {
                    odd(
                        Some(t),
                        fallback,
                        format!("a docker-tag tag must be a string, not {}", t.type_name()),
                    )
                })
            })
            .collect(),
        Kind::String(s) => Ok(s.split(',').map(|t| t.trim().to_string()).collect()),
        _ => Ok(vec![]),
    }
}

fn docker_tag_tags(root: &mut Value) -> Result<(), Diagnostic> {
    post_processors_of(root, "docker-tag", |pp| {
        let mut all = tag_list(pp.get("tag"), pp.span.as_ref())?;
        all.extend(tag_list(pp.get("tags"), pp.span.as_ref())?);
        let mut tags: Vec<String> = vec![];
        for t in all {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        pp.remove("tag");
        pp.set(
            "tags",
            Value::new(Kind::Array(tags.into_iter().map(string).collect())),
        );
        Ok(())
    })
}

/// Takes out PowerShell's backtick escapes of `$`, `"`, `` ` `` and `'`.
fn ps_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            if let Some(&next) = chars.peek().filter(|n| matches!(n, '$' | '"' | '`' | '\'')) {
                out.push(next);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn powershell_escapes(root: &mut Value) -> Result<(), Diagnostic> {
    let mut provs = provisioners(root);
    'each: for (i, p) in provs.iter_mut().enumerate() {
        if !matches!(p.kind, Kind::Object(_)) || type_of(p) != Some("powershell") {
            continue;
        }
        let mut fixed = p.clone();
        for key in ["elevated_user", "elevated_password"] {
            if let Some(v) = fixed.get(key) {
                let Some(s) = v.as_str() else {
                    return Err(odd(
                        Some(v),
                        p.span.as_ref(),
                        format!(
                            "provisioners[{i}]: {key} must be a string, not {}",
                            v.type_name()
                        ),
                    ));
                };
                let s = ps_unescape(s);
                fixed.set(key, string(s));
            }
        }
        if let Some(raw) = fixed.get("environment_vars") {
            // Anything but a list of strings (a null item reads as "") leaves the
            // provisioner as it was, as in Packer.
            let vars: Option<Vec<String>> = match &raw.kind {
                Kind::Null => Some(vec![]),
                Kind::Array(items) => items
                    .iter()
                    .map(|v| match &v.kind {
                        Kind::String(s) => Some(ps_unescape(s)),
                        Kind::Null => Some(String::new()),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            };
            let Some(vars) = vars else {
                continue 'each;
            };
            fixed.set(
                "environment_vars",
                Value::new(Kind::Array(vars.into_iter().map(string).collect())),
            );
        }
        *p = fixed;
    }
    set_provisioners(root, provs);
    Ok(())
}

fn vmware_compaction(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["vmware-iso"], |b| {
        if b.get("remote_type").and_then(Value::as_str) != Some("esx5") {
            return;
        }
        match b.get("disk_type_id").map(|v| &v.kind) {
            None => b.set("disk_type_id", string("zeroedthick")),
            Some(Kind::String(t)) if t != "thin" => {}
            Some(_) => return,
        }
        match b.get("skip_compaction").map(|v| &v.kind) {
            None | Some(Kind::Bool(false)) => {
                b.set("skip_compaction", Value::new(Kind::Bool(true)))
            }
            Some(_) => {}
        }
    })
}

fn hyperv_deprecations(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["hyperv-iso"], |b| {
        b.remove("vhd_temp_path");
    })
}

fn hyperv_vmxc_typo(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["hyperv-vmcx"], |b| {
        rename(b, "clone_from_vmxc_path", "clone_from_vmcx_path")
    })
}

fn hyperv_cpu_and_ram(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["hyperv-vmcx", "hyperv-iso"], |b| {
        rename(b, "cpu", "cpus");
        rename(b, "ram_size", "memory");
    })
}

fn replace_clean_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("clean_") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(n) = ["clean_image_name", "clean_ami_name"]
            .iter()
            .find(|n| tail.starts_with(**n))
        {
            out.push_str("clean_resource_name");
            rest = &tail[n.len()..];
        } else {
            out.push_str("clean_");
            rest = &tail["clean_".len()..];
        }
    }
    out.push_str(rest);
    out
}

fn clean_image_name(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |i, b| {
        let span = b.span.clone();
        let Kind::Object(members) = &mut b.kind else {
            return Ok(());
        };
        for m in members {
            match &mut m.value.kind {
                Kind::String(s) => *s = replace_clean_name(s),
                Kind::Object(inner) => {
                    for v in inner {
                        if let Kind::String(s) = &mut v.value.kind {
                            *s = replace_clean_name(s);
                        }
                    }
                }
                _ if m.key == "image_labels" => {
                    return Err(odd(
                        Some(&m.value),
                        span.as_ref(),
                        format!(
                            "builders[{i}]: image_labels must be an object, not {}",
                            m.value.type_name()
                        ),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    })
}

fn spot_price_auto_product(root: &mut Value) -> Result<(), Diagnostic> {
    let amazon = [
        "amazon-ebs",
        "amazon-ebssurrogate",
        "amazon-ebsvolume",
        "amazon-instance",
    ];
    builders_of(root, &amazon, |b| {
        b.remove("spot_price_auto_product");
    })
}

/// Go's `int(f)` on amd64: truncated toward zero; out of range, the smallest int64.
fn go_int(f: f64) -> i64 {
    let limit = 2f64.powi(63);
    if f > -limit && f < limit {
        f.trunc() as i64
    } else {
        i64::MIN
    }
}

fn qemu_disk_size(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["qemu"], |b| {
        if let Some(n) = b.get("disk_size").and_then(number) {
            b.set("disk_size", string(format!("{}M", go_int(n))));
        }
    })
}

fn galaxy_command(root: &mut Value) -> Result<(), Diagnostic> {
    let mut provs = provisioners(root);
    for p in provs.iter_mut() {
        if matches!(p.kind, Kind::Object(_)) && type_of(p) == Some("ansible-local") {
            if has(p, "galaxy_command") {
                p.remove("galaxycommand");
            } else if let Some(cmd) = p.get("galaxycommand").filter(|v| v.as_str().is_some()) {
                let cmd = cmd.clone();
                p.remove("galaxycommand");
                p.set("galaxy_command", cmd);
            }
        }
    }
    set_provisioners(root, provs);
    Ok(())
}

/// `new` wins over `old`; else `old` moves to `new` (when `moves` says its value may).
fn prefer_new(b: &mut Value, old: &str, new: &str, moves: fn(&Kind) -> bool) {
    if has(b, new) {
        b.remove(old);
    } else if let Some(v) = b.get(old).filter(|v| moves(&v.kind)).cloned() {
        b.remove(old);
        b.set(new, v);
    }
}

fn comm_config(root: &mut Value) -> Result<(), Diagnostic> {
    let Some(mut list) = builders(root)? else {
        return Ok(());
    };
    for (i, b) in list.items.iter_mut().enumerate() {
        let Some(kind) = type_of(b) else {
            let what = match b.get("type") {
                Some(t) => format!(
                    "builders[{i}]: \"type\" must be a string, not {}",
                    t.type_name()
                ),
                None => format!("builders[{i}] has no \"type\""),
            };
            return Err(odd(b.get("type").or(Some(b)), list.span.as_ref(), what));
        };
        if !kind.starts_with("virtualbox") {
            continue;
        }
        prefer_new(b, "ssh_host_port_min", "host_port_min", |_| true);
        prefer_new(b, "ssh_host_port_max", "host_port_max", |_| true);
        prefer_new(b, "ssh_skip_nat_mapping", "skip_nat_mapping", |k| {
            matches!(k, Kind::Bool(_))
        });
    }
    if !list.items.is_empty() {
        root.set("builders", builders_value(Some(list)));
    }
    Ok(())
}

fn ssh_wait_timeout(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        prefer_new(b, "ssh_wait_timeout", "ssh_timeout", |k| {
            matches!(k, Kind::String(_))
        });
        Ok(())
    })
}

fn vsphere_network_disk(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |i, b| {
        if type_of(b) != Some("vsphere-iso") {
            return Ok(());
        }
        // Moves `keys` (old name, new name) into one new object at the head of `list`.
        let gather = |b: &mut Value, keys: &[(&str, &str)], list: &str| -> Result<(), Diagnostic> {
            let mut item = object();
            let mut any = false;
            for (old, new) in keys {
                if let Some(m) = b.remove(old) {
                    item.set(new, m.value);
                    any = true;
                }
            }
            if !any {
                return Ok(());
            }
            let mut items = vec![item];
            if let Some(existing) = b.get(list) {
                let Kind::Array(more) = &existing.kind else {
                    return Err(odd(
                        Some(existing),
                        b.span.as_ref(),
                        format!(
                            "builders[{i}]: {list} must be an array, not {}",
                            existing.type_name()
                        ),
                    ));
                };
                items.extend(more.iter().cloned());
            }
            b.set(list, Value::new(Kind::Array(items)));
            Ok(())
        };
        gather(
            b,
            &[
                ("network", "network"),
                ("networkCard", "network_card"),
                ("network_card", "network_card"),
            ],
            "network_adapters",
        )?;
        gather(
            b,
            &[
                ("disk_size", "disk_size"),
                ("disk_thin_provisioned", "disk_thin_provisioned"),
                ("disk_eagerly_scrub", "disk_eagerly_scrub"),
            ],
            "storage",
        )
    })
}

fn iso_checksum_type_and_url(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        let text =
            |b: &Value, key: &str| b.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        let url = text(b, "iso_checksum_url");
        let kind = text(b, "iso_checksum_type");
        let mut checksum = text(b, "iso_checksum");
        b.remove("iso_checksum_url");
        b.remove("iso_checksum_type");
        if checksum.is_empty() && url.is_empty() {
            return Ok(());
        }
        if !url.is_empty() {
            checksum = format!("file:{url}");
        } else if !kind.is_empty() {
            checksum = format!("{kind}:{checksum}");
        }
        b.set("iso_checksum", string(checksum));
        Ok(())
    })
}

fn qemu_host_port(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["qemu"], |b| {
        rename(b, "ssh_host_port_min", "host_port_min");
        rename(b, "ssh_host_port_max", "host_port_max");
    })
}

fn azure_exclude_from_latest(root: &mut Value) -> Result<(), Diagnostic> {
    each_builder(root, |_, b| {
        if !type_of(b).is_some_and(|t| t.starts_with("azure-chroot")) {
            return Ok(());
        }
        let Some(mut dest) = b
            .get("shared_image_destination")
            .filter(|d| matches!(d.kind, Kind::Object(_)))
            .cloned()
        else {
            return Ok(());
        };
        if has(&dest, "exlude_from_latest") {
            rename(&mut dest, "exlude_from_latest", "exclude_from_latest");
            b.set("shared_image_destination", dest);
        }
        Ok(())
    })
}

fn proxmox_type(root: &mut Value) -> Result<(), Diagnostic> {
    builders_of(root, &["proxmox"], |b| b.set("type", string("proxmox-iso")))
}

// ----- deprecated options in a build -----

/// Options Packer retired, by the plugins they were retired from (`*` is any builder,
/// `amazon` any amazon builder), and what took their place.
const DEPRECATED: &[(&str, &str, &str)] = &[
    ("*", "iso_md5", "\"iso_checksum\" (\"md5:…\")"),
    ("*", "ssh_key_path", "\"ssh_private_key_file\""),
    ("*", "ssh_disable_agent", "\"ssh_disable_agent_forwarding\""),
    ("*", "ssh_host_port_min", "\"host_port_min\""),
    ("*", "ssh_host_port_max", "\"host_port_max\""),
    ("*", "ssh_skip_nat_mapping", "\"skip_nat_mapping\""),
    ("*", "ssh_wait_timeout", "\"ssh_timeout\""),
    ("*", "iso_checksum_url", "\"iso_checksum\" (\"file:URL\")"),
    (
        "*",
        "iso_checksum_type",
        "\"iso_checksum\" (\"TYPE:CHECKSUM\")",
    ),
    ("amazon", "shutdown_behaviour", "\"shutdown_behavior\""),
    ("amazon", "enhanced_networking", "\"ena_support\""),
    (
        "amazon",
        "ssh_private_ip",
        "\"ssh_interface\": \"private_ip\"",
    ),
    (
        "amazon",
        "temporary_security_group_source_cidr",
        "\"temporary_security_group_source_cidrs\"",
    ),
    (
        "amazon",
        "clean_ami_name",
        "the clean_resource_name function",
    ),
    ("amazon", "spot_price_auto_product", "nothing (it is gone)"),
    ("docker", "login_email", "nothing (it is gone)"),
    ("docker-import", "login_email", "nothing (it is gone)"),
    ("docker-tag", "tag", "\"tags\""),
    ("manifest", "filename", "\"output\""),
    ("ansible", "galaxycommand", "\"galaxy_command\""),
    ("ansible-local", "galaxycommand", "\"galaxy_command\""),
];

/// Which kind of plugin a configuration is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// A builder.
    Builder,
    /// A provisioner.
    Provisioner,
    /// A post-processor.
    PostProcessor,
}

/// Turns a plugin's "unknown configuration key" for an option Packer retired into what it
/// is: deprecated, what replaced it, and that `kiln fix` rewrites the template (as Packer
/// says for these keys).
pub fn explain_deprecated(mut d: Diagnostic, kind: PluginKind, plugin: &str) -> Diagnostic {
    let Some(key) = d
        .message
        .strip_prefix("unknown configuration key \"")
        .and_then(|k| k.strip_suffix('"'))
    else {
        return d;
    };
    let applies = |who: &str| match who {
        "*" => kind == PluginKind::Builder,
        "amazon" => kind == PluginKind::Builder && plugin.starts_with("amazon-"),
        "docker" => kind == PluginKind::Builder && plugin == "docker",
        "ansible" | "ansible-local" => kind == PluginKind::Provisioner && plugin == who,
        _ => kind == PluginKind::PostProcessor && plugin == who,
    };
    if let Some((_, key, now)) = DEPRECATED
        .iter()
        .find(|(who, k, _)| *k == key && applies(who))
    {
        d.message = format!("deprecated configuration key \"{key}\"");
        d.hint = Some(format!(
            "it was replaced by {now}; `kiln fix TEMPLATE` rewrites a JSON template written for an older Packer"
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    fn fixed(text: &str) -> String {
        let src = Source::new("t.json", text);
        fix(crate::json::parse(&src).unwrap()).unwrap()
    }

    fn error(text: &str) -> String {
        let src = Source::new("t.json", text);
        fix(crate::json::parse(&src).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn numbers_are_written_as_go_writes_a_float64() {
        for (f, s) in [
            (1.0, "1"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-10, "1.25e-10"),
            (12345678901234567890.0, "12345678901234567000"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(go_float(f), s, "{f}");
        }
        assert_eq!(go_int(3.9), 3);
        assert_eq!(go_int(-3.9), -3);
        assert_eq!(go_int(1e300), i64::MIN);
    }

    #[test]
    fn output_is_sorted_indented_and_escaped_as_packer_prints_it() {
        let out = fixed(r#"{"z": [], "a": {"y": {}, "x": [1, "a&b<c>\u2028\u0001\t"]}}"#);
        assert_eq!(
            out,
            "{\n  \"a\": {\n    \"x\": [\n      1,\n      \"a\\u0026b<c>\\u2028\\u0001\\t\"\n    ],\n    \"y\": {}\n  },\n  \"builders\": null,\n  \"z\": []\n}\n"
        );
    }

    #[test]
    fn regex_like_rewrites_match_packers_patterns() {
        assert_eq!(
            replace_create_time("a-{{ .CreateTime }}-{{.CreateTime}}-{{{\t.CreateTime\n}}}"),
            "a-{{timestamp}}-{{timestamp}}-{{{timestamp}}}"
        );
        assert_eq!(replace_create_time("{{ .CreateTim }}"), "{{ .CreateTim }}");
        assert_eq!(replace_create_time("é{{"), "é{{");
        assert_eq!(
            replace_clean_name("{{clean_ami_name `x`}} clean_image_name clean_x"),
            "{{clean_resource_name `x`}} clean_resource_name clean_x"
        );
        assert_eq!(ps_unescape("a`$b`\"c```d`'e`x`"), "a$b\"c``d'e`x`");
    }

    #[test]
    fn builders_and_post_processors_of_the_wrong_shape_are_pointed_at() {
        assert!(error(r#"{"builders": {"type": "x"}}"#)
            .contains("t.json:1:14: \"builders\" must be an array of objects, not an object"));
        assert!(error("{\"builders\": [\n \"x\"]}")
            .contains("t.json:2:2: builders[0] must be an object, not a string"));
        assert!(error(r#"{"builders": [], "post-processors": "x"}"#)
            .contains("\"post-processors\" must be an array, not a string"));
        assert!(error(r#"{"builders": [{"name": "n"}]}"#).contains("builders[0] has no \"type\""));
        assert!(
            error(r#"{"builders": [{"type": "qemu", "disk_size": 1e400}]}"#)
                .contains("the number 1e400 is out of range")
        );
    }

    #[test]
    fn deprecated_keys_are_explained_for_the_plugins_that_retired_them() {
        let d = Diagnostic::new("unknown configuration key \"ssh_key_path\"");
        let e = explain_deprecated(d.clone(), PluginKind::Builder, "qemu");
        assert_eq!(e.message, "deprecated configuration key \"ssh_key_path\"");
        assert!(e.hint.unwrap().contains("\"ssh_private_key_file\""));
        let e = explain_deprecated(d, PluginKind::Provisioner, "shell");
        assert_eq!(e.message, "unknown configuration key \"ssh_key_path\"");
        let d = Diagnostic::new("unknown configuration key \"enhanced_networking\"");
        let e = explain_deprecated(d.clone(), PluginKind::Builder, "docker");
        assert!(e.message.starts_with("unknown"));
        let e = explain_deprecated(d, PluginKind::Builder, "amazon-ebs");
        assert!(e.message.starts_with("deprecated"));
    }
}
