//! The `shell-local` post-processor: the provisioner's runner, with the artifact passed on.

use async_trait::async_trait;
use kiln_core::artifact::ArtifactRef;
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::Result;
use kiln_provisioners::shell_local::{config::Config, run::run};
use kiln_template::{decode::decode, Diagnostic, Value};

/// Makes a `shell-local` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(ShellLocalPp { config: c }))
}

struct ShellLocalPp {
    config: Config,
}

#[async_trait]
impl PostProcessor for ShellLocalPp {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let env = cx.info.packer_env(&Default::default());
        run(&self.config, &env, &cx.info.interp, cx.ui, &cx.cancel).await?;
        // As Packer: the input is always kept (it is the artifact passed on); use artifice
        // to replace it.
        Ok(PostProcessed {
            artifact: Some(input),
            keep_input: true,
            force_keep_input: true,
        })
    }
}
