//! `file` builder options.

use kiln_template::Diagnostic;
use serde::Deserialize;

/// The `file` builder's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// File to copy.
    #[serde(default)]
    pub source: String,
    /// Text to write (when no `source`).
    #[serde(default)]
    pub content: String,
    /// Where the artifact goes.
    #[serde(default)]
    pub target: String,
}

impl Config {
    /// Checks what serde cannot, as Packer does.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        if self.target.is_empty() {
            return Err(Diagnostic::new("target: a target file must be specified"));
        }
        if self.source.is_empty() && self.content.is_empty() {
            return Err(Diagnostic::new(
                "either source or content must be specified",
            ));
        }
        if !self.source.is_empty() && !self.content.is_empty() {
            return Err(Diagnostic::new(
                "only one of source or content may be specified",
            ));
        }
        if !self.source.is_empty() && !std::path::Path::new(&self.source).exists() {
            return Err(Diagnostic::new(format!(
                "source file not found: {}",
                self.source
            )));
        }
        Ok(())
    }
}
