//! `file`: copies files or directories to the machine, or from it (`direction: download`).

use async_trait::async_trait;
use kiln_comm::CommError;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `file` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One local (or, for downloads, remote) path.
    #[serde(default)]
    pub source: String,
    /// Several paths.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Text to write to `destination` instead of a source file.
    #[serde(default)]
    pub content: String,
    /// Where the file goes.
    #[serde(default)]
    pub destination: String,
    /// `upload` (default) or `download`.
    #[serde(default = "default_direction")]
    pub direction: String,
    /// The source is created by an earlier step; do not check that it exists now.
    #[serde(default)]
    pub generated: bool,
}

fn default_direction() -> String {
    "upload".into()
}

impl Config {
    fn sources(&self) -> Vec<String> {
        let mut v = self.sources.clone();
        if !self.source.is_empty() {
            v.insert(0, self.source.clone());
        }
        v
    }

    /// Checks the combinations Packer rejects.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        if self.direction != "upload" && self.direction != "download" {
            return Err(Diagnostic::new(format!(
                "file: direction must be \"upload\" or \"download\", not \"{}\"",
                self.direction
            )));
        }
        if self.destination.is_empty() {
            return Err(Diagnostic::new("file: destination must be specified"));
        }
        let sources = self.sources();
        if !self.content.is_empty() {
            if !sources.is_empty() {
                return Err(Diagnostic::new(
                    "file: source(s) and content cannot both be specified",
                ));
            }
            if self.direction == "download" {
                return Err(Diagnostic::new(
                    "file: content cannot be used with direction \"download\"",
                ));
            }
            return Ok(());
        }
        if sources.is_empty() {
            return Err(Diagnostic::new(
                "file: source, sources or content must be specified",
            ));
        }
        if self.direction == "upload" && !self.generated {
            for s in &sources {
                if !Path::new(s).exists() {
                    return Err(Diagnostic::new(format!(
                        "file: bad source '{s}': no such file or directory"
                    )));
                }
            }
        }
        if sources.len() > 1 && !self.destination.ends_with('/') {
            return Err(Diagnostic::new("file: destination must be a directory (end with '/') when there are several sources"));
        }
        Ok(())
    }
}

/// Makes a `file` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(FileProvisioner { config: c }))
}

struct FileProvisioner {
    config: Config,
}

fn comm_err(e: CommError) -> Error {
    match e {
        CommError::Cancelled => Error::Cancelled,
        other => other.into(),
    }
}

#[async_trait]
impl Provisioner for FileProvisioner {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        let c = &self.config;
        let comm = cx.comm.as_ref();
        if c.direction == "download" {
            for src in c.sources() {
                let dst = if c.destination.ends_with('/') {
                    let name = src.rsplit('/').next().unwrap_or(&src).to_string();
                    PathBuf::from(&c.destination).join(name)
                } else {
                    PathBuf::from(&c.destination)
                };
                if let Some(dir) = dst.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
                cx.ui
                    .say(&format!("Downloading {src} => {}", dst.display()));
                comm.download(&src, &dst).await.map_err(comm_err)?;
            }
            return Ok(());
        }
        if !c.content.is_empty() {
            let mut f = tempfile::Builder::new().prefix("kiln-content").tempfile()?;
            f.write_all(c.content.as_bytes())?;
            f.flush()?;
            cx.ui
                .say(&format!("Uploading content => {}", c.destination));
            return comm
                .upload(f.path(), &c.destination)
                .await
                .map_err(comm_err);
        }
        for src in c.sources() {
            cx.ui.say(&format!("Uploading {src} => {}", c.destination));
            let p = Path::new(&src);
            if p.is_dir() {
                comm.upload_dir(p, &c.destination).await.map_err(comm_err)?;
            } else if !p.exists() {
                return Err(Error::msg(format!("file: source {src} does not exist")));
            } else {
                comm.upload(p, &c.destination).await.map_err(comm_err)?;
            }
        }
        Ok(())
    }
}
