//! The `breakpoint` provisioner: pauses the build until the user presses enter.

use async_trait::async_trait;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::io::BufRead;

/// `breakpoint` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Skip the pause.
    #[serde(default)]
    pub disable: bool,
    /// Shown when pausing.
    #[serde(default)]
    pub note: String,
}

/// Makes a `breakpoint` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    Ok(Box::new(Breakpoint { config: c }))
}

struct Breakpoint {
    config: Config,
}

#[async_trait]
impl Provisioner for Breakpoint {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        if self.config.disable {
            if !self.config.note.is_empty() {
                cx.ui.say(&format!(
                    "Breakpoint provisioner with note \"{}\" disabled; continuing...",
                    self.config.note
                ));
            } else {
                cx.ui.say("Breakpoint provisioner disabled; continuing...");
            }
            return Ok(());
        }
        if !self.config.note.is_empty() {
            cx.ui.say(&format!(
                "Pausing at breakpoint provisioner with note \"{}\".",
                self.config.note
            ));
        } else {
            cx.ui.say("Pausing at breakpoint provisioner.");
        }
        cx.ui.say("Press enter to continue.");
        let read = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        });
        tokio::select! {
            _ = read => Ok(()),
            _ = cx.cancel.cancelled() => Err(Error::Cancelled),
        }
    }
}
