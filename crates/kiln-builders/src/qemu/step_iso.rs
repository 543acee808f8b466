//! Checks the ISO (or disk image) against `iso_checksum` before anything boots from it.
//! Local files are used in place; downloads are not available yet (refused when the options
//! are checked).

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::PathBuf;

/// Verifies the ISO.
pub struct StepIso;

#[async_trait]
impl Step<State> for StepIso {
    fn name(&self) -> &'static str {
        "StepDownload"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let path = s.settings.iso_path.clone();
        cx.ui.say("Retrieving ISO");
        cx.ui.say(&format!("Using file in place: {path}"));
        if let Some((kind, want)) = s.settings.checksum.clone() {
            let file = PathBuf::from(&path);
            let k = kind.clone();
            let hashing =
                tokio::task::spawn_blocking(move || kiln_core::digest::hash_file(&k, &file));
            let got = tokio::select! {
                r = hashing => r
                    .map_err(|e| Error::msg(format!("hashing {path}: {e}")))?
                    .map_err(|e| Error::msg(format!("reading {path}: {e}")))?,
                _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
            };
            if got != want {
                return Err(Error::msg(format!(
                    "Checksums did not match for {path}: expected {kind} {want}, got {got}"
                )));
            }
            cx.ui
                .message(&format!("{kind} checksum of {path} verified"));
        }
        s.iso_path = Some(path);
        Ok(())
    }
}
