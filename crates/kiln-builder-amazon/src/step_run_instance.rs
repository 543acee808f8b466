//! Launches the build instance, waits until it runs, finds its address; terminates it (and waits)
//! at cleanup.

use crate::client::{api_err, throttled};
use crate::config::Config;
use crate::state::State;
use crate::wait::{self, Poll, Wait};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, InstanceStateName, InstanceType, ResourceType,
    ShutdownBehavior, Tag, TagSpecification,
};
use base64::Engine as _;
use kiln_comm::config::CommConfig;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use tokio_util::sync::CancellationToken;

/// How long RunInstances is retried while a new instance profile propagates through IAM.
const PROFILE_PROPAGATION: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs the instance.
pub struct StepRunInstance {
    /// Builder options.
    pub config: Config,
    /// Communicator options (ssh_host / ssh_interface decide the address).
    pub comm: CommConfig,
    /// Waiting policy.
    pub wait: Wait,
    /// RunInstances client token (the journal key).
    pub token: String,
}

fn tags(map: &std::collections::BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn instance_state(s: &State, id: &str) -> Result<Poll<aws_sdk_ec2::types::Instance>> {
    let out = match s.ec2.describe_instances().instance_ids(id).send().await {
        Ok(o) => o,
        Err(e) if throttled(&e) => return Ok(Poll::Throttled),
        Err(e) => return Err(api_err("DescribeInstances", e)),
    };
    let inst = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
        .ok_or_else(|| Error::msg(format!("instance {id} disappeared")))?;
    Ok(Poll::Ready(inst))
}

/// Waits until the instance is in `want`.
pub async fn wait_for(
    s: &State,
    id: &str,
    want: InstanceStateName,
    w: Wait,
    cancel: &CancellationToken,
) -> Result<aws_sdk_ec2::types::Instance> {
    wait::until(
        &format!("instance {id} to be {}", want.as_str()),
        w,
        cancel,
        || async {
            Ok(match instance_state(s, id).await? {
                Poll::Ready(inst) => {
                    let now = inst.state().and_then(|st| st.name()).cloned();
                    if now.as_ref() == Some(&want) {
                        Poll::Ready(inst)
                    } else {
                        Poll::Pending(now.map(|n| n.as_str().to_string()).unwrap_or_default())
                    }
                }
                other => other,
            })
        },
    )
    .await
}

#[async_trait]
impl Step<State> for StepRunInstance {
    fn name(&self) -> &'static str {
        "StepRunSourceInstance"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        let spot = c.is_spot();
        cx.ui.say(if spot {
            "Launching a spot AWS instance..."
        } else {
            "Launching a source AWS instance..."
        });
        let req = launch_request(c, cx, s)?;
        // Spot: each type in turn while EC2 has no capacity for it (or the price is too low).
        let types: Vec<String> = if spot && !c.spot_instance_types.is_empty() {
            c.spot_instance_types.clone()
        } else {
            vec![c.instance_type.clone()]
        };
        let mut out = None;
        let mut last_err = None;
        for (i, kind) in types.iter().enumerate() {
            // The client token finds the instance even if kiln dies before RunInstances
            // answers.
            let token = uuid::Uuid::new_v4().to_string();
            s.journal(cx, "ec2:instance", &token, "", Event::Intent);
            self.token = token.clone();
            let started = std::time::Instant::now();
            let attempt = loop {
                let r = req
                    .clone()
                    .instance_type(InstanceType::from(kind.as_str()))
                    .client_token(&token)
                    .send()
                    .await;
                // A new instance profile takes IAM a few seconds to reach EC2.
                let unseen = r.as_ref().err().is_some_and(|e| {
                    crate::client::code(e).as_deref() == Some("InvalidParameterValue")
                        && e.as_service_error()
                            .and_then(aws_sdk_ec2::error::ProvideErrorMetadata::message)
                            .is_some_and(|m| m.contains("iamInstanceProfile"))
                });
                if unseen && s.temporary_instance_profile && started.elapsed() < PROFILE_PROPAGATION
                {
                    cx.ui
                        .message("EC2 does not see the new instance profile yet; trying again...");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => continue,
                        _ = cx.cancel.cancelled() => {
                            s.journal(cx, "ec2:instance", &token, "", Event::Deleted);
                            return Err(Error::Cancelled);
                        }
                    }
                }
                break r;
            };
            match attempt {
                Ok(o) => {
                    out = Some(o);
                    break;
                }
                Err(e) => {
                    s.refused(cx, "ec2:instance", &token, &e);
                    let next = i + 1 < types.len()
                        && crate::client::code(&e).is_some_and(|code| {
                            matches!(
                                code.as_str(),
                                "InsufficientInstanceCapacity"
                                    | "SpotMaxPriceTooLow"
                                    | "Unsupported"
                                    | "InstanceLimitExceeded"
                                    | "MaxSpotInstanceCountExceeded"
                            )
                        });
                    let err = api_err("RunInstances", e);
                    if !next {
                        return Err(err);
                    }
                    cx.ui
                        .message(&format!("{kind}: {err}; trying the next type"));
                    last_err = Some(err);
                }
            }
        }
        let out = out
            .ok_or_else(|| last_err.unwrap_or_else(|| Error::msg("no instance type to launch")))?;
        let token = self.token.clone();
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| Error::msg("RunInstances returned no instance"))?
            .to_string();
        s.journal(cx, "ec2:instance", &token, &id, Event::Created);
        s.instance_id = Some(id.clone());
        cx.ui.message(&format!("Instance ID: {id}"));
        cx.ui
            .say(&format!("Waiting for instance ({id}) to become ready..."));
        let inst = wait_for(s, &id, InstanceStateName::Running, self.wait, &cx.cancel).await?;
        let pick = |v: Option<&str>| v.filter(|x| !x.is_empty()).map(str::to_string);
        let host = if !self.comm.ssh_host.is_empty() {
            Some(self.comm.ssh_host.clone())
        } else {
            match self.comm.ssh_interface.as_str() {
                "private_ip" => pick(inst.private_ip_address()),
                "public_dns" => pick(inst.public_dns_name()),
                "private_dns" => pick(inst.private_dns_name()),
                "public_ip" => pick(inst.public_ip_address()),
                _ => pick(inst.public_ip_address())
                    .or_else(|| pick(inst.public_dns_name()))
                    .or_else(|| pick(inst.private_ip_address())),
            }
        };
        s.host =
            Some(host.ok_or_else(|| {
                Error::msg(format!("instance {id} has no address to connect to"))
            })?);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        // RunInstances may have launched the instance without kiln seeing the answer: the
        // client token finds it.
        let mut known_absent = false;
        if s.instance_id.is_none() && !self.token.is_empty() {
            if let Ok(out) = s.ec2.describe_instances().send().await {
                s.instance_id = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .find(|i| i.client_token() == Some(self.token.as_str()))
                    .and_then(|i| i.instance_id())
                    .map(str::to_string);
                known_absent = s.instance_id.is_none();
            }
        }
        let Some(id) = s.instance_id.clone() else {
            // Nothing was launched: the intent is settled. (If the lookup failed, the journal
            // keeps it for `kiln cleanup`.)
            if known_absent {
                s.journal(cx, "ec2:instance", &self.token, "", Event::Deleted);
            }
            return;
        };
        // The temporary security group cannot be deleted while the instance uses it, and
        // termination takes EC2 a minute or more: moving the instance to its VPC's default
        // group first frees the temporary one at once, so nothing has to wait for the
        // instance to be gone (once terminating, it goes by itself).
        let inst = if s.temporary_security_group.is_some() || !s.volumes_released {
            look_at(&s.ec2, &id).await
        } else {
            None
        };
        let group = async {
            match (&s.temporary_security_group, &inst) {
                (None, _) => true,
                (Some(group), Some(i)) => release_group(s, i, group).await,
                (Some(_), None) => false,
            }
        };
        let volumes = async {
            s.volumes_released
                || match &inst {
                    Some(i) => release_volumes(&s.ec2, i).await,
                    None => false,
                }
        };
        let (freed, volumes) = tokio::join!(group, volumes);
        if !volumes {
            cx.ui.error(&format!(
                "The volumes of {id} launched with delete_on_termination false could not be set to go with it: they will be left after it (kiln cleanup -expired deletes them once their kiln:expires tag has passed)"
            ));
        }
        cx.ui.say("Terminating the source AWS instance...");
        if let Err(e) = s.ec2.terminate_instances().instance_ids(&id).send().await {
            cx.ui.error(&format!(
                "Error terminating instance {id}: {}",
                api_err("TerminateInstances", e)
            ));
            return;
        }
        if freed {
            s.journal(cx, "ec2:instance", &self.token, &id, Event::Deleted);
            return;
        }
        // Cleanup must finish even after an interrupt.
        match wait_for(
            s,
            &id,
            InstanceStateName::Terminated,
            self.wait,
            &CancellationToken::new(),
        )
        .await
        {
            Ok(_) => s.journal(cx, "ec2:instance", &self.token, &id, Event::Deleted),
            Err(e) => cx.ui.error(&format!(
                "Error waiting for instance {id} to terminate: {e}"
            )),
        }
    }
}

