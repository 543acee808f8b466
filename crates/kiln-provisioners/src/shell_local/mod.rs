//! `shell-local`: runs commands on the machine running kiln. The same configuration and runner
//! serve the `shell-local` post-processor.

pub mod config;
pub mod provisioner;
pub mod run;
