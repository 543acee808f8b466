//! `docker export` of the container's file system to `export_path` (its directory made
//! first). A failed or interrupted export leaves no partial file: it is written beside the
//! destination and renamed onto it when complete.

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::Path;

/// Exports the container.
pub struct StepExport;

#[async_trait]
impl Step<State> for StepExport {
    fn name(&self) -> &'static str {
        "StepExport"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let dest = Path::new(&s.config.export_path);
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        cx.ui.say("Exporting the container");
        let container = s.container.clone().unwrap_or_default();
        kiln_comm::docker::docker_to_file(&["export", &container], dest, &cx.cancel)
            .await
            .map_err(|e| match e {
                kiln_comm::CommError::Cancelled => Error::Cancelled,
                e => Error::msg(format!("Error exporting: {e}")),
            })
    }
}