/// The RunInstances request for the build's instance (all but its type and client token),
/// as the build sends it and `kiln build -dry-run` checks it.
pub(crate) fn launch_request(
    c: &Config,
    cx: &BuildCx,
    s: &State,
) -> Result<aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder> {
    let spot = c.is_spot();
    let default_name =
        std::collections::BTreeMap::from([("Name".to_string(), "Packer Builder".to_string())]);
    let mut req = s
        .ec2
        .run_instances()
        .image_id(&s.source_ami)
        .min_count(1)
        .max_count(1)
        .set_security_group_ids(Some(s.security_groups.clone()))
        // The instance is named "Packer Builder" unless run_tags name it, as in Packer.
        .tag_specifications(s.kiln_tag_spec(
            cx,
            ResourceType::Instance,
            &[&default_name, &s.rendered.run_tags],
        ))
        .tag_specifications(s.kiln_tag_spec(
            cx,
            ResourceType::Volume,
            &[&s.rendered.run_volume_tags],
        ));
    if let Some(k) = &s.key_name {
        req = req.key_name(k);
    }
    let mut devices =
        crate::block_devices::mappings(&c.launch_block_device_mappings).unwrap_or_default();
    if c.no_ephemeral {
        // Instance store drives take xvdca..xvdcz unless mapped to nothing (as Packer).
        for letter in 'a'..='z' {
            devices.push(
                aws_sdk_ec2::types::BlockDeviceMapping::builder()
                    .device_name(format!("xvdc{letter}"))
                    .no_device("")
                    .build(),
            );
        }
    }
    req = req.set_block_device_mappings((!devices.is_empty()).then_some(devices));
    if c.enable_t2_unlimited {
        req = req.credit_specification(
            aws_sdk_ec2::types::CreditSpecificationRequest::builder()
                .cpu_credits("unlimited")
                .build(),
        );
    }
    if c.ebs_optimized {
        req = req.ebs_optimized(true);
    }
    // associate_public_ip_address needs the network interface spelled out (it then
    // carries the subnet and groups), as Packer does.
    if let Some(public) = c.associate_public_ip_address {
        let mut nic = aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .associate_public_ip_address(public)
            .delete_on_termination(true)
            .set_groups(Some(s.security_groups.clone()));
        if !s.subnet_id.is_empty() {
            nic = nic.subnet_id(&s.subnet_id);
        }
        req = req
            .set_security_group_ids(None)
            .network_interfaces(nic.build());
    } else if !s.subnet_id.is_empty() {
        req = req.subnet_id(&s.subnet_id);
    }
    let profile = s
        .instance_profile
        .clone()
        .unwrap_or_else(|| c.iam_instance_profile.clone());
    if !profile.is_empty() {
        req = req.iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .name(profile)
                .build(),
        );
    }
    let user_data = if !c.user_data_file.is_empty() {
        std::fs::read_to_string(&c.user_data_file)?
    } else {
        c.user_data.clone()
    };
    if !user_data.is_empty() {
        req = req.user_data(base64::engine::general_purpose::STANDARD.encode(user_data));
    }
    if c.shutdown_behavior == "terminate" {
        req = req.instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate);
    }
    if !s.availability_zone.is_empty() || !c.tenancy.is_empty() {
        let mut placement = aws_sdk_ec2::types::Placement::builder();
        if !s.availability_zone.is_empty() {
            placement = placement.availability_zone(&s.availability_zone);
        }
        if !c.tenancy.is_empty() {
            placement = placement.tenancy(aws_sdk_ec2::types::Tenancy::from(c.tenancy.as_str()));
        }
        req = req.placement(placement.build());
    }
    if spot {
        // A one-time spot request made with the instance (no launch template or fleet to
        // clean up): it closes when the instance goes.
        let mut opts = aws_sdk_ec2::types::SpotMarketOptions::builder()
            .spot_instance_type(aws_sdk_ec2::types::SpotInstanceType::OneTime);
        if c.spot_price != "auto" {
            opts = opts.max_price(&c.spot_price);
        }
        if let Some(m) = c.block_duration_minutes {
            opts = opts.block_duration_minutes(m);
        }
        req = req.instance_market_options(
            aws_sdk_ec2::types::InstanceMarketOptionsRequest::builder()
                .market_type(aws_sdk_ec2::types::MarketType::Spot)
                .spot_options(opts.build())
                .build(),
        );
        if !s.rendered.spot_tags.is_empty() {
            req = req.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SpotInstancesRequest)
                    .set_tags(Some(tags(&s.rendered.spot_tags)))
                    .build(),
            );
        }
    }
    Ok(req)
}

