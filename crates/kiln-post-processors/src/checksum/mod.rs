//! `checksum`: writes `hash<TAB>file` lines for each of an artifact's files, per hash type.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "packer.post-processor.checksum";

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
        if !kiln_core::digest::KINDS.contains(&t.as_str()) {
            return Err(Diagnostic::new(format!(
                "checksum_types: unrecognized checksum type \"{t}\"; valid types: {}",
                kiln_core::digest::KINDS.join(", ")
            )));
        }
    }
    Ok(Box::new(Checksum { config: c }))
}

struct Checksum {
    config: Config,
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
                let sum = kiln_core::digest::hash_file(kind, Path::new(f))
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
