//! Provisioners: each type is a folder with its `config.rs` and its logic.

pub mod breakpoint;
pub mod shell_local;
pub mod sleep;

use kiln_core::plugin::Registry;

/// Registers this crate's provisioner types.
pub fn register(r: &mut Registry) {
    r.provisioner("shell-local", shell_local::provisioner::new);
    r.provisioner("sleep", sleep::new);
    r.provisioner("breakpoint", breakpoint::new);
}
