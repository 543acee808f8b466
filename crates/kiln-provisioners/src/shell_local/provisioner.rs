//! The `shell-local` provisioner.

use super::config::Config;
use super::run::run;
use async_trait::async_trait;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::Result;
use kiln_template::{decode::decode, Diagnostic, Value};

/// Makes a `shell-local` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(ShellLocal { config: c }))
}

struct ShellLocal {
    config: Config,
}

#[async_trait]
impl Provisioner for ShellLocal {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        let env = cx.info.packer_env(cx.data);
        run(&self.config, &env, &cx.info.interp, cx.ui, &cx.cancel).await
    }
}
