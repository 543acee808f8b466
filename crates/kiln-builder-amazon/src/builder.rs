//! The `amazon-ebs` builder: Packer's step sequence on the AWS SDK.

use crate::client;
use crate::config::Config;
use crate::state::{RegionAmi, State};
use crate::step_ami_regions::StepAmiRegionCopy;
use crate::step_create_ami::{StepCreateAmi, StepMarkSuccess, StepPreValidate, StepStopInstance};
use crate::step_iam_profile::StepIamInstanceProfile;
use crate::step_key_pair::StepKeyPair;
use crate::step_modify_ami::StepModifyAmiAttributes;
use crate::step_network_info::StepNetworkInfo;
use crate::step_prepare::StepPrepare;
use crate::step_run_instance::StepRunInstance;
use crate::step_security_group::StepSecurityGroup;
use crate::step_source_ami::StepSourceAmi;
use crate::wait::Wait;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_core::artifact::{Artifact, ArtifactRef};
use kiln_core::clean_keys::StepCleanupTempKeys;
use kiln_core::connect::StepConnect;
use kiln_core::journal::Event;
use kiln_core::plugin::{BuildCx, Builder, PrepareCx};
use kiln_core::step::{run_steps, Step, StepProvision};
use kiln_core::Result;
use kiln_template::{decode::decode_split, Diagnostic, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Builder id, as Packer reports it.
pub const BUILDER_ID: &str = "mitchellh.amazonebs";

/// Makes an `amazon-ebs` builder.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    let (mut c, comm): (Config, CommConfig) = decode_split(config)?;
    c.normalize();
    c.validate()?;
    c.validate_comm(&comm)?;
    comm.validate(false)?;
    if !c.spot_price_auto_product.is_empty() {
        kiln_core::log::log(format_args!(
            "[WARN] amazon-ebs: spot_price_auto_product is deprecated and no longer needed; kiln ignores it"
        ));
    }
    Ok(Box::new(AmazonEbs { config: c, comm }))
}

struct AmazonEbs {
    config: Config,
    comm: CommConfig,
}

impl AmazonEbs {
    /// What `kiln cleanup` needs to reach the same account and region.
    fn place(&self, region: &str) -> Vec<(String, String)> {
        let mut p = vec![("region".to_string(), region.to_string())];
        if !self.config.custom_endpoint_ec2.is_empty() {
            p.push(("endpoint".into(), self.config.custom_endpoint_ec2.clone()));
        }
        if !self.config.profile.is_empty() {
            p.push(("profile".into(), self.config.profile.clone()));
        }
        // The same credentials, so `kiln cleanup` reaches the same account.
        if !self.config.shared_credentials_file.is_empty() {
            p.push((
                "credentials_file".into(),
                self.config.shared_credentials_file.clone(),
            ));
        }
        if let Some(r) = &self.config.assume_role {
            p.push(("role_arn".into(), r.role_arn.clone()));
            if !r.external_id.is_empty() {
                p.push(("external_id".into(), r.external_id.clone()));
            }
        }
        if !self.config.mfa_code.is_empty() {
            p.push(("mfa".into(), "true".into()));
        }
        // Vault's role (its address and token come from the environment, as for the build).
        if let Some(v) = self.config.vault() {
            for (k, v) in [
                ("vault_name", &v.name),
                ("vault_role_arn", &v.role_arn),
                ("vault_engine", &v.engine_name),
            ] {
                if !v.is_empty() {
                    p.push((k.into(), v.clone()));
                }
            }
        }
        p
    }

    /// The state a build starts from: clients on one shared configuration, nothing found or
    /// made yet.
    async fn new_state(&self, cx: &BuildCx) -> State {
        let recorder = crate::vault::Recorder {
            journal: cx.info.journal.clone(),
            build: cx.info.name.clone(),
        };
        let shared = client::sdk_config(&self.config, Some(recorder)).await;
        let ec2 = client::ec2_in(&shared, &self.config, None);
        let iam = client::iam_in(&shared);
        let place = self.place(&crate::state::region_of(&ec2));
        State::new(
            ec2,
            iam,
            shared,
            cx.info.run_uuid.clone(),
            self.config.source_ami.clone(),
            place,
        )
    }

    /// The options with `-force` applied: as Packer, it replaces an AMI of the same name.
    fn forced(&self, cx: &BuildCx) -> Config {
        let mut c = self.config.clone();
        c.force_deregister |= cx.info.force;
        c
    }

    fn wait(&self) -> Wait {
        wait_of(&self.config, |k| std::env::var(k).ok())
    }
}

