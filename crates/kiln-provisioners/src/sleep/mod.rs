//! The `sleep` provisioner: waits for `duration`.

use async_trait::async_trait;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::duration::GoDuration;
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;

/// `sleep` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long to wait.
    pub duration: GoDuration,
}

/// Makes a `sleep` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    Ok(Box::new(Sleep { config: c }))
}

struct Sleep {
    config: Config,
}

#[async_trait]
impl Provisioner for Sleep {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(self.config.duration.0) => Ok(()),
            _ = cx.cancel.cancelled() => Err(Error::Cancelled),
        }
    }
}
