//! `null` builder options: only the communicator's (Packer's null builder has no others).

use kiln_comm::config::CommConfig;
use kiln_template::{decode::decode_split, Diagnostic, Value};
use serde::Deserialize;

/// The builder's own options (none); the communicator options are decoded beside them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {}

/// Decodes and validates the configuration.
pub fn parse(config: &Value) -> Result<CommConfig, Diagnostic> {
    let (_own, comm): (Own, CommConfig) = decode_split(config)?;
    comm.validate(true)?;
    Ok(comm)
}
