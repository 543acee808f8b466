//! Builders that need no cloud: `null` (provision an existing host, or nothing) and `file`
//! (write a file as the artifact).

pub mod file;
pub mod null;

use kiln_core::plugin::Registry;

/// Registers this crate's builder types.
pub fn register(r: &mut Registry) {
    r.builder("null", null::builder::new);
    r.builder("file", file::builder::new);
}
