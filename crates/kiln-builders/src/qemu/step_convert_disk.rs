//! After the machine is off: rewrites the main disk with `qemu-img convert` (compacted, and
//! compressed with `disk_compression`) into `NAME.convert`, then renames it over the disk,
//! so a failure leaves the old disk whole. Skipped with `skip_compaction` (and for raw disks
//! and backing files, where Packer skips it too).

use super::builder::State;
use super::qemu_img;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::time::Duration;

/// Compacts the main disk.
pub struct StepConvertDisk;

#[async_trait]
impl Step<State> for StepConvertDisk {
    fn name(&self) -> &'static str {
        "stepConvertDisk"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if c.skip_compaction && !c.disk_compression {
            return Ok(());
        }
        let source = s.disk_path(0);
        let target = format!("{source}.convert");
        let mut args = vec!["convert".to_string()];
        if c.disk_compression {
            args.push("-c".into());
        }
        args.extend(c.qemu_img_args.convert.iter().cloned());
        args.extend([
            "-O".into(),
            c.format.clone(),
            source.clone(),
            target.clone(),
        ]);
        cx.ui.say("Converting hard drive...");
        // QEMU may hold its lock on the disk a moment after it exits.
        let mut tries = 0;
        loop {
            match qemu_img(&args, &cx.cancel).await {
                Ok(()) => break,
                Err(e) if tries < 10 && e.to_string().contains("\"write\" lock") => {
                    tries += 1;
                    cx.ui
                        .say("Error getting file lock for conversion; retrying...");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(tries)) => {}
                        _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
                    }
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&target);
                    return Err(Error::msg(format!("Error converting hard drive: {e}")));
                }
            }
        }
        std::fs::rename(&target, &source)
            .map_err(|e| Error::msg(format!("Error moving converted hard drive: {e}")))
    }
}
