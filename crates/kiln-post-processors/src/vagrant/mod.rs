//! `vagrant`: turns an artifact into a Vagrant box, as Packer 1.6.6 does, for the providers
//! kiln's builders make: `libvirt` (the qemu builder's disk as `box.img`, its format and
//! size in `metadata.json`, the libvirt driver in the Vagrantfile), `aws` (amazon-ebs: each
//! region's AMI in the Vagrantfile; the AMIs are kept) and `docker` (docker-import,
//! docker-tag and docker-push: the image in the Vagrantfile).
//!
//! The box is a tar archive (gzip unless `compression_level` is 0) of `metadata.json`, the
//! `Vagrantfile` (Packer's, then `vagrantfile_template` rendered), the provider's files and
//! `include`d files, written to `output` (default `packer_{{ .BuildName }}_{{.Provider}}.box`,
//! rendered with `.BuildName`, `.Provider` and `.ArtifactId`). `override` sets options per
//! provider; `provider_override` picks the provider (needed after `artifice`). Unlike Packer,
//! the disk is streamed into the box, not copied to a temporary directory first, and a box
//! that fails half way is removed.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::interp::TVal;
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "mitchellh.post-processor.vagrant";

/// The providers by the builder ids whose artifacts they box (Packer's table).
const BUILTINS: &[(&str, &str)] = &[
    ("mitchellh.amazonebs", "aws"),
    ("mitchellh.amazon.instance", "aws"),
    ("mitchellh.virtualbox", "virtualbox"),
    ("mitchellh.vmware", "vmware"),
    ("mitchellh.vmware-esx", "vmware"),
    ("pearkes.digitalocean", "digitalocean"),
    ("packer.googlecompute", "google"),
    ("hashicorp.scaleway", "scaleway"),
    ("packer.parallels", "parallels"),
    ("MSOpenTech.hyperv", "hyperv"),
    ("transcend.qemu", "libvirt"),
    ("ustream.lxc", "lxc"),
    ("Azure.ResourceManagement.VMImage", "azure"),
    ("packer.post-processor.docker-import", "docker"),
    ("packer.post-processor.docker-tag", "docker"),
    ("packer.post-processor.docker-push", "docker"),
];

/// The providers kiln makes boxes for (the others need builders kiln does not have).
const MADE: &[&str] = &["aws", "docker", "libvirt"];

fn providers() -> Vec<&'static str> {
    let mut p: Vec<&str> = BUILTINS.iter().map(|(_, p)| *p).collect();
    p.sort();
    p.dedup();
    p
}

/// What `override` may set for one provider.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// gzip level: -1 (default, 6), 0 (a plain tar), 1 to 9.
    pub compression_level: Option<i32>,
    /// Files put in the box beside the provider's.
    pub include: Option<Vec<String>>,
    /// The box's path.
    pub output: Option<String>,
    /// A file rendered and appended to the box's Vagrantfile.
    pub vagrantfile_template: Option<String>,
}

/// `vagrant` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// gzip level: -1 (default, 6), 0 (a plain tar), 1 to 9.
    #[serde(default = "default_level")]
    pub compression_level: i32,
    /// Files put in the box beside the provider's.
    #[serde(default)]
    pub include: Vec<String>,
    /// The box's path.
    #[serde(default = "default_output")]
    pub output: String,
    /// Options per provider.
    #[serde(default, rename = "override")]
    pub overrides: BTreeMap<String, Options>,
    /// A file rendered and appended to the box's Vagrantfile.
    #[serde(default)]
    pub vagrantfile_template: String,
    /// The template is made by an earlier step: do not check that it exists yet.
    #[serde(default)]
    pub vagrantfile_template_generated: bool,
    /// The provider to box for, whatever made the artifact.
    #[serde(default)]
    pub provider_override: String,
}

fn default_level() -> i32 {
    -1
}

fn default_output() -> String {
    "packer_{{ .BuildName }}_{{.Provider}}.box".into()
}

/// The options in effect for one provider.
#[derive(Debug, Clone)]
struct Effective {
    level: i32,
    include: Vec<String>,
    output: String,
    vagrantfile_template: String,
}

fn check_level(level: i32) -> Result<(), Diagnostic> {
    if (-1..=9).contains(&level) {
        Ok(())
    } else {
        Err(Diagnostic::new(format!(
            "compression_level: Invalid compression level {level}. Expected an integer from -1 to 9."
        )))
    }
}

