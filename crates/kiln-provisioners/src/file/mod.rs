//! `file`: copies files or directories to the machine, or from it (`direction: download`).

use async_trait::async_trait;
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

/// Progress of a large transfer as messages (every 10%, at most one per second), since the
/// output is often a log rather than a terminal. Transfers under 16 MiB report nothing.
struct Reporter<'a> {
    ui: &'a kiln_core::ui::BuildUi,
    label: String,
    start: std::time::Instant,
    state: std::sync::Mutex<(u64, std::time::Instant, u64)>,
}

const REPORT_FROM: u64 = 16 << 20;

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

impl<'a> Reporter<'a> {
    fn new(ui: &'a kiln_core::ui::BuildUi, label: &str) -> Reporter<'a> {
        let now = std::time::Instant::now();
        Reporter {
            ui,
            label: label.to_string(),
            start: now,
            state: std::sync::Mutex::new((0, now, 0)),
        }
    }

    fn rate(&self, done: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        format!("{}/s", human_bytes((done as f64 / secs) as u64))
    }

    fn update(&self, done: u64, total: u64) {
        let mut st = self.state.lock().expect("progress lock");
        st.2 = done;
        if done < REPORT_FROM || st.1.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        let step = (done * 10).checked_div(total).unwrap_or(done / (256 << 20));
        if step <= st.0 {
            return;
        }
        st.0 = step;
        st.1 = std::time::Instant::now();
        let msg = if let Some(percent) = (done * 100).checked_div(total) {
            format!(
                "{}: {percent}% ({} of {}, {})",
                self.label,
                human_bytes(done),
                human_bytes(total),
                self.rate(done)
            )
        } else {
            format!(
                "{}: {} ({})",
                self.label,
                human_bytes(done),
                self.rate(done)
            )
        };
        self.ui.message(&msg);
    }

    fn finish(&self) {
        let done = self.state.lock().expect("progress lock").2;
        if done >= REPORT_FROM {
            self.ui.message(&format!(
                "{}: done, {} in {:.1}s ({})",
                self.label,
                human_bytes(done),
                self.start.elapsed().as_secs_f64(),
                self.rate(done)
            ));
        }
    }
}

#[async_trait]
impl Provisioner for FileProvisioner {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        let c = &self.config;
        let comm = cx.comm.as_ref();
        if c.direction == "download" {
            for src in c.sources() {
                // As Packer: a source ending in `/` is a directory, its contents downloaded
                // into the destination directory.
                if src.ends_with('/') {
                    let dst = PathBuf::from(&c.destination);
                    cx.ui
                        .say(&format!("Downloading {src} => {}", dst.display()));
                    let report = Reporter::new(cx.ui, &src);
                    comm.download_dir(&src, &dst, &|d, t| report.update(d, t))
                        .await
                        .map_err(Error::from)?;
                    report.finish();
                    continue;
                }
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
                let report = Reporter::new(cx.ui, &src);
                comm.download(&src, &dst, &|d, t| report.update(d, t))
                    .await
                    .map_err(Error::from)?;
                report.finish();
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
                .upload(f.path(), &c.destination, kiln_comm::no_progress())
                .await
                .map_err(Error::from);
        }
        for src in c.sources() {
            cx.ui.say(&format!("Uploading {src} => {}", c.destination));
            let p = Path::new(&src);
            if p.is_dir() {
                let report = Reporter::new(cx.ui, &src);
                comm.upload_dir(p, &c.destination, &|d, t| report.update(d, t))
                    .await
                    .map_err(Error::from)?;
                report.finish();
            } else if !p.exists() {
                return Err(Error::msg(format!("file: source {src} does not exist")));
            } else {
                let report = Reporter::new(cx.ui, &src);
                comm.upload(p, &c.destination, &|d, t| report.update(d, t))
                    .await
                    .map_err(Error::from)?;
                report.finish();
            }
        }
        Ok(())
    }
}
