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

/// A Docker image in the daemon (the docker builder's commit, `docker-import`, `docker-tag`);
/// destroying it removes it (`docker rmi`).
#[derive(Debug, Clone)]
pub struct DockerImage {
    /// Builder id.
    pub builder_id: String,
    /// The image's id or `repository:tag`.
    pub id: String,
    /// The `repository:tag` names given it (`docker-tag`), shown in its description.
    pub tags: Vec<String>,
}

#[async_trait]
impl Artifact for DockerImage {
    fn builder_id(&self) -> String {
        self.builder_id.clone()
    }
    fn files(&self) -> Vec<String> {
        vec![]
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn description(&self) -> String {
        if self.tags.is_empty() {
            format!("Imported Docker image: {}", self.id)
        } else {
            format!(
                "Imported Docker image: {} with tags {}",
                self.id,
                self.tags.join(" ")
            )
        }
    }
    fn state(&self, key: &str) -> Option<serde_json::Value> {
        (key == "docker_tags" && !self.tags.is_empty()).then(|| serde_json::json!(self.tags))
    }
    async fn destroy(&self) -> Result<()> {
        kiln_comm::docker::docker(&["rmi", &self.id])
            .await
            .map(drop)
            .map_err(|e| crate::Error::msg(e.to_string()))
    }
}