/// How a build waits: kiln's adaptive polling within its budget (`wait_timeout`, default
/// 30 minutes), unless `aws_polling` or Packer's variables say otherwise. As in Packer, each
/// option wins over its variable: `delay_seconds` over `AWS_POLL_DELAY_SECONDS` (a fixed
/// delay), `max_attempts` over `AWS_MAX_ATTEMPTS` (the budget is that many delays), and the
/// deprecated `AWS_TIMEOUT_SECONDS` is the budget when no attempts are given. `env` reads a
/// variable.
pub fn wait_of(c: &Config, env: impl Fn(&str) -> Option<String>) -> Wait {
    let number = |k: &str| {
        let v = env(k).filter(|v| !v.is_empty())?;
        match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                kiln_core::log::log(format_args!("[WARN] invalid {k} '{v}', using the default"));
                None
            }
        }
    };
    let polling = c.aws_polling.clone().unwrap_or_default();
    let delay = polling
        .delay_seconds
        .filter(|d| *d > 0)
        .or_else(|| number("AWS_POLL_DELAY_SECONDS"));
    let attempts = polling
        .max_attempts
        .filter(|n| *n > 0)
        .map(u64::from)
        .or_else(|| number("AWS_MAX_ATTEMPTS"));
    let mut w = Wait::default();
    if let Some(t) = c.wait_timeout {
        w.budget = t.0;
    }
    if let Some(d) = delay {
        w.first = Duration::from_secs(d);
        w.max = w.first;
    }
    match attempts {
        Some(n) => w.budget = w.max * u32::try_from(n).unwrap_or(u32::MAX),
        None => {
            if let Some(t) = number("AWS_TIMEOUT_SECONDS") {
                w.budget = Duration::from_secs(t);
            }
        }
    }
    w
}

#[async_trait]
impl Builder for AmazonEbs {
    /// The secret key, the session token, the MFA code. (Packer's log filter also hides the
    /// access key id, which is an identifier that errors are clearer with.)
    fn secrets(&self) -> Vec<String> {
        let c = &self.config;
        kiln_core::plugin::set_values(&[&c.secret_key, &c.token, &c.mfa_code])
    }

