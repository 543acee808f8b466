//! Artifacts: what a builder or post-processor produced.

use crate::Result;
use async_trait::async_trait;
use std::sync::Arc;

/// Something a build produced (an image, files, an AMI).
#[async_trait]
pub trait Artifact: Send + Sync {
    /// The producer's id, e.g. `packer.file`, as Packer reports it.
    fn builder_id(&self) -> String;
    /// Files that make up the artifact.
    fn files(&self) -> Vec<String>;
    /// The artifact's id (`Null`, `us-east-1:ami-…`).
    fn id(&self) -> String;
    /// Human description (Packer's `String()`).
    fn description(&self) -> String;
    /// Extra data by key, for post-processors (`atlas.artifact.metadata` and such).
    fn state(&self, _key: &str) -> Option<serde_json::Value> {
        None
    }
    /// Deletes the artifact.
    async fn destroy(&self) -> Result<()>;
}

/// Shared handle to an artifact.
pub type ArtifactRef = Arc<dyn Artifact>;

/// An artifact made of local files; destroying it deletes them.
#[derive(Debug, Clone)]
pub struct FileArtifact {
    /// Builder id.
    pub builder_id: String,
    /// Id (Packer's file-based artifacts often use an empty or fixed id).
    pub id: String,
    /// The files.
    pub files: Vec<String>,
    /// Description.
    pub description: String,
}

#[async_trait]
impl Artifact for FileArtifact {
    fn builder_id(&self) -> String {
        self.builder_id.clone()
    }
    fn files(&self) -> Vec<String> {
        self.files.clone()
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn description(&self) -> String {
        self.description.clone()
    }
    async fn destroy(&self) -> Result<()> {
        for f in &self.files {
            match tokio::fs::remove_file(f).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
