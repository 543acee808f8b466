//! `docker-import`: imports the docker builder's exported file system (or an `artifice`
//! file) as the image `repository:tag`, with `changes`, as Packer does.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, DockerImage};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::process::Stdio;
use std::sync::Arc;

/// Builder id of the artifact (also the docker builder's committed images').
pub const BUILDER_ID: &str = "packer.post-processor.docker-import";

/// `docker-import` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The repository.
    #[serde(default)]
    pub repository: String,
    /// The tag.
    #[serde(default)]
    pub tag: String,
    /// Dockerfile instructions applied to the image (`--change`).
    #[serde(default)]
    pub changes: Vec<String>,
}

/// Makes a `docker-import` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    Ok(Box::new(DockerImport {
        config: decode(config)?,
    }))
}

struct DockerImport {
    config: Config,
}

#[async_trait]
impl PostProcessor for DockerImport {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let from = input.builder_id();
        if from != "packer.docker" && from != crate::artifice::BUILDER_ID {
            return Err(Error::msg(format!(
                "Unknown artifact type: {from}\nCan only import from Docker builder and Artifice post-processor artifacts. If you are getting this error after having run the docker builder, it may be because you set commit: true in your Docker builder, so the image is already imported. "
            )));
        }
        let c = &self.config;
        let repo = if c.tag.is_empty() {
            c.repository.clone()
        } else {
            format!("{}:{}", c.repository, c.tag)
        };
        let Some(file) = input.files().into_iter().next().filter(|f| !f.is_empty()) else {
            return Err(Error::msg(
                "docker-import: the artifact has no file to import (the docker builder made one only with export_path)",
            ));
        };
        cx.ui.message(&format!("Importing image: {}", input.id()));
        cx.ui.message(&format!("Repository: {repo}"));
        let mut cmd = tokio::process::Command::new("docker");
        cmd.arg("import");
        for change in &c.changes {
            cmd.args(["--change", change]);
        }
        cmd.args(["-", &repo]);
        let tar = std::fs::File::open(&file)
            .map_err(|e| Error::msg(format!("docker-import: {file}: {e}")))?;
        let out = cmd
            .stdin(Stdio::from(tar))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = tokio::select! {
            o = out => o.map_err(|e| Error::msg(format!("Error importing container: cannot run docker: {e}")))?,
            _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
        };
        if !out.status.success() {
            return Err(Error::msg(format!(
                "Error importing container: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        cx.ui.message(&format!("Imported ID: {id}"));
        Ok(PostProcessed {
            artifact: Some(Arc::new(DockerImage {
                builder_id: BUILDER_ID.into(),
                id: repo,
                tags: vec![],
            })),
            keep_input: false,
            force_keep_input: false,
        })
    }
}
