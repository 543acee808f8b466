//! Finds the source AMI: `source_ami`, and/or `source_ami_filter` (filters, owners,
//! most_recent), as Packer does, and checks that it is available.

use crate::client::api_err;
use crate::config::{AmiFilter, Config};
use crate::state::State;
use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Looks up the source AMI.
pub struct StepSourceAmi {
    /// `source_ami_filter`, if any.
    pub filter: Option<AmiFilter>,
    /// The options whose tags and description are rendered with the source image's info.
    pub config: Config,
}

/// The filters as a readable list, for messages.
fn describe(id: &str, f: Option<&AmiFilter>) -> String {
    let mut parts = Vec::new();
    if !id.is_empty() {
        parts.push(format!("image id {id}"));
    }
    if let Some(f) = f {
        for (k, v) in &f.filters {
            parts.push(format!("{k}={v}"));
        }
        if !f.owners.is_empty() {
            parts.push(format!("owners {}", f.owners.join(",")));
        }
    }
    parts.join(", ")
}

#[async_trait]
impl Step<State> for StepSourceAmi {
    fn name(&self) -> &'static str {
        "StepSourceAMIInfo"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        cx.ui.say("Inspecting the source AMI...");
        let mut req = s.ec2.describe_images();
        if !s.source_ami.is_empty() {
            req = req.image_ids(&s.source_ami);
        }
        if let Some(f) = &self.filter {
            for (k, v) in &f.filters {
                req = req.filters(Filter::builder().name(k).values(v).build());
            }
            for o in &f.owners {
                req = req.owners(o);
            }
        }
        let out = req.send().await.map_err(|e| api_err("DescribeImages", e))?;
        let mut images = out.images().to_vec();
        let wanted = describe(&s.source_ami, self.filter.as_ref());
        if images.is_empty() {
            return Err(Error::msg(format!(
                "No AMI was found matching {wanted} in {}",
                s.region
            )));
        }
        let most_recent = self.filter.as_ref().is_some_and(|f| f.most_recent);
        if images.len() > 1 && !most_recent {
            return Err(Error::msg(format!(
                "Your query returned more than one result ({} AMIs match {wanted}). Please try a more specific search, or set most_recent to true.",
                images.len()
            )));
        }
        // RFC 3339 times of one format sort as text.
        images.sort_by(|a, b| a.creation_date().cmp(&b.creation_date()));
        let image = images.pop().expect("not empty");
        let id = image.image_id().unwrap_or_default().to_string();
        if s.source_ami.is_empty() || s.source_ami != id {
            cx.ui.message(&format!("Found Image ID: {id}"));
        }
        let state = image
            .state()
            .map(|st| st.as_str().to_string())
            .unwrap_or_default();
        if state != "available" {
            return Err(Error::msg(format!(
                "source AMI {id} is {state}, not available"
            )));
        }
        s.source_ami = id;
        s.source_image = Some(image);
        s.render_tags(cx, &self.config)
    }
}
