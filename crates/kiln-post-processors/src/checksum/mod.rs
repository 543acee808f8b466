//! `checksum`: writes `hash<TAB>file` lines for each of an artifact's files, per hash type.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use md5::Digest;
use serde::Deserialize;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "packer.post-processor.checksum";

/// Hash algorithms Packer offers.
pub const TYPES: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// `checksum` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which hashes.
    #[serde(default = "default_types")]
    pub checksum_types: Vec<String>,
    /// Output path template (`{{.BuildName}}`, `{{.BuilderType}}`, `{{.ChecksumType}}`).
    #[serde(default = "default_output")]
    pub output: String,
}

fn default_types() -> Vec<String> {
    vec!["md5".into()]
}

fn default_output() -> String {
    "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum".into()
}

/// Makes a `checksum` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    for t in &c.checksum_types {
        if !TYPES.contains(&t.as_str()) {
            return Err(Diagnostic::new(format!(
                "checksum_types: unrecognized checksum type \"{t}\"; valid types: {}",
                TYPES.join(", ")
            )));
        }
    }
    Ok(Box::new(Checksum { config: c }))
}

struct Checksum {
    config: Config,
}

/// Hashes a file with the named algorithm; returns lowercase hex.
pub fn hash_file(kind: &str, path: &Path) -> std::io::Result<String> {
    fn run<D: Digest>(mut d: D, path: &Path) -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            d.update(&buf[..n]);
        }
        Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
    match kind {
        "md5" => run(md5::Md5::new(), path),
        "sha1" => run(sha1::Sha1::new(), path),
        "sha224" => run(sha2::Sha224::new(), path),
        "sha256" => run(sha2::Sha256::new(), path),
        "sha384" => run(sha2::Sha384::new(), path),
        _ => run(sha2::Sha512::new(), path),
    }
}

#[async_trait]
impl PostProcessor for Checksum {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let files = input.files();
        let mut new_files = Vec::new();
        for kind in &self.config.checksum_types {
            let out =
                crate::render_output(&self.config.output, cx.info, &[("ChecksumType", kind)])?;
            // As Packer: an artifact without files gets no checksum file at all.
            if files.is_empty() {
                continue;
            }
            if !Path::new(&out).exists() {
                new_files.push(out.clone());
            }
            if let Some(dir) = Path::new(&out).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
            let mut w = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out)?;
            for f in &files {
                let sum = hash_file(kind, Path::new(f))
                    .map_err(|e| Error::msg(format!("hashing {f}: {e}")))?;
                let base = Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                writeln!(w, "{sum}\t{base}")?;
            }
        }
        let mut all = files;
        all.extend(new_files);
        Ok(PostProcessed {
            artifact: Some(Arc::new(FileArtifact {
                builder_id: BUILDER_ID.into(),
                id: String::new(),
                description: format!("Created artifact from files: {}", all.join(", ")),
                files: all,
            })),
            // As Packer: never delete the artifact that was just checksummed.
            keep_input: true,
            force_keep_input: true,
        })
    }
}
