//! Makes the output directory (with `-force`, first deletes one already there, as Packer
//! does), marked with the run's id and in the journal until the build succeeds. A build that
//! fails or is cancelled deletes it.

use super::builder::State;
use super::{journal, DIR, MARK};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::Path;

/// Prepares the output directory.
pub struct StepPrepareOutputDir {
    made: bool,
}

impl StepPrepareOutputDir {
    /// The step.
    pub fn new() -> Self {
        StepPrepareOutputDir { made: false }
    }
}

#[async_trait]
impl Step<State> for StepPrepareOutputDir {
    fn name(&self) -> &'static str {
        "stepPrepareOutputDir"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let dir = s.output_dir.clone();
        if dir.exists() && cx.info.force {
            cx.ui.say("Deleting previous output directory...");
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::msg(format!("deleting {}: {e}", dir.display())))?;
        }
        let key = dir.display().to_string();
        journal(cx, DIR, &key, "", Event::Intent);
        self.made = true;
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(MARK), &cx.info.run_uuid))
            .map_err(|e| Error::msg(format!("creating {}: {e}", dir.display())))?;
        journal(cx, DIR, &key, &key, Event::Created);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        if !self.made {
            return;
        }
        let dir = &s.output_dir;
        let key = dir.display().to_string();
        if s.succeeded {
            let _ = std::fs::remove_file(dir.join(MARK));
            journal(cx, DIR, &key, &key, Event::Released);
            return;
        }
        cx.ui.say("Deleting output directory...");
        match remove(dir) {
            Ok(()) => journal(cx, DIR, &key, &key, Event::Deleted),
            Err(e) => cx
                .ui
                .error(&format!("Error deleting {}: {e}", dir.display())),
        }
    }
}

/// Removes `dir` and what is in it; a directory already gone is fine.
fn remove(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
