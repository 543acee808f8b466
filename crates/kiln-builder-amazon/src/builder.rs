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
        p
    }

    fn wait(&self) -> Wait {
        let mut w = Wait::default();
        if let Some(t) = self.config.wait_timeout {
            w.budget = t.0;
        }
        if let Some(p) = &self.config.aws_polling {
            if let Some(d) = p.delay_seconds {
                w.first = Duration::from_secs(d);
                w.max = Duration::from_secs(d);
            }
            if let Some(n) = p.max_attempts {
                w.budget = w.max * n;
            }
        }
        w
    }
}

#[async_trait]
impl Builder for AmazonEbs {
    /// The secret key, the session token, the MFA code. (Packer's log filter also hides the
    /// access key id, which is an identifier that errors are clearer with.)
    fn secrets(&self) -> Vec<String> {
        let c = &self.config;
        [&c.secret_key, &c.token, &c.mfa_code]
            .into_iter()
            .filter(|v| !v.is_empty())
            .cloned()
            .collect()
    }

    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let shared = client::sdk_config(&self.config).await;
        let ec2 = client::ec2_in(&shared, &self.config, None);
        let iam = client::iam_in(&shared);
        let region = ec2
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let mut state = State {
            ec2,
            region: region.clone(),
            run_uuid: cx.info.run_uuid.clone(),
            source_ami: self.config.source_ami.clone(),
            key_name: None,
            private_key: None,
            public_key: None,
            vpc_id: String::new(),
            subnet_id: String::new(),
            availability_zone: String::new(),
            security_groups: vec![],
            temporary_security_group: None,
            temporary_security_group_name: String::new(),
            temporary_key_pair: None,
            released: Default::default(),
            instance_id: None,
            host: None,
            comm: None,
            conn: None,
            ami_id: None,
            ami_key: String::new(),
            amis: Default::default(),
            snapshot_ids: vec![],
            place: self.place(&region),
            source_image: None,
            rendered: Default::default(),
            iam,
            shared: shared.clone(),
            instance_profile: None,
            temporary_instance_profile: false,
        };
        let wait = self.wait();
        let keep = Arc::new(AtomicBool::new(false));
        let mut steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepPreValidate {
                config: {
                    // As Packer: -force replaces an AMI of the same name.
                    let mut c = self.config.clone();
                    c.force_deregister |= cx.info.force;
                    c
                },
            }),
            Box::new(StepSourceAmi {
                filter: self.config.source_ami_filter.clone(),
                config: self.config.clone(),
            }),
            Box::new(StepNetworkInfo {
                config: self.config.clone(),
            }),
            Box::new(StepKeyPair::new(self.comm.clone())),
            Box::new(StepSecurityGroup::new(
                self.config.clone(),
                self.comm.port(),
            )),
            Box::new(StepIamInstanceProfile::new(self.config.clone(), wait)),
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
            let mut config = self.config.clone();
            // As Packer: -force replaces an AMI of the same name.
            config.force_deregister |= cx.info.force;
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
                .set_resources(Some(products))
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("kiln:expires")
                        .build(),
                )
                .send()
                .await
            {
                cx.ui.error(&format!(
                    "Could not remove the kiln:expires tag from {}: {}",
                    ami.id,
                    crate::client::api_err("DeleteTags", e)
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
