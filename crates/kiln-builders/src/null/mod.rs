//! The `null` builder: no machine is created; provisioners run against an existing host (or,
//! with `"communicator": "none"`, only local provisioners run).

pub mod builder;
pub mod config;
