//! Checks the source AMI exists and is available.

use crate::client::api_err;
use crate::state::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Looks up `source_ami`.
pub struct StepSourceAmi;

#[async_trait]
impl Step<State> for StepSourceAmi {
    fn name(&self) -> &'static str {
        "StepSourceAMIInfo"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        cx.ui.say("Inspecting the source AMI...");
        let out = s
            .ec2
            .describe_images()
            .image_ids(&s.source_ami)
            .send()
            .await
            .map_err(|e| api_err("DescribeImages", e))?;
        let image = out.images().first().ok_or_else(|| {
            Error::msg(format!(
                "source AMI {} was not found in {}",
                s.source_ami, s.region
            ))
        })?;
        let state = image
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        if state != "available" {
            return Err(Error::msg(format!(
                "source AMI {} is {state}, not available",
                s.source_ami
            )));
        }
        Ok(())
    }
}