/// Makes a `vagrant` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    let all = providers();
    if !c.provider_override.is_empty() && !all.contains(&c.provider_override.as_str()) {
        return Err(Diagnostic::new(format!(
            "The given provider_override {} is not valid. Please choose from one of {}",
            c.provider_override,
            all.join(", ")
        )));
    }
    check_level(c.compression_level)?;
    for (name, o) in &c.overrides {
        if !all.contains(&name.as_str()) {
            return Err(Diagnostic::new(format!(
                "override: {name} is not a provider; the providers are {}",
                all.join(", ")
            )));
        }
        if let Some(l) = o.compression_level {
            check_level(l)?;
        }
    }
    let mut templates: Vec<&String> = vec![&c.vagrantfile_template];
    templates.extend(
        c.overrides
            .values()
            .filter_map(|o| o.vagrantfile_template.as_ref()),
    );
    if !c.vagrantfile_template_generated {
        for t in templates.into_iter().filter(|t| !t.is_empty()) {
            if std::fs::metadata(t).is_err() {
                return Err(Diagnostic::new(format!(
                    "vagrantfile_template '{t}' does not exist"
                )));
            }
        }
    }
    Ok(Box::new(Vagrant { config: c }))
}

struct Vagrant {
    config: Config,
}

impl Vagrant {
    fn effective(&self, provider: &str) -> Effective {
        let c = &self.config;
        let o = c.overrides.get(provider).cloned().unwrap_or_default();
        Effective {
            level: o.compression_level.unwrap_or(c.compression_level),
            include: o.include.unwrap_or_else(|| c.include.clone()),
            output: o.output.unwrap_or_else(|| c.output.clone()),
            vagrantfile_template: o
                .vagrantfile_template
                .unwrap_or_else(|| c.vagrantfile_template.clone()),
        }
    }
}

/// What goes in the box under one name.
enum Entry {
    File(String),
    Text(String),
}

/// The provider's part: its files, its Vagrantfile, its metadata.
struct Boxed {
    files: Vec<(String, Entry)>,
    vagrantfile: String,
    metadata: serde_json::Value,
    keep_input: bool,
}

/// A qemu disk size (`40960M`, `20G`, `1024`: megabytes by default) in megabytes.
fn megabytes(size: &str) -> Result<u64> {
    let size = size.trim();
    let (digits, unit) = match size.chars().last() {
        Some(c) if c.is_ascii_digit() => (size, 'm'),
        Some(c) => (&size[..size.len() - c.len_utf8()], c.to_ascii_lowercase()),
        None => return Err(Error::msg("the artifact has no disk size")),
    };
    let v: u64 = digits
        .parse()
        .map_err(|_| Error::msg(format!("the disk size {size:?} is not a number")))?;
    let mb = match unit {
        'b' => v / 1024 / 1024,
        'k' => v / 1024,
        'm' => v,
        'g' => v * 1024,
        't' => v * 1024 * 1024,
        'p' => v * 1024 * 1024 * 1024,
        'e' => v * 1024 * 1024 * 1024 * 1024,
        _ => return Err(Error::msg(format!("Unknown size unit {unit}"))),
    };
    Ok(mb)
}

fn libvirt(cx: &PostCx<'_>, input: &ArtifactRef) -> Result<Boxed> {
    let state = |k: &str| {
        input
            .state(k)
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| {
                Error::msg(format!(
                    "the artifact has no {k}: the libvirt provider boxes the qemu builder's disk"
                ))
            })
    };
    let disk = state("diskName")?;
    let mut files = vec![];
    for path in input.files() {
        if path.ends_with(&format!("/{disk}")) {
            cx.ui.message(&format!("Copying from artifact: {path}"));
            files.push(("box.img".to_string(), Entry::File(path)));
        }
    }
    let format = state("diskType")?;
    let mb = megabytes(&state("diskSize")?)?;
    let gb = mb.div_ceil(1024);
    let domain = state("domainType")?;
    let driver = match domain.as_str() {
        "none" | "tcg" | "hvf" => "qemu",
        "kvm" => "kvm",
        other => return Err(Error::msg(format!("Unknown libvirt domain type: {other}"))),
    };
    Ok(Boxed {
        files,
        vagrantfile: format!(
            "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"{driver}\"\n  end\nend\n"
        ),
        metadata: serde_json::json!({"format": format, "provider": "libvirt", "virtual_size": gb}),
        keep_input: false,
    })
}