/// Moves the instance from `group` to its VPC's default group; true when `group` is free.
/// Sets the instance's EBS volumes that would outlive it (`delete_on_termination` false: a
/// `launch_block_device_mappings` default, or the source AMI's) to be deleted with it, so a
/// build leaves no volume behind; Packer leaves them, and says so in its docs. Done once the
/// AMI has its block device mapping (CreateImage copies the instance's), or when no AMI comes.
/// Whether it is done.
pub(crate) async fn release_volumes(
    ec2: &aws_sdk_ec2::Client,
    inst: &aws_sdk_ec2::types::Instance,
) -> bool {
    let instance = inst.instance_id().unwrap_or_default();
    let kept: Vec<_> = inst
        .block_device_mappings()
        .iter()
        .filter(|m| m.ebs().and_then(|e| e.delete_on_termination()) == Some(false))
        .filter_map(|m| m.device_name())
        .map(|device| {
            aws_sdk_ec2::types::InstanceBlockDeviceMappingSpecification::builder()
                .device_name(device)
                .ebs(
                    aws_sdk_ec2::types::EbsInstanceBlockDeviceSpecification::builder()
                        .delete_on_termination(true)
                        .build(),
                )
                .build()
        })
        .collect();
    if kept.is_empty() {
        return true;
    }
    match ec2
        .modify_instance_attribute()
        .instance_id(instance)
        .set_block_device_mappings(Some(kept))
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            kiln_core::log::log(format_args!(
                "[WARN] the volumes of {instance} are not set to go with it yet (cleanup tries again): {}",
                api_err("ModifyInstanceAttribute", e)
            ));
            false
        }
    }
}

/// The instance as EC2 describes it now; none when that fails (said in the log: what needed
/// it is tried again later).
pub(crate) async fn look_at(
    ec2: &aws_sdk_ec2::Client,
    instance: &str,
) -> Option<aws_sdk_ec2::types::Instance> {
    match ec2.describe_instances().instance_ids(instance).send().await {
        Ok(out) => out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .cloned(),
        Err(e) => {
            kiln_core::log::log(format_args!(
                "[WARN] could not look at {instance} (tried again later): {}",
                api_err("DescribeInstances", e)
            ));
            None
        }
    }
}

pub(crate) async fn release_group(
    s: &State,
    inst: &aws_sdk_ec2::types::Instance,
    group: &str,
) -> bool {
    let instance = inst.instance_id().unwrap_or_default();
    let Some(vpc) = inst.vpc_id() else {
        return false;
    };
    let default = s
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .ok()
        .and_then(|out| {
            out.security_groups()
                .first()
                .and_then(|g| g.group_id())
                .map(str::to_string)
        });
    let Some(default) = default.filter(|d| d != group) else {
        return false;
    };
    s.ec2
        .modify_instance_attribute()
        .instance_id(instance)
        .groups(default)
        .send()
        .await
        .is_ok()
}
