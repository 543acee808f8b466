//! The directory shared with the container (mounted at `container_dir`), made where Packer
//! makes it: under `PACKER_TMP_DIR`, else the config directory (`PACKER_CONFIG_DIR`, else
//! `~/.packer.d`), which Docker Desktop can mount; removed at cleanup.

use super::builder::State;
use super::{journal, DIR};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::PathBuf;

/// The start of the directory's name (Packer's `tmp…`, then kiln's mark).
pub const PREFIX: &str = "tmp-kiln-";

/// Makes the shared directory.
pub struct StepTempDir;

/// Where the directory goes.
fn parent() -> Result<PathBuf> {
    let dir = match std::env::var_os("PACKER_TMP_DIR").filter(|v| !v.is_empty()) {
        Some(d) => std::path::absolute(PathBuf::from(d))?,
        None => match std::env::var_os("PACKER_CONFIG_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join(".packer.d"),
            None => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".packer.d"))
                .ok_or_else(|| Error::msg("Error making temp dir: HOME is not set"))?,
        },
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::msg(format!("Error making temp dir: {}: {e}", dir.display())))?;
    Ok(dir)
}

#[async_trait]
impl Step<State> for StepTempDir {
    fn name(&self) -> &'static str {
        "StepTempDir"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        cx.ui
            .say("Creating a temporary directory for sharing data...");
        let dir = parent()?.join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let path = dir.to_string_lossy().into_owned();
        journal(cx, DIR, &path, "", Event::Intent);
        std::fs::create_dir(&dir)
            .map_err(|e| Error::msg(format!("Error making temp dir: {path}: {e}")))?;
        journal(cx, DIR, &path, &path, Event::Created);
        s.temp_dir = Some(dir);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(dir) = s.temp_dir.take() else {
            return;
        };
        let path = dir.to_string_lossy().into_owned();
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => journal(cx, DIR, &path, &path, Event::Deleted),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                journal(cx, DIR, &path, &path, Event::Deleted)
            }
            Err(e) => cx
                .ui
                .error(&format!("Error removing temporary directory {path}: {e}")),
        }
    }
}