fn aws(input: &ArtifactRef) -> Result<Boxed> {
    let id = input.id();
    let mut images = BTreeMap::new();
    for region in id.split(',') {
        match region.split(':').collect::<Vec<_>>().as_slice() {
            [r, ami] => {
                images.insert(r.to_string(), ami.to_string());
            }
            _ => return Err(Error::msg(format!("Poorly formatted artifact ID: {id}"))),
        }
    }
    let mut v = String::from(
        "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider \"aws\" do |aws|\n    ",
    );
    for (region, ami) in &images {
        v.push_str(&format!(
            "\n\taws.region_config \"{region}\", ami: \"{ami}\"\n\t"
        ));
    }
    v.push_str("\n  end\nend\n");
    Ok(Boxed {
        files: vec![],
        vagrantfile: v,
        metadata: serde_json::json!({"provider": "aws"}),
        keep_input: true,
    })
}

fn docker(input: &ArtifactRef) -> Boxed {
    Boxed {
        files: vec![],
        vagrantfile: format!(
            "\nVagrant.configure(\"2\") do |config|\n\tconfig.vm.provider :docker do |docker, override|\n\t\tdocker.image = \"{}\"\n\tend\nend\n",
            input.id()
        ),
        metadata: serde_json::json!({"provider": "docker"}),
        keep_input: false,
    }
}

/// Writes the box: a tar of `entries` in name order, gzipped at `level` unless it is 0.
/// `say` hears each entry.
fn write_box(
    dest: &str,
    entries: &BTreeMap<String, Entry>,
    level: i32,
    mut say: impl FnMut(&str),
) -> std::io::Result<()> {
    if let Some(dir) = Path::new(dest).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dest)?);
    let mut stream: Box<dyn Write> = if level == 0 {
        Box::new(out)
    } else {
        let l = if level < 0 { 6 } else { level as u32 };
        Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::new(l),
        ))
    };
    {
        let mut tar = tar::Builder::new(&mut stream);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for (name, entry) in entries {
            say(&format!("Compressing: {name}"));
            let mut header = tar::Header::new_gnu();
            match entry {
                Entry::Text(text) => {
                    header.set_mode(0o644);
                    header.set_mtime(now);
                    header.set_size(text.len() as u64);
                    header.set_entry_type(tar::EntryType::Regular);
                    // SAFETY: getuid and getgid cannot fail and touch no memory.
                    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
                    crate::compress::set_owner(&mut header, uid, gid)?;
                    tar.append_data(&mut header, name, text.as_bytes())?;
                }
                Entry::File(path) => {
                    use std::os::unix::fs::MetadataExt;
                    let mut file = std::fs::File::open(path)?;
                    let meta = file.metadata()?;
                    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                    crate::compress::set_owner(&mut header, meta.uid(), meta.gid())?;
                    let len = meta.len();
                    tar.append_data(&mut header, name, (&mut file).take(len))?;
                }
            }
        }
        tar.finish()?;
    }
    stream.flush()?;
    drop(stream);
    Ok(())
}

