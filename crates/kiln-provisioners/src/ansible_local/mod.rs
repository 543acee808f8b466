//! `ansible-local`: runs ansible-playbook on the machine itself, with the playbooks and roles
//! uploaded to a staging directory.

pub mod config;
pub mod provisioner;
mod runtime;
