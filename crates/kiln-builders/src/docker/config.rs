//! `docker` builder options: Packer 1.6.6's names and defaults.

use kiln_comm::config::CommConfig;
use kiln_template::{decode::decode_split, Diagnostic, Value};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The builder's own options (the communicator's are decoded beside them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The image to start the container from.
    #[serde(default)]
    pub image: String,
    /// Commit the container to an image at the end.
    #[serde(default)]
    pub commit: bool,
    /// Throw the container away at the end.
    #[serde(default)]
    pub discard: bool,
    /// Export the container's file system to this tar file at the end.
    #[serde(default)]
    pub export_path: String,
    /// `docker pull` the image first (default true).
    #[serde(default = "yes")]
    pub pull: bool,
    /// The arguments of `docker run` after kiln's own; `{{.Image}}` is the image. Default
    /// `-d -i -t --entrypoint=/bin/sh -- {{.Image}}`.
    #[serde(default)]
    pub run_command: Vec<String>,
    /// Host paths mounted in the container, host path to container path.
    #[serde(default)]
    pub volumes: BTreeMap<String, String>,
    /// `--privileged`.
    #[serde(default)]
    pub privileged: bool,
    /// Where the build's shared temporary directory is mounted (default `/packer-files`).
    #[serde(default)]
    pub container_dir: String,
    /// The commit's author.
    #[serde(default)]
    pub author: String,
    /// Dockerfile instructions applied by the commit (`--change`).
    #[serde(default)]
    pub changes: Vec<String>,
    /// The commit's message.
    #[serde(default)]
    pub message: String,
    /// Log in to `login_server` before pulling, and out after.
    #[serde(default)]
    pub login: bool,
    /// The registry to log in to.
    #[serde(default)]
    pub login_server: String,
    /// The registry user.
    #[serde(default)]
    pub login_username: String,
    /// The registry password (masked in all output).
    #[serde(default)]
    pub login_password: String,
    /// Log in to Amazon ECR (not available in kiln yet).
    #[serde(default)]
    pub ecr_login: bool,
    /// ECR credentials (with `ecr_login`).
    #[serde(default)]
    pub aws_access_key: String,
    /// ECR credentials (with `ecr_login`; masked).
    #[serde(default)]
    pub aws_secret_key: String,
    /// ECR credentials (with `ecr_login`; masked).
    #[serde(default)]
    pub aws_token: String,
    /// ECR credentials profile (with `ecr_login`).
    #[serde(default)]
    pub aws_profile: String,
    /// Hand uploads to the container's user (default true).
    #[serde(default = "yes")]
    pub fix_upload_owner: bool,
    /// Who runs the provisioners' commands (`docker exec -u`).
    #[serde(default)]
    pub exec_user: String,
    /// Commands get a terminal (`docker exec -t`).
    #[serde(default)]
    pub pty: bool,
    /// `--cap-add`.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// `--tmpfs`.
    #[serde(default)]
    pub tmpfs: Vec<String>,
    /// `--device`.
    #[serde(default)]
    pub device: Vec<String>,
    /// A Windows container (not available in kiln).
    #[serde(default)]
    pub windows_container: bool,
}

fn yes() -> bool {
    true
}

/// Packer's default `run_command`.
pub const DEFAULT_RUN_COMMAND: [&str; 6] =
    ["-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"];

/// Decodes and checks the configuration, as Packer does; the communicator defaults to
/// `docker`.
pub fn parse(value: &Value) -> Result<(Config, CommConfig), Diagnostic> {
    let (mut c, mut comm): (Config, CommConfig) = decode_split(value)?;
    if value.get("communicator").is_none() {
        comm.communicator = "docker".into();
    }
    if c.run_command.is_empty() {
        c.run_command = DEFAULT_RUN_COMMAND.iter().map(|s| s.to_string()).collect();
    }
    if c.container_dir.is_empty() {
        c.container_dir = "/packer-files".into();
    }
    c.validate()?;
    match comm.communicator.as_str() {
        "docker" | "none" => {}
        "ssh" => {
            return Err(Diagnostic::new(
                "communicator: ssh with the docker builder is not available in kiln yet; use \"docker\" (the default) or \"none\"",
            ))
        }
        _ => comm.validate(false)?,
    }
    Ok((c, comm))
}

impl Config {
    /// Packer's checks.
    fn validate(&self) -> Result<(), Diagnostic> {
        if self.image.is_empty() {
            return Err(Diagnostic::new("image: Image must be specified"));
        }
        let uses = [self.commit, self.discard, !self.export_path.is_empty()];
        match uses.iter().filter(|u| **u).count() {
            0 => {
                return Err(Diagnostic::new(
                    "No instructions given for handling the artifact; expected commit, discard, or export_path",
                ))
            }
            1 => {}
            _ => {
                return Err(Diagnostic::new(
                    "Cannot specify more than one of commit, discard, and export_path",
                ))
            }
        }
        if !self.export_path.is_empty() && std::path::Path::new(&self.export_path).is_dir() {
            return Err(Diagnostic::new(
                "export_path must be a file, not a directory",
            ));
        }
        if self.ecr_login && self.login_server.is_empty() {
            return Err(Diagnostic::new(
                "ECR login requires login server to be provided.",
            ));
        }
        if self.ecr_login {
            return Err(Diagnostic::new(
                "ecr_login: logging in to Amazon ECR is not available in kiln yet; log in with `docker login` before the build and set pull",
            ));
        }
        if self.windows_container {
            return Err(Diagnostic::new(
                "windows_container: Windows containers are not available in kiln",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Result<(Config, CommConfig), Diagnostic> {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        parse(&Value::from_json(&v))
    }

    #[test]
    fn defaults_are_packers() {
        let (c, comm) = cfg(r#"{"image": "debian", "commit": true}"#).unwrap();
        assert!(c.pull);
        assert!(c.fix_upload_owner);
        assert_eq!(c.container_dir, "/packer-files");
        assert_eq!(c.run_command, DEFAULT_RUN_COMMAND);
        assert_eq!(comm.communicator, "docker");
        let (_, comm) = cfg(r#"{"image": "d", "discard": true, "communicator": "none"}"#).unwrap();
        assert_eq!(comm.communicator, "none");
    }

    #[test]
    fn packers_checks_hold() {
        let e = |j: &str| cfg(j).unwrap_err().message;
        assert_eq!(e(r#"{"commit": true}"#), "image: Image must be specified");
        assert!(e(r#"{"image": "d"}"#).starts_with("No instructions given"));
        assert!(e(r#"{"image": "d", "commit": true, "discard": true}"#)
            .starts_with("Cannot specify more than one"));
        assert!(
            e(r#"{"image": "d", "export_path": "/", "commit": false}"#).contains("must be a file")
        );
        assert!(e(r#"{"image": "d", "discard": true, "ecr_login": true}"#)
            .starts_with("ECR login requires"));
        assert!(e(r#"{"image": "d", "discard": true, "imagee": 1}"#).contains("imagee"));
        assert!(
            e(r#"{"image": "d", "discard": true, "communicator": "ssh"}"#)
                .contains("not available")
        );
    }
}