#[async_trait]
impl PostProcessor for Vagrant {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let from = input.builder_id();
        let name = if self.config.provider_override.is_empty() {
            match BUILTINS.iter().find(|(id, _)| *id == from) {
                Some((_, p)) => p.to_string(),
                None if from == crate::artifice::BUILDER_ID => {
                    return Err(Error::msg(format!(
                        "Unknown artifact type, can't build box: {from} (after artifice, set \
                         provider_override to the provider its files are for)"
                    )))
                }
                None => {
                    return Err(Error::msg(format!(
                        "Unknown artifact type, can't build box: {from}"
                    )))
                }
            }
        } else {
            self.config.provider_override.clone()
        };
        if !MADE.contains(&name.as_str()) {
            return Err(Error::msg(format!(
                "kiln's vagrant post-processor makes boxes for the {} providers, not {name}",
                MADE.join(", ")
            )));
        }
        let c = self.effective(&name);
        cx.ui
            .say(&format!("Creating Vagrant box for '{name}' provider"));
        let data = cx.info.interp.with_data([
            ("ArtifactId", TVal::from(input.id().as_str())),
            ("BuildName", TVal::from(cx.info.name.as_str())),
            ("Provider", TVal::from(name.as_str())),
        ]);
        let output = kiln_template::interp::render(&c.output, &data)
            .map_err(|e| Error::msg(format!("output: {}", e.message)))?;
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for src in &c.include {
            cx.ui.message(&format!("Copying from include: {src}"));
            let meta = std::fs::metadata(src)
                .map_err(|e| Error::msg(format!("Error copying include file: {src}\n\n{e}")))?;
            if meta.is_dir() {
                return Err(Error::msg(format!(
                    "Error copying include file: {src}\n\nit is a directory; include takes files"
                )));
            }
            let base = Path::new(src)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| src.clone());
            entries.insert(base, Entry::File(src.clone()));
        }
        let boxed = match name.as_str() {
            "libvirt" => libvirt(cx, &input)?,
            "aws" => aws(&input)?,
            _ => docker(&input),
        };
        for (n, e) in boxed.files {
            entries.insert(n, e);
        }
        // As Packer: an included metadata.json wins over the provider's.
        entries
            .entry("metadata.json".into())
            .or_insert_with(|| Entry::Text(format!("{}\n", boxed.metadata)));
        let mut custom = String::new();
        if !c.vagrantfile_template.is_empty() {
            cx.ui.message(&format!(
                "Using custom Vagrantfile: {}",
                c.vagrantfile_template
            ));
            let text = std::fs::read_to_string(&c.vagrantfile_template)
                .map_err(|e| Error::msg(format!("reading {}: {e}", c.vagrantfile_template)))?;
            custom = kiln_template::interp::render(&text, &data)
                .map_err(|e| Error::msg(format!("{}: {}", c.vagrantfile_template, e.message)))?;
        }
        entries.insert(
            "Vagrantfile".into(),
            Entry::Text(format!(
                "\n# The contents below were provided by the Packer Vagrant post-processor\n{}\n\n# The contents below (if any) are custom contents provided by the\n# Packer template during image build.\n{custom}\n",
                boxed.vagrantfile
            )),
        );
        let ui = cx.ui.clone();
        let dest = output.clone();
        let level = c.level;
        let work = tokio::task::spawn_blocking(move || {
            write_box(&dest, &entries, level, |m| ui.message(m))
        });
        let done = tokio::select! {
            r = work => r.map_err(|e| Error::msg(format!("making the box: {e}")))?,
            _ = cx.cancel.cancelled() => {
                // The writer stops at its next error once the file is gone.
                let _ = std::fs::remove_file(&output);
                return Err(Error::Cancelled);
            }
        };
        if let Err(e) = done {
            let _ = std::fs::remove_file(&output);
            return Err(Error::msg(format!("making the box {output}: {e}")));
        }
        Ok(PostProcessed {
            artifact: Some(Arc::new(FileArtifact {
                builder_id: BUILDER_ID.into(),
                id: name.clone(),
                files: vec![output.clone()],
                description: format!("'{name}' provider box: {output}"),
            })),
            keep_input: boxed.keep_input,
            force_keep_input: boxed.keep_input,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_qemu_writes_them() {
        assert_eq!(megabytes("40960M").unwrap(), 40960);
        assert_eq!(megabytes("20G").unwrap(), 20480);
        assert_eq!(megabytes("1024").unwrap(), 1024);
        assert_eq!(megabytes("1048576k").unwrap(), 1024);
        assert!(megabytes("12Q").is_err());
        assert!(megabytes("").is_err());
        assert!(megabytes("xM").is_err());
    }

    #[test]
    fn a_plain_box_is_a_tar_of_its_entries_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let disk = d.path().join("disk");
        std::fs::write(&disk, vec![3u8; 5000]).unwrap();
        let mut e = BTreeMap::new();
        e.insert("metadata.json".to_string(), Entry::Text("{}\n".into()));
        e.insert(
            "box.img".to_string(),
            Entry::File(disk.display().to_string()),
        );
        e.insert("Vagrantfile".to_string(), Entry::Text("x".into()));
        for level in [0, -1, 9] {
            let out = d.path().join(format!("sub/b{level}.box"));
            let mut said = vec![];
            write_box(out.to_str().unwrap(), &e, level, |m| {
                said.push(m.to_string())
            })
            .unwrap();
            assert_eq!(
                said,
                [
                    "Compressing: Vagrantfile",
                    "Compressing: box.img",
                    "Compressing: metadata.json"
                ]
            );
            let raw = std::fs::File::open(&out).unwrap();
            let r: Box<dyn Read> = if level == 0 {
                Box::new(raw)
            } else {
                Box::new(flate2::read::GzDecoder::new(raw))
            };
            let mut a = tar::Archive::new(r);
            let got: Vec<(String, usize)> = a
                .entries()
                .unwrap()
                .map(|x| {
                    let mut x = x.unwrap();
                    let mut b = vec![];
                    x.read_to_end(&mut b).unwrap();
                    (x.path().unwrap().display().to_string(), b.len())
                })
                .collect();
            assert_eq!(
                got,
                [
                    ("Vagrantfile".to_string(), 1),
                    ("box.img".to_string(), 5000),
                    ("metadata.json".to_string(), 3)
                ]
            );
        }
    }
}
