//! The security group: the template's, or a temporary one that lets SSH in, deleted at cleanup.

use crate::client::{api_err, code};
use crate::config::Config;
use crate::state::State;
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::Result;
use std::time::Duration;

/// Provides the security groups.
pub struct StepSecurityGroup {
    /// Options.
    pub config: Config,
    /// SSH port to open.
    pub port: u16,
}

impl StepSecurityGroup {
    /// The step.
    pub fn new(config: Config, port: u16) -> StepSecurityGroup {
        StepSecurityGroup { config, port }
    }
}

impl StepSecurityGroup {
    /// The template's groups (`security_group_id(s)`, or those `security_group_filter`
    /// finds); empty when the build makes a temporary one.
    pub async fn given(&self, cx: &BuildCx, s: &State) -> Result<Vec<String>> {
        let mut given = self.config.security_group_ids.clone();
        if !self.config.security_group_id.is_empty() {
            given.push(self.config.security_group_id.clone());
        }
        if let Some(f) = self
            .config
            .security_group_filter
            .as_ref()
            .filter(|f| !f.filters.is_empty() && given.is_empty())
        {
            let mut req = s.ec2.describe_security_groups();
            for (k, v) in &f.filters {
                req = req.filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name(k)
                        .values(v)
                        .build(),
                );
            }
            if !s.vpc_id.is_empty() {
                req = req.filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("vpc-id")
                        .values(&s.vpc_id)
                        .build(),
                );
            }
            let out = req
                .send()
                .await
                .map_err(|e| api_err("DescribeSecurityGroups", e))?;
            given = out
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id())
                .map(str::to_string)
                .collect();
            if given.is_empty() {
                return Err(kiln_core::Error::msg(
                    "No Security Groups were found matching security_group_filter",
                ));
            }
            cx.ui
                .message(&format!("Found Security Group(s): {}", given.join(", ")));
        }
        Ok(given)
    }
}

#[async_trait]
impl Step<State> for StepSecurityGroup {
    fn name(&self) -> &'static str {
        "StepSecurityGroup"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let given = self.given(cx, s).await?;
        if !given.is_empty() {
            s.security_groups = given;
            return Ok(());
        }
        let name = format!("packer_{}", uuid::Uuid::new_v4());
        cx.ui.say(&format!(
            "Creating temporary security group for this instance: {name}"
        ));
        let mut req = s
            .ec2
            .create_security_group()
            .group_name(&name)
            .description("Temporary group for Packer")
            .tag_specifications(s.kiln_tag_spec(
                cx,
                aws_sdk_ec2::types::ResourceType::SecurityGroup,
                &[],
            ));
        if !s.vpc_id.is_empty() {
            req = req.vpc_id(&s.vpc_id);
        }
        s.journal(cx, "ec2:security-group", &name, "", Event::Intent);
        let out = req.send().await.map_err(|e| {
            s.refused(cx, "ec2:security-group", &name, &e);
            api_err("CreateSecurityGroup", e)
        })?;
        let id = out.group_id().unwrap_or_default().to_string();
        s.journal(cx, "ec2:security-group", &name, &id, Event::Created);
        // The state owns it from here: the instance's cleanup frees it, this step's
        // deletes it (unless it went while the AMI was made).
        s.temporary_security_group = Some(id.clone());
        s.temporary_security_group_name = name;
        let cidrs = if self.config.temporary_security_group_source_cidrs.is_empty() {
            vec!["0.0.0.0/0".to_string()]
        } else {
            self.config.temporary_security_group_source_cidrs.clone()
        };
        let mut perm = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(self.port as i32)
            .to_port(self.port as i32);
        for c in &cidrs {
            perm = perm.ip_ranges(IpRange::builder().cidr_ip(c).build());
        }
        cx.ui.say(&format!(
            "Authorizing access to port {} from {} in the temporary security groups...",
            self.port,
            cidrs.join(", ")
        ));
        s.ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(perm.build())
            .send()
            .await
            .map_err(|e| api_err("AuthorizeSecurityGroupIngress", e))?;
        s.security_groups = vec![id];
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(id) = s.temporary_security_group.take() else {
            return;
        };
        cx.ui.say("Deleting temporary security group...");
        // The group stays "in use" until the instance is fully gone: retry briefly.
        for attempt in 0..30 {
            match s.ec2.delete_security_group().group_id(&id).send().await {
                Ok(_) => {
                    s.journal(
                        cx,
                        "ec2:security-group",
                        &s.temporary_security_group_name,
                        &id,
                        Event::Deleted,
                    );
                    return;
                }
                Err(e) if code(&e).as_deref() == Some("DependencyViolation") && attempt < 29 => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    cx.ui.error(&format!(
                        "Error cleaning up security group {id}: {}",
                        api_err("DeleteSecurityGroup", e)
                    ));
                    return;
                }
            }
        }
    }
}
