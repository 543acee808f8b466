//! The `qemu` builder: starts a QEMU virtual machine from a disk image (`disk_image: true`)
//! or an installer ISO (typing `boot_command` over VNC, serving `http_directory`), provisions
//! it over SSH through a forwarded host port, powers it off and leaves its disk in
//! `output_directory`.
//!
//! The output directory and the VM process are in the resource journal until the build is
//! done; the VM also dies with kiln (the kernel kills it when kiln's thread ends), so even a
//! `kill -9` leaves no machine running, and `kiln cleanup` removes the half-written disk.

mod boot_command;
pub mod builder;
pub mod config;
mod qmp;
mod step_boot_command;
mod step_connect_ports;
mod step_convert_disk;
mod step_copy_disk;
mod step_create_cd;
mod step_create_disk;
mod step_create_floppy;
mod step_http;
mod step_iso;
mod step_output_dir;
mod step_resize_disk;
mod step_run;
mod step_shutdown;
mod vnc;

use kiln_core::journal::{Event, Record};
use kiln_core::plugin::BuildCx;
use kiln_core::{Error, Result};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

/// Journal kinds: the output directory (key: its path), the VM process (key: the disk's
/// path; id: the pid).
const DIR: &str = "qemu:dir";
const VM: &str = "qemu:vm";
/// Journal kind of the CD made of `cd_files` (key: its path).
const CD: &str = "qemu:cd";
/// Journal kind of the floppy made of `floppy_files` and `floppy_dirs` (key: its path).
const FLOPPY: &str = "qemu:floppy";
/// Journal kind of the QMP socket (key: its path).
const QMP: &str = "qemu:qmp";

/// The file a run leaves in an output directory it made, holding the run's id, until the
/// build succeeds: `kiln cleanup` removes a directory only when it finds its run's mark.
const MARK: &str = ".kiln-run";

/// Deletes a temporary file of the build's (the CD, the floppy: `what` in the message) and
/// journals it gone; a file already gone is gone.
fn remove_temp(cx: &BuildCx, kind: &str, path: &Path, what: &str) {
    let key = path.display().to_string();
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            cx.ui.error(&format!("Error deleting {what} {key}: {e}"))
        }
        _ => journal(cx, kind, &key, &key, Event::Deleted),
    }
}

/// Records what happened to one of the build's resources.
fn journal(cx: &BuildCx, kind: &str, key: &str, id: &str, event: Event) {
    cx.info
        .journal
        .record(&cx.info.name, kind, key, id, &[], event);
}

/// Runs `qemu-img` with `args`; its error output is the error.
async fn qemu_img(args: &[String], cancel: &CancellationToken) -> Result<()> {
    kiln_core::log::log(format_args!("[INFO] executing qemu-img {}", args.join(" ")));
    let mut cmd = tokio::process::Command::new("qemu-img");
    cmd.args(args).kill_on_drop(true);
    let out = tokio::select! {
        out = cmd.output() => out.map_err(|e| Error::msg(format!("qemu-img: {e}")))?,
        _ = cancel.cancelled() => return Err(Error::Cancelled),
    };
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::msg(format!(
        "qemu-img error: {}",
        if err.is_empty() {
            out.status.to_string()
        } else {
            err
        }
    )))
}

/// Whether pid `pid` is a QEMU process using the disk at `disk` (its command line names it):
/// a journal's pid may have been reused by now.
fn is_vm(pid: i32, disk: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = format!("file={disk},");
    cmdline
        .split(|b| *b == 0)
        .any(|arg| String::from_utf8_lossy(arg).contains(&needle))
}

/// `kiln cleanup`: stops a VM a dead run left running, or removes the output directory it
/// was writing (only one holding that run's mark).
pub fn cleaner(r: Record) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
    Box::pin(async move {
        match r.kind.as_str() {
            VM => {
                let Ok(pid) = r.id.parse::<i32>() else {
                    // Never started, or its pid was not recorded: nothing to find it by.
                    return Ok(());
                };
                if is_vm(pid, &r.key) {
                    // SAFETY: kill(2) on a pid just checked to be this build's QEMU.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                Ok(())
            }
            DIR => {
                let dir = Path::new(&r.key);
                match std::fs::read_to_string(dir.join(MARK)) {
                    Ok(run) if run.trim() == r.run => std::fs::remove_dir_all(dir)
                        .map_err(|e| format!("removing {}: {e}", dir.display())),
                    Ok(_) => Err(format!(
                        "{} is marked by another run; left alone",
                        dir.display()
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => Ok(()),
                    Err(_) => Err(format!(
                        "{} has no kiln mark (a finished build's output?); left alone",
                        dir.display()
                    )),
                }
            }
            CD | FLOPPY => {
                let (prefix, what) = if r.kind == CD {
                    (step_create_cd::PREFIX, "CD")
                } else {
                    (step_create_floppy::PREFIX, "floppy")
                };
                let path = Path::new(&r.key);
                let ours = path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix));
                if !ours {
                    return Err(format!(
                        "{} is not a kiln {what}; left alone",
                        path.display()
                    ));
                }
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(format!("removing {}: {e}", path.display()))
                    }
                    _ => Ok(()),
                }
            }
            QMP => {
                // Only a socket is removed: the path is the user's choice.
                use std::os::unix::fs::FileTypeExt;
                let path = Path::new(&r.key);
                match std::fs::symlink_metadata(path) {
                    Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)
                        .map_err(|e| format!("removing {}: {e}", path.display())),
                    Ok(_) => Err(format!("{} is not a socket; left alone", path.display())),
                    Err(_) => Ok(()),
                }
            }
            other => Err(format!("unknown qemu resource kind {other}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, key: &Path) -> Record {
        Record {
            ts: 0,
            run: "run".into(),
            build: "qemu".into(),
            kind: kind.into(),
            key: key.display().to_string(),
            id: key.display().to_string(),
            place: Default::default(),
            event: Event::Created,
        }
    }

    #[tokio::test]
    async fn cleanup_removes_a_qmp_socket_a_killed_run_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("packer-qemu.monitor");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        drop(listener);
        assert!(socket.exists());
        cleaner(record(QMP, &socket)).await.unwrap();
        assert!(!socket.exists());
        // Gone already: nothing to do.
        cleaner(record(QMP, &socket)).await.unwrap();
        // A file that is not a socket at that path is not the build's.
        let file = dir.path().join("notes.monitor");
        std::fs::write(&file, "mine").unwrap();
        let e = cleaner(record(QMP, &file)).await.unwrap_err();
        assert!(e.contains("is not a socket; left alone"), "{e}");
        assert!(file.exists());
    }
}
