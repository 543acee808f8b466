//! With `disk_image`: grows the main disk to `disk_size` (unless `skip_resize_disk`).

use super::builder::State;
use super::qemu_img;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Resizes the main disk.
pub struct StepResizeDisk;

#[async_trait]
impl Step<State> for StepResizeDisk {
    fn name(&self) -> &'static str {
        "stepResizeDisk"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if !c.disk_image || c.skip_resize_disk {
            return Ok(());
        }
        let mut args = vec!["resize".to_string(), "-f".into(), c.format.clone()];
        args.extend(c.qemu_img_args.resize.iter().cloned());
        args.extend([s.disk_path(0), c.disk_size.clone()]);
        cx.ui.say("Resizing hard drive...");
        qemu_img(&args, &cx.cancel)
            .await
            .map_err(|e| Error::msg(format!("Error creating hard drive: {e}")))
    }
}
