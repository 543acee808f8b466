//! Provisioners: each type is a folder with its configuration and its logic.

pub mod ansible;
pub mod ansible_local;
pub mod ansible_remote;
pub mod breakpoint;
pub mod file;
pub mod puppet_masterless;
mod remote;
pub mod shell;
pub mod shell_local;
pub mod sleep;

use kiln_core::plugin::Registry;

/// Registers this crate's provisioner types.
pub fn register(r: &mut Registry) {
    r.provisioner("shell", shell::provisioner::new);
    r.provisioner("ansible-local", ansible_local::provisioner::new);
    r.provisioner("ansible", ansible_remote::provisioner::new);
    r.provisioner("file", file::new);
    r.provisioner("puppet-masterless", puppet_masterless::new);
    r.provisioner("shell-local", shell_local::provisioner::new);
    r.provisioner("sleep", sleep::new);
    r.provisioner("breakpoint", breakpoint::new);
}
