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
        let mut env = vec![
            ("PACKER_BUILD_NAME".to_string(), cx.info.name.clone()),
            (
                "PACKER_BUILDER_TYPE".to_string(),
                cx.info.builder_type.clone(),
            ),
        ];
        if let Some(addr) = cx.data.get("PackerHTTPAddr") {
            env.push(("PACKER_HTTP_ADDR".to_string(), addr.clone()));
        }
        run(&self.config, &env, &cx.info.interp, cx.ui, &cx.cancel).await
    }
}
