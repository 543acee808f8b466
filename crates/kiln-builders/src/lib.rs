//! Builders that need no cloud: `null` (provision an existing host, or nothing), `file`
//! (write a file as the artifact) and `docker` (provision a container, commit or export it).

pub mod docker;
pub mod file;
pub mod null;

use kiln_core::plugin::Registry;

/// Registers this crate's builder types.
pub fn register(r: &mut Registry) {
    r.builder("null", null::builder::new);
    r.builder("file", file::builder::new);
    // As Packer: `run_command` is rendered when the container starts, with `{{.Image}}`.
    r.builder_rendering("docker", docker::builder::new, &["run_command"]);
    r.cleaner("docker:", docker::cleaner);
}
