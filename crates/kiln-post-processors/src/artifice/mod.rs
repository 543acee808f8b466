//! `artifice`: replaces the artifact with a list of files the user names.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::Result;
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::sync::Arc;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "packer.post-processor.artifice";

/// `artifice` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The files of the new artifact.
    #[serde(default)]
    pub files: Vec<String>,
}

/// Makes an `artifice` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    if c.files.is_empty() {
        return Err(Diagnostic::new("artifice: no files specified"));
    }
    Ok(Box::new(Artifice { config: c }))
}

struct Artifice {
    config: Config,
}

#[async_trait]
impl PostProcessor for Artifice {
    async fn post_process(&self, cx: &PostCx<'_>, _input: ArtifactRef) -> Result<PostProcessed> {
        cx.ui.say(&format!(
            "Using these artifact files: {}",
            self.config.files.join(", ")
        ));
        Ok(PostProcessed {
            artifact: Some(Arc::new(FileArtifact {
                builder_id: BUILDER_ID.into(),
                id: String::new(),
                files: self.config.files.clone(),
                description: format!(
                    "Created artifact from files: {}",
                    self.config.files.join(", ")
                ),
            })),
            keep_input: true,
            force_keep_input: false,
        })
    }
}
