//! `docker-tag`: names the docker builder's image `repository:tag` for each of `tags` (and
//! the older `tag`), or `repository` alone, as Packer does.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, DockerImage};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::sync::Arc;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "packer.post-processor.docker-tag";

/// `docker-tag` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The repository.
    #[serde(default)]
    pub repository: String,
    /// Tags (deprecated name).
    #[serde(default)]
    pub tag: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ignored, as by Packer with Docker 1.12 and later (`docker tag` has no `-f`).
    #[serde(default)]
    pub force: bool,
}

/// Makes a `docker-tag` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    Ok(Box::new(DockerTag {
        config: decode(config)?,
    }))
}

struct DockerTag {
    config: Config,
}

#[async_trait]
impl PostProcessor for DockerTag {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let c = &self.config;
        if !c.tag.is_empty() {
            cx.ui.say("Deprecation warning: \"tag\" option has been replaced with \"tags\". In future versions of Packer, this configuration may not work. Please call `packer fix` on your template to update.");
        }
        let from = input.builder_id();
        if from != BUILDER_ID && from != super::docker_import::BUILDER_ID {
            return Err(Error::msg(format!(
                "Unknown artifact type: {from}\nCan only tag from Docker builder artifacts."
            )));
        }
        let names: Vec<String> = if c.tags.is_empty() && c.tag.is_empty() {
            vec![c.repository.clone()]
        } else {
            c.tags
                .iter()
                .chain(&c.tag)
                .map(|t| format!("{}:{t}", c.repository))
                .collect()
        };
        for name in &names {
            cx.ui.message(&format!("Tagging image: {}", input.id()));
            cx.ui.message(&format!("Repository: {name}"));
            kiln_comm::docker::docker(&["tag", &input.id(), name])
                .await
                .map_err(|e| Error::msg(format!("Error tagging image: {e}")))?;
        }
        let tagged = c.tags.len() + c.tag.len() > 0;
        Ok(PostProcessed {
            artifact: Some(Arc::new(DockerImage {
                builder_id: BUILDER_ID.into(),
                id: names.last().cloned().unwrap_or_default(),
                tags: if tagged { names } else { vec![] },
            })),
            keep_input: true,
            force_keep_input: true,
        })
    }
}
