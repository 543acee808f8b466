//! `docker export` of the container's file system to `export_path` (its directory made
//! first). A failed or interrupted export leaves no partial file: it is written beside the
//! destination and renamed onto it when complete.

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::Path;
use std::process::Stdio;

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
        let partial = dest.with_file_name(format!(
            ".{}.kiln-partial",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ));
        let file = std::fs::File::create(&partial)
            .map_err(|e| Error::msg(format!("Error creating output file: {e}")))?;
        cx.ui.say("Exporting the container");
        let container = s.container.clone().unwrap_or_default();
        let child = tokio::process::Command::new("docker")
            .args(["export", &container])
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let result = match child {
            Err(e) => Err(Error::msg(format!(
                "Error exporting: cannot run docker: {e}"
            ))),
            Ok(child) => tokio::select! {
                out = child.wait_with_output() => match out {
                    Ok(o) if o.status.success() => Ok(()),
                    Ok(o) => Err(Error::msg(format!(
                        "Error exporting: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ))),
                    Err(e) => Err(e.into()),
                },
                _ = cx.cancel.cancelled() => Err(Error::Cancelled),
            },
        };
        match result {
            Ok(()) => std::fs::rename(&partial, dest).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                Error::msg(format!("Error creating output file: {e}"))
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }
}
