//! With `floppy_files` or `floppy_dirs`: a 1.44 MB FAT12 floppy (label `floppy_label`, default
//! `packer`) holding them, laid out as Packer lays it out (see [`crate::floppy`]), given to
//! the machine as its first floppy drive (`-fda`). The image is in the resource journal and
//! deleted when the build ends.

use super::builder::State;
use super::{journal, FLOPPY};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::PathBuf;

/// How kiln's floppy images are named (`kiln cleanup` removes only those).
pub const PREFIX: &str = "kiln-floppy-";

/// Makes the floppy.
pub struct StepCreateFloppy {
    made: Option<PathBuf>,
}

impl StepCreateFloppy {
    /// The step.
    pub fn new() -> Self {
        StepCreateFloppy { made: None }
    }
}

#[async_trait]
impl Step<State> for StepCreateFloppy {
    fn name(&self) -> &'static str {
        "StepCreateFloppy"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if c.floppy_files.is_empty() && c.floppy_dirs.is_empty() {
            return Ok(());
        }
        cx.ui.say("Creating floppy disk...");
        let label = if c.floppy_label.is_empty() {
            "packer".to_string()
        } else {
            c.floppy_label.clone()
        };
        let (files, dirs) = (c.floppy_files.clone(), c.floppy_dirs.clone());
        let ui = cx.ui.clone();
        let image = tokio::task::spawn_blocking(move || {
            let contents = crate::floppy::Contents::gather(&files, &dirs, |m| ui.message(&m))?;
            contents.image(&label)
        })
        .await
        .map_err(|e| Error::msg(format!("making the floppy: {e}")))?
        .map_err(|e| Error::msg(format!("Error creating floppy: {e}")))?;
        let dest = std::env::temp_dir().join(format!("{PREFIX}{}.img", uuid::Uuid::new_v4()));
        let key = dest.display().to_string();
        journal(cx, FLOPPY, &key, "", Event::Intent);
        self.made = Some(dest.clone());
        std::fs::write(&dest, image)
            .map_err(|e| Error::msg(format!("Error creating floppy: {key}: {e}")))?;
        journal(cx, FLOPPY, &key, &key, Event::Created);
        s.floppy_path = Some(key);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(path) = self.made.take() else {
            return;
        };
        s.floppy_path = None;
        super::remove_temp(cx, FLOPPY, &path, "floppy disk");
    }
}
