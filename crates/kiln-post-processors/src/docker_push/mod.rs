//! `docker-push`: pushes a `docker-import` or `docker-tag` image, and each of its tags, logged
//! in to `login_server` first when `login` is set and logged out after, as Packer does.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, DockerImage};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::sync::Arc;

/// `docker-push` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Log in before pushing, and out after.
    #[serde(default)]
    pub login: bool,
    /// The registry user.
    #[serde(default)]
    pub login_username: String,
    /// The registry password (masked in all output).
    #[serde(default)]
    pub login_password: String,
    /// The registry to log in to.
    #[serde(default)]
    pub login_server: String,
    /// Log in to Amazon ECR (not available in kiln yet).
    #[serde(default)]
    pub ecr_login: bool,
    /// ECR credentials (with `ecr_login`).
    #[serde(default)]
    pub aws_access_key: String,
    /// ECR credentials (with `ecr_login`).
    #[serde(default)]
    pub aws_secret_key: String,
    /// ECR credentials (with `ecr_login`).
    #[serde(default)]
    pub aws_token: String,
    /// ECR credentials profile (with `ecr_login`).
    #[serde(default)]
    pub aws_profile: String,
}

/// Makes a `docker-push` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    if c.ecr_login {
        return Err(Diagnostic::new(
            "ecr_login: logging in to Amazon ECR is not available in kiln yet; log in with `docker login` before the build",
        ));
    }
    Ok(Box::new(DockerPush { config: c }))
}

struct DockerPush {
    config: Config,
}

#[async_trait]
impl PostProcessor for DockerPush {
    fn secrets(&self) -> Vec<String> {
        let c = &self.config;
        kiln_core::plugin::set_values(&[&c.login_password, &c.aws_secret_key, &c.aws_token])
    }

    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let from = input.builder_id();
        if from != super::docker_import::BUILDER_ID && from != super::docker_tag::BUILDER_ID {
            return Err(Error::msg(format!(
                "Unknown artifact type: {from}\nCan only import from docker-import and docker-tag artifacts."
            )));
        }
        let c = &self.config;
        let login = if c.login {
            cx.ui.message("Logging in...");
            let l = kiln_comm::docker::login(&c.login_server, &c.login_username, &c.login_password)
                .await
                .map_err(|e| Error::msg(format!("Error logging in to Docker: {e}")))?;
            Some(l)
        } else {
            None
        };
        let tags: Vec<String> = input
            .state("docker_tags")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let names: Vec<String> = std::iter::once(input.id()).chain(tags.clone()).collect();
        let mut pushed = Ok(());
        for name in &names {
            cx.ui.message(&format!("Pushing: {name}"));
            let mut cmd = tokio::process::Command::new("docker");
            cmd.args(["push", name]);
            pushed = match kiln_core::process::run_streamed(cmd, cx.ui, &cx.cancel).await {
                Ok(0) => Ok(()),
                Ok(code) => Err(Error::msg(format!(
                    "Error pushing {name}: docker push exited with status {code}"
                ))),
                Err(e) => Err(e),
            };
            if pushed.is_err() {
                break;
            }
        }
        if let Some(l) = login {
            cx.ui.message("Logging out...");
            if let Err(e) = l.logout().await {
                cx.ui.error(&format!("Error logging out: {e}"));
            }
        }
        pushed?;
        Ok(PostProcessed {
            artifact: Some(Arc::new(DockerImage {
                builder_id: super::docker_import::BUILDER_ID.into(),
                id: names[0].clone(),
                tags,
            })),
            keep_input: true,
            force_keep_input: false,
        })
    }
}
