//! `ansible`: runs ansible-playbook on the machine running kiln, against the machine being
//! built.

pub mod config;
pub mod provisioner;
