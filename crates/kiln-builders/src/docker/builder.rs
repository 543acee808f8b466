//! The `docker` builder's run, Packer's steps in Packer's order: a temporary directory shared
//! with the container, pull, run the container, connect (`docker exec`), provision, then
//! commit it to an image, export its file system, or discard it. Each container and directory
//! is in the resource journal from before it exists until it is gone, and a committed image
//! until the build has succeeded, so `kiln cleanup` finds what a killed run left.

use super::config::{parse, Config};
use super::step_commit::StepCommit;
use super::step_connect::StepConnectDocker;
use super::step_export::StepExport;
use super::step_pull::StepPull;
use super::step_run::StepRun;
use super::step_temp_dir::StepTempDir;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::Communicator;
use kiln_core::artifact::{ArtifactRef, DockerImage, FileArtifact};
use kiln_core::plugin::{BuildCx, Builder, GeneratedData, PrepareCx};
use kiln_core::step::{run_steps, ProvisionState, Step, StepProvision};
use kiln_core::{Error, Result};
use kiln_template::{Diagnostic, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Builder id of an exported (or discarded) container, as Packer reports it.
pub const BUILDER_ID: &str = "packer.docker";
/// Builder id of a committed image, as Packer reports it (its docker-import's).
pub const BUILDER_ID_IMPORT: &str = "packer.post-processor.docker-import";

/// Makes a `docker` builder from its configuration.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    let (config, comm) = parse(config)?;
    Ok(Box::new(DockerBuilder { config, comm }))
}

struct DockerBuilder {
    config: Config,
    comm: CommConfig,
}

/// What the steps share.
pub struct State {
    /// The options.
    pub config: Config,
    /// The communicator options.
    pub comm_config: CommConfig,
    /// The run's id.
    pub run_uuid: String,
    /// The directory shared with the container.
    pub temp_dir: Option<PathBuf>,
    /// The container.
    pub container: Option<String>,
    /// The communicator, once connected.
    pub comm: Option<Arc<dyn Communicator>>,
    /// The committed image.
    pub image: Option<String>,
    /// Set by the last step: what was made is the build's product.
    pub succeeded: bool,
}

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        self.comm.clone()
    }
    fn generated_data(&self) -> GeneratedData {
        let mut d = GeneratedData::new();
        d.insert("ConnType".into(), self.comm_config.communicator.clone());
        d.insert("ID".into(), self.container.clone().unwrap_or_default());
        d.insert("PackerRunUUID".into(), self.run_uuid.clone());
        d
    }
}

impl kiln_core::step::Succeeds for State {
    fn succeed(&mut self) {
        self.succeeded = true;
    }
}

#[async_trait]
impl Builder for DockerBuilder {
    /// The registry password and the ECR keys.
    fn secrets(&self) -> Vec<String> {
        let c = &self.config;
        kiln_core::plugin::set_values(&[&c.login_password, &c.aws_secret_key, &c.aws_token])
    }

    /// Asks the daemon what it can answer without creating anything: that it is there, and
    /// that the image is (when it is not to be pulled); says what the build would run.
    async fn dry_run(&self, cx: &BuildCx) -> Result<()> {
        let c = &self.config;
        let version = kiln_comm::docker::docker(&["version", "--format", "{{.Server.Version}}"])
            .await
            .map_err(|e| Error::msg(format!("the Docker daemon cannot be reached: {e}")))?;
        cx.ui.say(&format!("Docker daemon {version} answers"));
        if c.pull {
            cx.ui.say(&format!("Would pull {}", c.image));
        } else {
            kiln_comm::docker::docker(&["image", "inspect", "--format", "{{.Id}}", &c.image])
                .await
                .map_err(|e| {
                    Error::msg(format!(
                        "the image {} is not on the daemon, and pull is false: {e}",
                        c.image
                    ))
                })?;
            cx.ui
                .say(&format!("The image {} is on the daemon", c.image));
        }
        let mut state = self.state(cx);
        state.temp_dir = Some(PathBuf::from("<temporary directory>"));
        let args = super::step_run::run_args(cx, &state, "<name>")?;
        cx.ui.say(&format!("Would run: docker {}", args.join(" ")));
        cx.ui.say(&if c.commit {
            "Would commit the container to an image".to_string()
        } else if c.discard {
            "Would discard the container".to_string()
        } else {
            format!("Would export the container to {}", c.export_path)
        });
        Ok(())
    }

    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let mut state = self.state(cx);
        let mut steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepTempDir),
            Box::new(StepPull),
            Box::new(StepRun::new()),
            Box::new(StepConnectDocker),
            Box::new(StepProvision::new()),
        ];
        if self.config.commit {
            steps.push(Box::new(StepCommit));
        } else if !self.config.export_path.is_empty() {
            steps.push(Box::new(StepExport));
        }
        steps.push(Box::new(kiln_core::step::StepMarkSuccess));
        run_steps(cx, &mut state, steps).await?;
        let artifact: ArtifactRef = match state.image {
            Some(id) => Arc::new(DockerImage {
                builder_id: BUILDER_ID_IMPORT.into(),
                id,
                tags: vec![],
            }),
            // Packer reports a discarded container as an export with no path.
            None => Arc::new(FileArtifact {
                builder_id: BUILDER_ID.into(),
                id: "Container".into(),
                files: if self.config.export_path.is_empty() {
                    vec![]
                } else {
                    vec![self.config.export_path.clone()]
                },
                description: format!("Exported Docker file: {}", self.config.export_path),
            }),
        };
        Ok(Some(artifact))
    }
}

impl DockerBuilder {
    /// The state a build starts with.
    fn state(&self, cx: &BuildCx) -> State {
        State {
            config: self.config.clone(),
            comm_config: self.comm.clone(),
            run_uuid: cx.info.run_uuid.clone(),
            temp_dir: None,
            container: None,
            comm: None,
            image: None,
            succeeded: false,
        }
    }
}