    /// The build's read-only steps as it runs them (the AMI name, the source AMI, the
    /// network), then each call that would create something, sent with DryRun: EC2 answers
    /// whether it would have been allowed (its permissions, the parameters it checks first)
    /// and makes nothing.
    async fn dry_run(&self, cx: &BuildCx) -> Result<()> {
        let c = &self.config;
        let mut s = self.new_state(cx).await;
        StepPreValidate {
            config: self.forced(cx),
        }
        .run(cx, &mut s)
        .await?;
        StepSourceAmi {
            filter: c.source_ami_filter.clone(),
            config: c.clone(),
        }
        .run(cx, &mut s)
        .await?;
        StepNetworkInfo { config: c.clone() }
            .run(cx, &mut s)
            .await?;
        let mut refused = Vec::new();
        let key_step = StepKeyPair::new(self.comm.clone());
        if key_step.temporary() {
            let pair = kiln_comm::keys::generate(
                &self.comm.temporary_key_pair_type,
                self.comm.temporary_key_pair_bits,
                "packer_dry_run",
            )
            .map_err(kiln_core::Error::from)?;
            let r = s
                .ec2
                .import_key_pair()
                .dry_run(true)
                .key_name("packer_dry_run")
                .public_key_material(aws_sdk_ec2::primitives::Blob::new(
                    pair.public_openssh.as_bytes(),
                ))
                .send()
                .await;
            dry_verdict(
                cx,
                "ImportKeyPair (the temporary key pair)",
                r,
                &mut refused,
            );
        } else if !self.comm.ssh_keypair_name.is_empty() {
            s.key_name = Some(self.comm.ssh_keypair_name.clone());
        }
        let groups = StepSecurityGroup::new(c.clone(), self.comm.port());
        let given = groups.given(cx, &s).await?;
        if given.is_empty() {
            let mut req = s
                .ec2
                .create_security_group()
                .dry_run(true)
                .group_name("packer_dry_run")
                .description("Temporary group for Packer");
            if !s.vpc_id.is_empty() {
                req = req.vpc_id(&s.vpc_id);
            }
            dry_verdict(
                cx,
                "CreateSecurityGroup (the temporary group)",
                req.send().await,
                &mut refused,
            );
        }
        s.security_groups = given;
        if c.temporary_iam_instance_profile_policy_document.is_some() {
            cx.ui.say(
                "Would create a temporary IAM role and instance profile (IAM has no dry run: not checked)",
            );
        } else {
            StepIamInstanceProfile::new(c.clone(), self.wait())
                .run(cx, &mut s)
                .await?;
        }
        let kind = c
            .spot_instance_types
            .first()
            .filter(|_| c.is_spot())
            .unwrap_or(&c.instance_type)
            .clone();
        let launch = crate::step_run_instance::launch_request(c, cx, &s)?
            .instance_type(aws_sdk_ec2::types::InstanceType::from(kind.as_str()))
            .dry_run(true)
            .send()
            .await;
        dry_verdict(
            cx,
            &format!("RunInstances ({kind} from {})", s.source_ami),
            launch,
            &mut refused,
        );
        cx.ui.say(&format!(
            "Would then connect over {}, provision, and {}",
            if self.comm.communicator.is_empty() {
                "ssh"
            } else {
                self.comm.communicator.as_str()
            },
            if c.skip_create_ami {
                "create no AMI (skip_create_ami)".to_string()
            } else {
                let mut regions = vec![s.region.clone()];
                regions.extend(c.ami_regions.iter().cloned());
                format!("create the AMI {} in {}", c.ami_name, regions.join(", "))
            }
        ));
        if refused.is_empty() {
            Ok(())
        } else {
            Err(kiln_core::Error::msg(format!(
                "EC2 would refuse: {}",
                refused.join("; ")
            )))
        }
    }

    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let mut state = self.new_state(cx).await;
        let shared = state.shared.clone();
        let wait = self.wait();
        let keep = Arc::new(AtomicBool::new(false));
        let mut steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepPrepare::new(
                StepPreValidate {
                    config: self.forced(cx),
                },
                StepSourceAmi {
                    filter: self.config.source_ami_filter.clone(),
                    config: self.config.clone(),
                },
                StepNetworkInfo {
                    config: self.config.clone(),
                },
                StepKeyPair::new(self.comm.clone()),
                StepSecurityGroup::new(self.config.clone(), self.comm.port()),
                StepIamInstanceProfile::new(self.config.clone(), wait),
            )),
            Box::new(StepRunInstance {
                config: self.config.clone(),
                comm: self.comm.clone(),
                wait,
                token: String::new(),
            }),
            Box::new(StepConnect::new(self.comm.clone())),
            Box::new(StepProvision::new()),
            Box::new(StepCleanupTempKeys {
                config: self.comm.clone(),
            }),
        ];
        if !self.config.skip_create_ami {
            steps.push(Box::new(StepStopInstance {
                wait,
                disable_stop: self.config.disable_stop_instance,
                spot: self.config.is_spot(),
                ena_support: self.config.ena_support,
                sriov_support: self.config.sriov_support,
            }));
            let config = self.forced(cx);
            steps.push(Box::new(StepCreateAmi {
                config: config.clone(),
                wait,
                keep: keep.clone(),
            }));
            steps.push(Box::new(StepAmiRegionCopy::new(
                config.clone(),
                wait,
                keep.clone(),
            )));
            steps.push(Box::new(StepModifyAmiAttributes { config }));
        }
        steps.push(Box::new(StepMarkSuccess { keep }));
        if let Err(e) = run_steps(cx, &mut state, steps).await {
            if self.config.decode_authorization_messages
                && !matches!(e, kiln_core::Error::Cancelled)
            {
                let text = e.to_string();
                if let Some(decoded) = client::decode_authorization(&shared, &text).await {
                    return Err(kiln_core::Error::msg(format!(
                        "{text}\nDecoded authorization failure message: {decoded}"
                    )));
                }
            }
            return Err(e);
        }
        if state.amis.is_empty() {
            return Ok(None);
        }
        // Every temporary resource is cleaned up: the AMIs are now the build's product, no
        // longer to expire (their kiln:run and kiln:build tags stay, as provenance).
        for (region, ami) in &state.amis {
            let mut products = vec![ami.id.clone()];
            products.extend(ami.snapshots.iter().cloned());
            if let Err(e) = ami
                .ec2
                .delete_tags()
                .set_resources(Some(products.clone()))
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("kiln:expires")
                        .build(),
                )
                .send()
                .await
            {
                // Left on, the tag would have `kiln cleanup -expired` take the product for a
                // leftover once it passes.
                cx.ui.error(&format!(
                    "Could not remove the kiln:expires tag from {} and its snapshots: {}. \
                     Remove it by hand (aws ec2 delete-tags --region {region} --resources {} \
                     --tags Key=kiln:expires), or kiln cleanup -expired will delete the AMI \
                     once the tag's time has passed",
                    ami.id,
                    crate::client::api_err("DeleteTags", e),
                    products.join(" "),
                ));
            }
            let place: Vec<(&str, &str)> = vec![("region", region.as_str())];
            cx.info.journal.record(
                &cx.info.name,
                "ec2:image",
                &ami.key,
                &ami.id,
                &place,
                Event::Released,
            );
        }
        Ok(Some(Arc::new(AmiArtifact {
            amis: state
                .amis
                .iter()
                .map(|(r, a)| (r.clone(), a.clone()))
                .collect(),
        })))
    }
}

