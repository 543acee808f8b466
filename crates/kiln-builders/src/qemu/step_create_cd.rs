//! With `cd_files`: an ISO 9660 CD (Rock Ridge and Joliet names, volume label `cd_label`,
//! default `packer`) holding those files, made as Packer makes it with the first of
//! `xorriso`, `mkisofs` or `genisoimage` found, and given to the machine as its next CD
//! drive. A file lands at the CD's root under its name; a directory lands whole under its
//! name, or, written with a trailing `/`, its contents land at the root. The CD is in the
//! resource journal and deleted when the build ends.

use super::builder::State;
use super::{journal, CD};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::{Path, PathBuf};

/// How kiln's CD files are named (`kiln cleanup` removes only those).
pub const PREFIX: &str = "kiln-cd-";

/// Makes the CD.
pub struct StepCreateCd {
    made: Option<PathBuf>,
}

impl StepCreateCd {
    /// The step.
    pub fn new() -> Self {
        StepCreateCd { made: None }
    }
}

/// Copies `src` into `root` as Packer lays it out.
fn add(root: &Path, src: &str) -> std::io::Result<()> {
    let from = Path::new(src);
    let meta = std::fs::metadata(from)?;
    if !meta.is_dir() {
        let name = from.file_name().unwrap_or(from.as_os_str());
        std::fs::copy(from, root.join(name))?;
        return Ok(());
    }
    let into = if src.ends_with('/') {
        root.to_path_buf()
    } else {
        root.join(from.file_name().unwrap_or(from.as_os_str()))
    };
    copy_tree(from, &into)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if std::fs::metadata(e.path())?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// The command that writes `root` as a CD at `dest` labelled `label`: the first tool found,
/// with Packer's switches.
fn iso_command(label: &str, root: &Path, dest: &Path) -> Result<std::process::Command> {
    let found = |tool: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
    };
    if let Some(x) = found("xorriso") {
        let mut c = std::process::Command::new(x);
        c.args([
            "-as",
            "genisoimage",
            "-rock",
            "-joliet",
            "-volid",
            label,
            "-output",
        ])
        .arg(dest)
        .arg(root);
        return Ok(c);
    }
    for tool in ["mkisofs", "genisoimage"] {
        if let Some(x) = found(tool) {
            let mut c = std::process::Command::new(x);
            c.args(["-rock", "-joliet", "-volid", label, "-o"])
                .arg(dest)
                .arg(root);
            return Ok(c);
        }
    }
    Err(Error::msg(
        "could not find a supported CD ISO creation command (the supported commands are: xorriso, mkisofs, genisoimage)",
    ))
}

#[async_trait]
impl Step<State> for StepCreateCd {
    fn name(&self) -> &'static str {
        "StepCreateCD"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if c.cd_files.is_empty() {
            return Ok(());
        }
        cx.ui.say("Creating CD disk...");
        let label = if c.cd_label.is_empty() {
            "packer".to_string()
        } else {
            c.cd_label.clone()
        };
        let staging = tempfile::Builder::new()
            .prefix("kiln_to_cdrom")
            .tempdir()
            .map_err(|e| Error::msg(format!("Error creating temporary file for CD: {e}")))?;
        for f in &c.cd_files {
            add(staging.path(), f)
                .map_err(|e| Error::msg(format!("Error adding path to CD: {f}: {e}")))?;
        }
        let dest = std::env::temp_dir().join(format!("{PREFIX}{}.iso", uuid::Uuid::new_v4()));
        let key = dest.display().to_string();
        journal(cx, CD, &key, "", Event::Intent);
        self.made = Some(dest.clone());
        let cmd = iso_command(&label, staging.path(), &dest)?;
        let out = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .output();
        let out = tokio::select! {
            o = out => o.map_err(|e| Error::msg(format!("making the CD: {e}")))?,
            _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
        };
        if !out.status.success() {
            return Err(Error::msg(format!(
                "making the CD failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        journal(cx, CD, &key, &key, Event::Created);
        cx.ui.message("Done copying paths from CD_dirs");
        s.cd_path = Some(key);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(path) = self.made.take() else {
            return;
        };
        s.cd_path = None;
        super::remove_temp(cx, CD, &path, "CD disk");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_laid_out_as_packer_lays_them() {
        let src = tempfile::tempdir().unwrap();
        let p = |n: &str| src.path().join(n).display().to_string();
        std::fs::create_dir_all(src.path().join("http/sub")).unwrap();
        std::fs::write(src.path().join("http/user-data"), "u").unwrap();
        std::fs::write(src.path().join("http/sub/x"), "x").unwrap();
        std::fs::write(src.path().join("meta-data"), "m").unwrap();
        let root = tempfile::tempdir().unwrap();
        add(root.path(), &p("meta-data")).unwrap();
        add(root.path(), &p("http")).unwrap();
        add(root.path(), &format!("{}/", p("http"))).unwrap();
        for (f, text) in [
            ("meta-data", "m"),
            ("http/user-data", "u"),
            ("http/sub/x", "x"),
            ("user-data", "u"),
            ("sub/x", "x"),
        ] {
            assert_eq!(
                std::fs::read_to_string(root.path().join(f)).unwrap(),
                text,
                "{f}"
            );
        }
        assert!(add(root.path(), &p("missing")).is_err());
    }
}
