//! `docker-save`: writes the docker builder's (or `docker-tag`'s) image to `path` with
//! `docker save`. The file is written beside `path` and renamed onto it when complete, so a
//! failed save leaves no partial file.

use async_trait::async_trait;
use kiln_core::artifact::ArtifactRef;
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::path::Path;

/// Builder id, as Packer names it (the artifact passes through).
pub const BUILDER_ID: &str = "packer.post-processor.docker-save";

/// `docker-save` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The tar file to write.
    #[serde(default)]
    pub path: String,
}

/// Makes a `docker-save` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    Ok(Box::new(DockerSave {
        config: decode(config)?,
    }))
}

struct DockerSave {
    config: Config,
}

#[async_trait]
impl PostProcessor for DockerSave {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let from = input.builder_id();
        if from != super::docker_import::BUILDER_ID && from != super::docker_tag::BUILDER_ID {
            return Err(Error::msg(format!(
                "Unknown artifact type: {from}\nCan only save Docker builder artifacts."
            )));
        }
        cx.ui.message(&format!("Saving image: {}", input.id()));
        let dest = Path::new(&self.config.path);
        kiln_comm::docker::docker_to_file(&["save", &input.id()], dest, &cx.cancel)
            .await
            .map_err(|e| match e {
                kiln_comm::CommError::Cancelled => Error::Cancelled,
                e => Error::msg(format!("Error exporting: {e}")),
            })?;
        cx.ui.message(&format!("Saved to: {}", self.config.path));
        Ok(PostProcessed {
            artifact: Some(input),
            keep_input: true,
            force_keep_input: false,
        })
    }
}