/// Says what EC2 answered a DryRun call: DryRunOperation means it would have been allowed;
/// any other error is a refusal, added to `refused`.
fn dry_verdict<T, E, R>(
    cx: &BuildCx,
    what: &str,
    answer: std::result::Result<T, aws_sdk_ec2::error::SdkError<E, R>>,
    refused: &mut Vec<String>,
) where
    E: std::error::Error + aws_sdk_ec2::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Err(e) if client::code(&e).as_deref() == Some("DryRunOperation") => {
            cx.ui
                .say(&format!("{what}: would be allowed (EC2 dry run)"));
        }
        Err(e) => {
            let why = client::api_err(what, e).to_string();
            cx.ui.error(&why);
            refused.push(why);
        }
        // EC2 never carries out a DryRun call; an endpoint that did is said plainly.
        Ok(_) => {
            let why = format!("{what}: the endpoint ignored DryRun and carried the call out");
            cx.ui.error(&why);
            refused.push(why);
        }
    }
}

/// The AMIs a build registered, by region.
struct AmiArtifact {
    amis: Vec<(String, RegionAmi)>,
}

#[async_trait]
impl Artifact for AmiArtifact {
    fn builder_id(&self) -> String {
        BUILDER_ID.into()
    }
    fn files(&self) -> Vec<String> {
        vec![]
    }
    /// Packer's form: `region:ami,region:ami`, sorted by region.
    fn id(&self) -> String {
        self.amis
            .iter()
            .map(|(r, a)| format!("{r}:{}", a.id))
            .collect::<Vec<_>>()
            .join(",")
    }
    fn description(&self) -> String {
        let mut d = String::from("AMIs were created:\n");
        for (r, a) in &self.amis {
            d.push_str(&format!("{r}: {}\n", a.id));
        }
        d
    }
    async fn destroy(&self) -> Result<()> {
        for (_, a) in &self.amis {
            crate::step_create_ami::deregister(&a.ec2, &a.id, &a.snapshots).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Polling;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn polling(delay: Option<u64>, attempts: Option<u32>) -> Config {
        let mut c = crate::cleanup::minimal_config();
        c.aws_polling = Some(Polling {
            delay_seconds: delay,
            max_attempts: attempts,
        });
        c
    }

    #[test]
    fn waits_follow_aws_polling_then_packers_variables() {
        let plain = crate::cleanup::minimal_config();
        let d = Wait::default();
        let w = wait_of(&plain, env(&[]));
        assert_eq!((w.first, w.max, w.budget), (d.first, d.max, d.budget));
        // The variables, without options.
        let w = wait_of(
            &plain,
            env(&[("AWS_POLL_DELAY_SECONDS", "5"), ("AWS_MAX_ATTEMPTS", "4")]),
        );
        let s = Duration::from_secs;
        assert_eq!((w.first, w.max, w.budget), (s(5), s(5), s(20)));
        let w = wait_of(&plain, env(&[("AWS_TIMEOUT_SECONDS", "90")]));
        assert_eq!((w.first, w.max, w.budget), (d.first, d.max, s(90)));
        // AWS_MAX_ATTEMPTS wins over AWS_TIMEOUT_SECONDS.
        let w = wait_of(
            &plain,
            env(&[
                ("AWS_POLL_DELAY_SECONDS", "3"),
                ("AWS_MAX_ATTEMPTS", "2"),
                ("AWS_TIMEOUT_SECONDS", "90"),
            ]),
        );
        assert_eq!(w.budget, s(6));
        // Each option wins over its variable.
        let both = env(&[("AWS_POLL_DELAY_SECONDS", "5"), ("AWS_MAX_ATTEMPTS", "4")]);
        let w = wait_of(&polling(Some(2), None), &both);
        assert_eq!((w.max, w.budget), (s(2), s(8)));
        let w = wait_of(&polling(None, Some(10)), &both);
        assert_eq!((w.max, w.budget), (s(5), s(50)));
        // Zero and nonsense are not settings.
        let w = wait_of(
            &polling(Some(0), Some(0)),
            env(&[
                ("AWS_POLL_DELAY_SECONDS", "soon"),
                ("AWS_MAX_ATTEMPTS", "0"),
            ]),
        );
        assert_eq!((w.first, w.max, w.budget), (d.first, d.max, d.budget));
    }
}
