//! Creates the empty disks: the main one when installing from an ISO (or as an overlay on
//! the image with `use_backing_file`), and each of `disk_additional_size` (`NAME-1`, …).

use super::builder::State;
use super::qemu_img;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::Result;

/// Creates the disks.
pub struct StepCreateDisk;

/// The `qemu-img create` arguments for disk `i` (0: the main one) at `path`.
pub(super) fn create_args(s: &State, i: usize, path: &str, size: &str) -> Vec<String> {
    let c = &s.settings.c;
    let mut a = vec!["create".to_string(), "-f".into(), c.format.clone()];
    if c.disk_image && c.use_backing_file && i == 0 {
        // qemu-img 6.1 and later need the backing file's format (Packer 1.6.6 leaves it out).
        let backing = s.iso_path.clone().unwrap_or_default();
        a.extend(["-b".into(), backing, "-F".into(), backing_format(s)]);
    }
    a.extend(c.qemu_img_args.create.iter().cloned());
    a.extend([path.to_string(), size.to_string()]);
    a
}

/// The backing image's format, from its file name (`.raw`/`.img`: raw, else qcow2).
fn backing_format(s: &State) -> String {
    let iso = s.iso_path.clone().unwrap_or_default();
    match std::path::Path::new(&iso)
        .extension()
        .and_then(|e| e.to_str())
    {
        Some("raw") | Some("img") => "raw".into(),
        _ => "qcow2".into(),
    }
}

#[async_trait]
impl Step<State> for StepCreateDisk {
    fn name(&self) -> &'static str {
        "stepCreateDisk"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if !c.disk_additional_size.is_empty() || c.use_backing_file {
            cx.ui.say("Creating required virtual machine disks");
        }
        let mut disks = vec![(s.disk_path(0), c.disk_size.clone())];
        for (i, size) in c.disk_additional_size.iter().enumerate() {
            disks.push((s.disk_path(i + 1), size.clone()));
        }
        for (i, (path, size)) in disks.iter().enumerate() {
            // The copy step makes the main disk from the image.
            if c.disk_image && !c.use_backing_file && i == 0 {
                continue;
            }
            let args = create_args(s, i, path, size);
            qemu_img(&args, &cx.cancel)
                .await
                .map_err(|e| kiln_core::Error::msg(format!("Error creating hard drive: {e}")))?;
        }
        s.disks = disks.into_iter().map(|(p, _)| p).collect();
        Ok(())
    }
}
