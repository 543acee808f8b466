//! Finds the VPC, subnet and availability zone: `vpc_filter`, `subnet_filter` (most_free,
//! random), and the zone and VPC of a given subnet, as Packer's StepNetworkInfo.

use crate::client::api_err;
use crate::config::Config;
use crate::state::State;
use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::collections::BTreeMap;

/// The network step.
pub struct StepNetworkInfo {
    /// Options.
    pub config: Config,
}

fn filters(map: &BTreeMap<String, String>) -> Vec<Filter> {
    map.iter()
        .map(|(k, v)| Filter::builder().name(k).values(v).build())
        .collect()
}

fn shown(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl Step<State> for StepNetworkInfo {
    fn name(&self) -> &'static str {
        "StepNetworkInfo"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        s.vpc_id = c.vpc_id.clone();
        s.subnet_id = c.subnet_id.clone();
        s.availability_zone = c.availability_zone.clone();
        if let Some(f) = c.vpc_filter.as_ref().filter(|f| !f.filters.is_empty()) {
            if s.vpc_id.is_empty() {
                let mut map = f.filters.clone();
                map.insert("state".into(), "available".into());
                let out = s
                    .ec2
                    .describe_vpcs()
                    .set_filters(Some(filters(&map)))
                    .send()
                    .await
                    .map_err(|e| api_err("DescribeVpcs", e))?;
                if out.vpcs().len() != 1 {
                    return Err(Error::msg(format!(
                        "Exactly one VPC should match the filter, but {} VPC's was found matching filters: {}",
                        out.vpcs().len(),
                        shown(&map)
                    )));
                }
                s.vpc_id = out.vpcs()[0].vpc_id().unwrap_or_default().to_string();
                cx.ui.message(&format!("Found VPC ID: {}", s.vpc_id));
            }
        }
        if let Some(f) = c.subnet_filter.as_ref().filter(|f| !f.filters.is_empty()) {
            if s.subnet_id.is_empty() {
                let mut map = f.filters.clone();
                map.insert("state".into(), "available".into());
                if !s.vpc_id.is_empty() {
                    map.insert("vpc-id".into(), s.vpc_id.clone());
                }
                if !s.availability_zone.is_empty() {
                    map.insert("availabilityZone".into(), s.availability_zone.clone());
                }
                let out = s
                    .ec2
                    .describe_subnets()
                    .set_filters(Some(filters(&map)))
                    .send()
                    .await
                    .map_err(|e| api_err("DescribeSubnets", e))?;
                let mut subnets = out.subnets().to_vec();
                if subnets.is_empty() {
                    return Err(Error::msg(format!(
                        "No Subnets was found matching filters: {}",
                        shown(&map)
                    )));
                }
                if subnets.len() > 1 && !f.random && !f.most_free {
                    return Err(Error::msg(format!(
                        "Your filter matched {} Subnets. Please try a more specific search, or set random or most_free to true.",
                        subnets.len()
                    )));
                }
                let subnet = if f.most_free {
                    subnets.sort_by_key(|n| n.available_ip_address_count());
                    subnets.pop().expect("not empty")
                } else if f.random {
                    let i = uuid::Uuid::new_v4().as_u128() as usize % subnets.len();
                    subnets.swap_remove(i)
                } else {
                    subnets.swap_remove(0)
                };
                s.subnet_id = subnet.subnet_id().unwrap_or_default().to_string();
                cx.ui.message(&format!("Found Subnet ID: {}", s.subnet_id));
            }
        }
        if !s.subnet_id.is_empty() && (s.availability_zone.is_empty() || s.vpc_id.is_empty()) {
            let out = s
                .ec2
                .describe_subnets()
                .subnet_ids(&s.subnet_id)
                .send()
                .await
                .map_err(|e| api_err("DescribeSubnets", e))?;
            let subnet = out
                .subnets()
                .first()
                .ok_or_else(|| Error::msg(format!("subnet {} was not found", s.subnet_id)))?;
            if s.availability_zone.is_empty() {
                s.availability_zone = subnet.availability_zone().unwrap_or_default().to_string();
            }
            if s.vpc_id.is_empty() {
                s.vpc_id = subnet.vpc_id().unwrap_or_default().to_string();
            }
        }
        Ok(())
    }
}
