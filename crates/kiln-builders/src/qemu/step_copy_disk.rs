//! With `disk_image` (and no backing file): the main disk is a copy of the image, converted
//! to `format` (copied as it is when its extension already names the format).

use super::builder::State;
use super::qemu_img;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Copies the image to the main disk.
pub struct StepCopyDisk;

#[async_trait]
impl Step<State> for StepCopyDisk {
    fn name(&self) -> &'static str {
        "stepCopyDisk"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if !c.disk_image || c.use_backing_file {
            return Ok(());
        }
        let iso = s.iso_path.clone().unwrap_or_default();
        let target = s.disk_path(0);
        let ext = std::path::Path::new(&iso)
            .extension()
            .map(|e| e.to_string_lossy().to_string());
        // An image read over HTTP (iso_skip_cache) is always converted: qemu-img reads URLs.
        let remote = iso.starts_with("http://") || iso.starts_with("https://");
        if !remote
            && ext.as_deref() == Some(c.format.as_str())
            && c.qemu_img_args.convert.is_empty()
        {
            cx.ui.message(
                "File extension already matches desired output format. Skipping qemu-img convert step",
            );
            let (from, to) = (iso.clone(), target.clone());
            tokio::task::spawn_blocking(move || std::fs::copy(from, to))
                .await
                .map_err(|e| Error::msg(e.to_string()))?
                .map_err(|e| Error::msg(format!("copying {iso} to {target}: {e}")))?;
            return Ok(());
        }
        let mut args = vec!["convert".to_string()];
        if remote && c.qemu_img_args.convert.is_empty() {
            // One request at a time: with several in flight, QEMU's curl driver (QEMU 7.2 with
            // libcurl 7.88) now and then stops reading and never finishes.
            args.extend(["-m".to_string(), "1".to_string()]);
        }
        args.extend(c.qemu_img_args.convert.iter().cloned());
        args.extend(["-O".into(), c.format.clone(), iso, target]);
        cx.ui.say("Copying hard drive...");
        qemu_img(&args, &cx.cancel)
            .await
            .map_err(|e| Error::msg(format!("Error creating hard drive: {e}")))
    }
}
