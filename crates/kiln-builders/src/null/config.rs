//! `null` builder options.

use kiln_template::Diagnostic;
use serde::Deserialize;

/// The `null` builder's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `ssh` (Packer's default) or `none`.
    #[serde(default = "default_communicator")]
    pub communicator: String,
}

fn default_communicator() -> String {
    "ssh".into()
}

impl Config {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        match self.communicator.as_str() {
            "none" => Ok(()),
            "ssh" | "winrm" => Err(Diagnostic::new(format!(
                "the {} communicator is not available in kiln yet; use \"communicator\": \"none\" for local-only builds",
                self.communicator
            ))),
            other => Err(Diagnostic::new(format!(
                "communicator must be \"ssh\", \"winrm\" or \"none\", not \"{other}\""
            ))),
        }
    }
}
