//! `shell`: uploads scripts to the machine and runs them there.

pub mod config;
pub mod provisioner;
