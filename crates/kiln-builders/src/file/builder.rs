//! The `file` builder's steps: write the target, then provision.

use super::config::Config;
use async_trait::async_trait;
use kiln_comm::Communicator;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{BuildCx, Builder, GeneratedData, PrepareCx};
use kiln_core::step::{run_steps, ProvisionState, Step, StepProvision};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Builder id, as Packer reports it.
pub const BUILDER_ID: &str = "packer.file";

/// Makes a `file` builder from its configuration.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(FileBuilder {
        config: Arc::new(c),
    }))
}

struct FileBuilder {
    config: Arc<Config>,
}

struct State;

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        None
    }
    fn generated_data(&self) -> GeneratedData {
        GeneratedData::new()
    }
}

/// Writes the target file from `source` or `content`.
struct StepWriteTarget {
    config: Arc<Config>,
}

#[async_trait]
impl Step<State> for StepWriteTarget {
    fn name(&self) -> &'static str {
        "StepWriteTarget"
    }

    async fn run(&mut self, _cx: &BuildCx, _state: &mut State) -> Result<()> {
        let c = &self.config;
        if let Some(dir) = std::path::Path::new(&c.target).parent() {
            if !dir.as_os_str().is_empty() {
                tokio::fs::create_dir_all(dir).await?;
            }
        }
        // As Packer: written content is private to the user (0600); a copied source gets a
        // new file's default mode, not the source's.
        if c.source.is_empty() {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&c.target)
                .await?;
            f.write_all(c.content.as_bytes()).await?;
            f.flush().await?;
        } else {
            let copy = async {
                let mut from = tokio::fs::File::open(&c.source).await?;
                let mut to = tokio::fs::File::create(&c.target).await?;
                tokio::io::copy(&mut from, &mut to).await?;
                to.flush().await
            };
            copy.await
                .map_err(|e| Error::msg(format!("copying {} to {}: {e}", c.source, c.target)))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Builder for FileBuilder {
    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let mut state = State;
        let steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepWriteTarget {
                config: self.config.clone(),
            }),
            // As Packer's file builder: no build data reaches the provisioners.
            Box::new(StepProvision::without_build_data()),
        ];
        run_steps(cx, &mut state, steps).await?;
        Ok(Some(Arc::new(FileArtifact {
            builder_id: BUILDER_ID.into(),
            id: "File".into(),
            files: vec![self.config.target.clone()],
            description: format!("Stored file: {}", self.config.target),
        })))
    }
}
