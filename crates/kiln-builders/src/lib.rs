//! Builders that need no cloud: `null` (provision an existing host, or nothing), `file`
//! (write a file as the artifact), `docker` (provision a container, commit or export it) and
//! `qemu` (provision a virtual machine, keep its disk).

pub mod docker;
pub mod download;
pub mod file;
pub mod floppy;
pub mod http_server;
pub mod null;
pub mod qemu;

use kiln_core::plugin::Registry;

/// Registers this crate's builder types.
pub fn register(r: &mut Registry) {
    r.builder("null", null::builder::new);
    r.builder("file", file::builder::new);
    // As Packer: `run_command` is rendered when the container starts, with `{{.Image}}`.
    r.builder_rendering("docker", docker::builder::new, &["run_command"]);
    r.cleaner("docker:", docker::cleaner);
    // As Packer: `qemuargs` is rendered when the VM starts, with the ports it gets, and
    // `boot_command` when it is typed, with the HTTP server's.
    r.builder_rendering("qemu", qemu::builder::new, &["qemuargs", "boot_command"]);
    r.cleaner("qemu:", qemu::cleaner);
}
