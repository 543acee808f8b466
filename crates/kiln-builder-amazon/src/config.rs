//! `amazon-ebs` options, with Packer's names and defaults. Options not listed here are not
//! supported yet and are reported as unknown keys.

use kiln_template::duration::GoDuration;
use kiln_template::Diagnostic;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Packer's `aws_polling` block.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Polling {
    /// Seconds between polls (kiln otherwise polls adaptively).
    #[serde(default)]
    pub delay_seconds: Option<u64>,
    /// Polls before giving up.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// One `{"key": …, "value": …}` of Packer's singular tag blocks (`tag`, `run_tag`, …), merged
/// into the matching map.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    /// The tag's key.
    #[serde(default, alias = "Key")]
    pub key: String,
    /// Its value.
    #[serde(default, alias = "Value")]
    pub value: String,
}

/// Merges singular `{key, value}` blocks into a map, as Packer does (a block wins).
fn merge(into: &mut BTreeMap<String, String>, from: &[KeyValue]) {
    for kv in from {
        into.insert(kv.key.clone(), kv.value.clone());
    }
}

/// Packer's `assume_role` block: credentials of a role assumed through STS.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AssumeRole {
    /// The role to assume.
    #[serde(default)]
    pub role_arn: String,
    /// Session length in seconds.
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    /// The external id the role's trust policy asks for.
    #[serde(default)]
    pub external_id: String,
    /// A session policy (JSON) narrowing the role's permissions.
    #[serde(default)]
    pub policy: String,
    /// Managed policies narrowing them.
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Session name (default: one kiln makes).
    #[serde(default)]
    pub session_name: String,
    /// Session tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Session tags passed on to roles assumed from this one.
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
}

/// Packer's `temporary_iam_instance_profile_policy_document`: an IAM policy for a temporary
/// role and instance profile that live as long as the build.
#[derive(Debug, Clone, Deserialize, Default, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Policy language version (`2012-10-17`).
    #[serde(default, rename = "Version")]
    pub version: String,
    /// Its statements.
    #[serde(default, rename = "Statement")]
    pub statement: Vec<PolicyStatement>,
}

/// One statement of a [`PolicyDocument`].
#[derive(Debug, Clone, Deserialize, Default, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyStatement {
    /// `Allow` or `Deny`.
    #[serde(default, rename = "Effect")]
    pub effect: String,
    /// Actions, e.g. `s3:GetObject`.
    #[serde(default, rename = "Action")]
    pub action: Vec<String>,
    /// Resources (ARNs or `*`).
    #[serde(default, rename = "Resource")]
    pub resource: Vec<String>,
}

/// Packer's `source_ami_filter`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AmiFilter {
    /// EC2 DescribeImages filters, name to value.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// The same as `{key, value}` blocks.
    #[serde(default)]
    pub filter: Vec<KeyValue>,
    /// Owner account ids, `self`, or aliases such as `amazon`.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Take the newest match instead of refusing several.
    #[serde(default)]
    pub most_recent: bool,
}

/// Packer's `vpc_filter` / `security_group_filter`: EC2 filters.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Filter name to value.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// The same as `{key, value}` blocks.
    #[serde(default)]
    pub filter: Vec<KeyValue>,
}

/// Packer's `subnet_filter`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SubnetFilter {
    /// Filter name to value.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// The same as `{key, value}` blocks.
    #[serde(default)]
    pub filter: Vec<KeyValue>,
    /// Take the subnet with the most free addresses when several match.
    #[serde(default)]
    pub most_free: bool,
    /// Take any one of several matches.
    #[serde(default)]
    pub random: bool,
}

/// One of Packer's `launch_block_device_mappings` / `ami_block_device_mappings`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BlockDevice {
    /// The device, e.g. `/dev/sda1`.
    #[serde(default)]
    pub device_name: String,
    /// Delete the volume with the instance.
    #[serde(default)]
    pub delete_on_termination: bool,
    /// Encrypt the volume (unset: the snapshot's or the account's default).
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// Provisioned IOPS.
    #[serde(default)]
    pub iops: Option<i32>,
    /// Throughput (gp3), MiB/s.
    #[serde(default)]
    pub throughput: Option<i32>,
    /// Suppress the device of the image.
    #[serde(default)]
    pub no_device: bool,
    /// Create the volume from this snapshot.
    #[serde(default)]
    pub snapshot_id: String,
    /// An instance store device (`ephemeral0`).
    #[serde(default)]
    pub virtual_name: String,
    /// `gp2`, `gp3`, `io1`, `standard`, …
    #[serde(default)]
    pub volume_type: String,
    /// Size in GiB.
    #[serde(default)]
    pub volume_size: Option<i32>,
    /// KMS key for an encrypted volume.
    #[serde(default)]
    pub kms_key_id: String,
}

/// `amazon-ebs` configuration (the communicator's options are decoded beside it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Access key (otherwise the standard credential chain).
    #[serde(default)]
    pub access_key: String,
    /// Secret key.
    #[serde(default)]
    pub secret_key: String,
    /// Session token.
    #[serde(default)]
    pub token: String,
    /// Shared-config profile.
    #[serde(default)]
    pub profile: String,
    /// Region.
    #[serde(default)]
    pub region: String,
    /// EC2 endpoint URL (otherwise AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL / AWS's).
    #[serde(default)]
    pub custom_endpoint_ec2: String,
    /// Accepted: kiln does not call STS to validate credentials up front.
    #[serde(default)]
    pub skip_credential_validation: bool,
    /// Accepted: kiln does not check the region against a list.
    #[serde(default)]
    pub skip_region_validation: bool,
    /// Accepted for compatibility.
    #[serde(default)]
    pub skip_metadata_api_check: bool,
    /// A credentials file instead of ~/.aws/credentials.
    #[serde(default)]
    pub shared_credentials_file: String,
    /// Assume this role (through STS) for every call.
    #[serde(default)]
    pub assume_role: Option<AssumeRole>,
    /// Most retries of a throttled or failed API call (0: Packer's default, 10).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Decode EC2's encoded authorization failures through STS, in the error.
    #[serde(default)]
    pub decode_authorization_messages: bool,
    /// Accept any TLS certificate from the endpoints.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// An MFA code for a profile whose role needs one (`role_arn`, `mfa_serial`,
    /// `source_profile`).
    #[serde(default)]
    pub mfa_code: String,
    /// Credentials from Vault's AWS secrets engine.
    #[serde(default)]
    pub vault_aws_engine: Option<crate::vault::VaultAwsEngine>,
    /// The image to start from.
    #[serde(default)]
    pub source_ami: String,
    /// Find the image to start from.
    #[serde(default)]
    pub source_ami_filter: Option<AmiFilter>,
    /// Volumes of the build instance.
    #[serde(default)]
    pub launch_block_device_mappings: Vec<BlockDevice>,
    /// Volumes recorded in the AMI.
    #[serde(default)]
    pub ami_block_device_mappings: Vec<BlockDevice>,
    /// Copy the AMI to these regions too.
    #[serde(default)]
    pub ami_regions: Vec<String>,
    /// KMS key per region for encrypted copies.
    #[serde(default)]
    pub region_kms_key_ids: BTreeMap<String, String>,
    /// Encrypt the AMI's boot volume (made by an encrypted copy, as Packer does).
    #[serde(default)]
    pub encrypt_boot: Option<bool>,
    /// KMS key for `encrypt_boot`.
    #[serde(default)]
    pub kms_key_id: String,
    /// Accounts allowed to launch the AMI.
    #[serde(default)]
    pub ami_users: Vec<String>,
    /// Groups allowed to launch the AMI (`all` makes it public).
    #[serde(default)]
    pub ami_groups: Vec<String>,
    /// Accounts allowed to create volumes from its snapshots.
    #[serde(default)]
    pub snapshot_users: Vec<String>,
    /// Groups allowed to create volumes from its snapshots.
    #[serde(default)]
    pub snapshot_groups: Vec<String>,
    /// Do not stop the instance before imaging (it stops itself, e.g. Windows sysprep).
    #[serde(default)]
    pub disable_stop_instance: bool,
    /// EBS-optimized instance.
    #[serde(default)]
    pub ebs_optimized: bool,
    /// Instance type.
    #[serde(default)]
    pub instance_type: String,
    /// Launch a spot instance at most at this hourly price (`auto`: up to the on-demand
    /// price).
    #[serde(default)]
    pub spot_price: String,
    /// Spot instance types to try in order (instead of `instance_type`).
    #[serde(default)]
    pub spot_instance_types: Vec<String>,
    /// Tags for the spot request.
    #[serde(default)]
    pub spot_tags: BTreeMap<String, String>,
    /// A spot block of this many minutes (60 to 360).
    #[serde(default)]
    pub block_duration_minutes: Option<i32>,
    /// Name of the AMI to create.
    #[serde(default)]
    pub ami_name: String,
    /// Its description.
    #[serde(default)]
    pub ami_description: String,
    /// Tags for the AMI and its snapshots.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `tags` as `{key, value}` blocks.
    #[serde(default)]
    pub tag: Vec<KeyValue>,
    /// Tags for the snapshots only.
    #[serde(default)]
    pub snapshot_tags: BTreeMap<String, String>,
    /// `snapshot_tags` as blocks.
    #[serde(default)]
    pub snapshot_tag: Vec<KeyValue>,
    /// Tags for the build instance.
    #[serde(default)]
    pub run_tags: BTreeMap<String, String>,
    /// `run_tags` as blocks.
    #[serde(default)]
    pub run_tag: Vec<KeyValue>,
    /// Tags for the build instance's volumes.
    #[serde(default)]
    pub run_volume_tags: BTreeMap<String, String>,
    /// `run_volume_tags` as blocks.
    #[serde(default)]
    pub run_volume_tag: Vec<KeyValue>,
    /// Marketplace product codes for the AMI.
    #[serde(default)]
    pub ami_product_codes: Vec<String>,
    /// Register no AMI in the build region: only its copies in `ami_regions` remain.
    #[serde(default)]
    pub skip_save_build_region: bool,
    /// Instance tenancy: `default`, `dedicated` or `host`.
    #[serde(default)]
    pub tenancy: String,
    /// T2 Unlimited CPU credits (t2 types, not spot).
    #[serde(default)]
    pub enable_t2_unlimited: bool,
    /// Do not look the instance profile up before launching (kiln never does).
    #[serde(default)]
    pub skip_profile_validation: bool,
    /// A policy for a temporary role and instance profile for the build instance.
    #[serde(default)]
    pub temporary_iam_instance_profile_policy_document: Option<PolicyDocument>,
    /// Deprecated by Packer, accepted and ignored with a warning.
    #[serde(default)]
    pub spot_price_auto_product: String,
    /// `spot_tags` as blocks.
    #[serde(default)]
    pub spot_tag: Vec<KeyValue>,
    /// Hide the instance store devices from the instance (`no_device` for ephemeral0..).
    #[serde(default)]
    pub no_ephemeral: bool,
    /// For the WinRM communicator's password (accepted; kiln has no WinRM yet).
    #[serde(default)]
    pub windows_password_timeout: Option<GoDuration>,
    /// Session Manager options (not supported yet).
    #[serde(default)]
    pub pause_before_ssm: Option<GoDuration>,
    /// Session Manager's local port (not supported yet).
    #[serde(default)]
    pub session_manager_port: Option<u16>,
    /// Subnet to launch in.
    #[serde(default)]
    pub subnet_id: String,
    /// VPC for the temporary security group.
    #[serde(default)]
    pub vpc_id: String,
    /// Find the VPC.
    #[serde(default)]
    pub vpc_filter: Option<Filters>,
    /// Find the subnet.
    #[serde(default)]
    pub subnet_filter: Option<SubnetFilter>,
    /// Find existing security groups.
    #[serde(default)]
    pub security_group_filter: Option<Filters>,
    /// Existing security group.
    #[serde(default)]
    pub security_group_id: String,
    /// Existing security groups.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Who may reach SSH through the temporary security group (0.0.0.0/0).
    #[serde(default)]
    pub temporary_security_group_source_cidrs: Vec<String>,
    /// Public address for the instance.
    #[serde(default)]
    pub associate_public_ip_address: Option<bool>,
    /// Instance profile.
    #[serde(default)]
    pub iam_instance_profile: String,
    /// User data.
    #[serde(default)]
    pub user_data: String,
    /// User data from a file.
    #[serde(default)]
    pub user_data_file: String,
    /// `stop` (default) or `terminate`.
    #[serde(default)]
    pub shutdown_behavior: String,
    /// Availability zone.
    #[serde(default)]
    pub availability_zone: String,
    /// Deregister an existing AMI with the same name.
    #[serde(default)]
    pub force_deregister: bool,
    /// Also delete its snapshots.
    #[serde(default)]
    pub force_delete_snapshot: bool,
    /// Do not create an AMI (test runs).
    #[serde(default)]
    pub skip_create_ami: bool,
    /// Enhanced networking (ENA), set on the instance before imaging when given.
    #[serde(default)]
    pub ena_support: Option<bool>,
    /// SR-IOV networking, set on the instance before imaging.
    #[serde(default)]
    pub sriov_support: bool,
    /// Virtualization type of the AMI (accepted).
    #[serde(default)]
    pub ami_virtualization_type: String,
    /// Polling overrides.
    #[serde(default)]
    pub aws_polling: Option<Polling>,
    /// How long to wait for the instance and the AMI (kiln; default 30m).
    #[serde(default)]
    pub wait_timeout: Option<GoDuration>,
}

impl Config {
    /// Packer's rule: a spot build has a spot_price other than "0".
    pub fn is_spot(&self) -> bool {
        !self.spot_price.is_empty() && self.spot_price != "0"
    }

    /// Folds Packer's singular `{key, value}` blocks into their maps, as Packer does before
    /// validating.
    pub fn normalize(&mut self) {
        let tag = std::mem::take(&mut self.tag);
        merge(&mut self.tags, &tag);
        let tag = std::mem::take(&mut self.snapshot_tag);
        merge(&mut self.snapshot_tags, &tag);
        let tag = std::mem::take(&mut self.run_tag);
        merge(&mut self.run_tags, &tag);
        let tag = std::mem::take(&mut self.run_volume_tag);
        merge(&mut self.run_volume_tags, &tag);
        let tag = std::mem::take(&mut self.spot_tag);
        merge(&mut self.spot_tags, &tag);
        if let Some(f) = &mut self.source_ami_filter {
            let blocks = std::mem::take(&mut f.filter);
            merge(&mut f.filters, &blocks);
        }
        if let Some(f) = &mut self.subnet_filter {
            let blocks = std::mem::take(&mut f.filter);
            merge(&mut f.filters, &blocks);
        }
        for f in [&mut self.vpc_filter, &mut self.security_group_filter]
            .into_iter()
            .flatten()
        {
            let blocks = std::mem::take(&mut f.filter);
            merge(&mut f.filters, &blocks);
        }
        if !self.security_group_id.is_empty() && self.security_group_ids.is_empty() {
            self.security_group_ids = vec![std::mem::take(&mut self.security_group_id)];
        }
    }

    /// Checks what Packer checks against the communicator's options.
    pub fn validate_comm(&self, comm: &kiln_comm::config::CommConfig) -> Result<(), Diagnostic> {
        match comm.ssh_interface.as_str() {
            "" | "public_ip" | "private_ip" | "public_dns" | "private_dns" => {}
            "session_manager" => {
                return Err(Diagnostic::new(
                    "amazon-ebs: ssh_interface \"session_manager\" (AWS Session Manager) is not supported by kiln yet",
                )
                .with_hint("connect over the network: ssh_interface public_ip, private_ip, public_dns or private_dns"))
            }
            other => {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: Unknown interface type: {other}"
                ))
                .with_hint("ssh_interface is one of public_ip, private_ip, public_dns, private_dns"))
            }
        }
        if !comm.ssh_keypair_name.is_empty()
            && comm.ssh_private_key_file.is_empty()
            && !comm.ssh_agent_auth
        {
            return Err(Diagnostic::new(
                "amazon-ebs: ssh_private_key_file must be provided or ssh_agent_auth enabled when ssh_keypair_name is specified.",
            ));
        }
        Ok(())
    }

    /// The `vault_aws_engine` block, unless it is absent or empty (Packer ignores an empty one).
    pub fn vault(&self) -> Option<&crate::vault::VaultAwsEngine> {
        self.vault_aws_engine.as_ref().filter(|v| !v.is_empty())
    }

    /// Checks what Packer checks.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        let unsupported = |what: &str, hint: &str| {
            Err(
                Diagnostic::new(format!("amazon-ebs: {what} is not supported by kiln yet"))
                    .with_hint(hint),
            )
        };
        if !self.mfa_code.is_empty() && self.assume_role.is_some() {
            return Err(Diagnostic::new(
                "amazon-ebs: mfa_code is for a profile whose role needs MFA (role_arn, mfa_serial, source_profile), not for assume_role",
            ));
        }
        if let Some(v) = self.vault() {
            // Packer's words.
            if !self.access_key.is_empty() || !self.secret_key.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: If you have set vault_aws_engine, you must not set the access_key or secret_key.",
                ));
            }
            if v.name.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: vault_aws_engine needs the name of the engine's role to read credentials of",
                ));
            }
        }
        if self.insecure_skip_tls_verify {
            return Err(Diagnostic::new(
                "amazon-ebs: insecure_skip_tls_verify is refused: kiln always verifies the endpoints' TLS certificates",
            )
            .with_hint("use an endpoint with a certificate this machine trusts, or a plain http:// custom_endpoint_ec2 on a trusted network"));
        }
        if self.pause_before_ssm.is_some() || self.session_manager_port.is_some() {
            return unsupported(
                "Session Manager (pause_before_ssm, session_manager_port)",
                "connect over the network: ssh_interface public_ip, private_ip, public_dns or private_dns",
            );
        }
        if let Some(r) = &self.assume_role {
            if r.role_arn.is_empty() {
                return Err(Diagnostic::new("amazon-ebs: assume_role needs a role_arn"));
            }
            if let Some(d) = r.duration_seconds {
                if !(900..=43200).contains(&d) {
                    return Err(Diagnostic::new(format!(
                        "amazon-ebs: assume_role duration_seconds must be between 900 and 43200, not {d}"
                    )));
                }
            }
        }
        if !self.shared_credentials_file.is_empty()
            && !std::path::Path::new(&self.shared_credentials_file).is_file()
        {
            return Err(Diagnostic::new(format!(
                "amazon-ebs: shared_credentials_file not found: {}",
                self.shared_credentials_file
            )));
        }
        if let Some(f) = &self.source_ami_filter {
            if self.source_ami.is_empty() && !f.filters.is_empty() && f.owners.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: For security reasons, your source AMI filter must declare an owner.",
                )
                .with_hint("add \"owners\": [\"self\"], an account id, or an alias such as \"amazon\""));
            }
        }
        if !self.instance_type.is_empty() && !self.spot_instance_types.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: either instance_type or spot_instance_types must be specified, not both",
            ));
        }
        if let Some(m) = self.block_duration_minutes {
            if m % 60 != 0 {
                return Err(Diagnostic::new(
                    "amazon-ebs: block_duration_minutes must be multiple of 60",
                ));
            }
        }
        if !self.spot_tags.is_empty() && (self.spot_price.is_empty() || self.spot_price == "0") {
            return Err(Diagnostic::new(
                "amazon-ebs: spot_tags should not be set when not requesting a spot instance",
            ));
        }
        if !self.security_group_id.is_empty() && !self.security_group_ids.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: Only one of security_group_id or security_group_ids can be specified.",
            ));
        }
        for cidr in &self.temporary_security_group_source_cidrs {
            if !valid_cidr(cidr) {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: Error parsing CIDR in temporary_security_group_source_cidrs: invalid CIDR address: {cidr}"
                )));
            }
        }
        if self.enable_t2_unlimited {
            if !self.spot_price.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: T2 Unlimited cannot be used in conjunction with Spot Instances",
                ));
            }
            match self.instance_type.split_once('.') {
                None => {
                    return Err(Diagnostic::new(format!(
                        "amazon-ebs: Error determining main Instance Type from: {}",
                        self.instance_type
                    )))
                }
                Some((family, _)) if family != "t2" => {
                    return Err(Diagnostic::new(format!(
                        "amazon-ebs: T2 Unlimited enabled with a non-T2 Instance Type: {}",
                        self.instance_type
                    )))
                }
                Some(_) => {}
            }
        }
        match self.tenancy.as_str() {
            "" | "default" | "dedicated" | "host" => {}
            other => {
                return Err(
                    Diagnostic::new(format!("amazon-ebs: Unknown tenancy type {other}"))
                        .with_hint("tenancy is one of default, dedicated, host"),
                )
            }
        }
        if self.skip_save_build_region && self.ami_regions.iter().all(|r| *r == self.region) {
            return Err(Diagnostic::new(
                "amazon-ebs: skip_save_build_region needs at least one other region in ami_regions, or the build would keep no AMI",
            ));
        }
        if let Some(doc) = &self.temporary_iam_instance_profile_policy_document {
            if !self.iam_instance_profile.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: iam_instance_profile and temporary_iam_instance_profile_policy_document cannot both be set",
                ));
            }
            if doc.statement.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: temporary_iam_instance_profile_policy_document needs at least one Statement",
                ));
            }
        }
        let mut missing = Vec::new();
        let filtered = self
            .source_ami_filter
            .as_ref()
            .is_some_and(|f| !f.filters.is_empty() || !f.owners.is_empty());
        if self.source_ami.is_empty() && !filtered {
            missing.push("source_ami or source_ami_filter");
        }
        if self.instance_type.is_empty() && self.spot_instance_types.is_empty() {
            missing.push("instance_type or spot_instance_types");
        }
        if self.ami_name.is_empty() && !self.skip_create_ami {
            missing.push("ami_name");
        }
        if !missing.is_empty() {
            return Err(Diagnostic::new(format!(
                "amazon-ebs: {} must be specified",
                missing.join(", ")
            )));
        }
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: access_key and secret_key must be set together",
            ));
        }
        if !(3..=128).contains(&self.ami_name.len()) && !self.skip_create_ami {
            return Err(Diagnostic::new(
                "amazon-ebs: ami_name must be between 3 and 128 characters long",
            ));
        }
        match self.shutdown_behavior.as_str() {
            "" | "stop" | "terminate" => {}
            other => {
                return Err(Diagnostic::new(format!(
                "amazon-ebs: shutdown_behavior must be \"stop\" or \"terminate\", not \"{other}\""
            )))
            }
        }
        if !self.user_data.is_empty() && !self.user_data_file.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: only one of user_data or user_data_file may be set",
            ));
        }
        if !self.user_data_file.is_empty() && !std::path::Path::new(&self.user_data_file).is_file()
        {
            return Err(Diagnostic::new(format!(
                "amazon-ebs: user_data_file not found: {}",
                self.user_data_file
            )));
        }
        if !self.spot_instance_types.is_empty() && self.spot_price.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: spot_instance_types requires spot_price to be set",
            ));
        }
        for r in self.region_kms_key_ids.keys() {
            if !self.ami_regions.contains(r) {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: Region {r} is in region_kms_key_ids but not in ami_regions"
                )));
            }
        }
        if !self.region_kms_key_ids.is_empty() {
            for r in self.ami_regions.iter().filter(|r| **r != self.region) {
                if !self.region_kms_key_ids.contains_key(r) {
                    return Err(Diagnostic::new(format!(
                        "amazon-ebs: Region {r} is in ami_regions but not in region_kms_key_ids"
                    )));
                }
            }
        }
        let encrypted = self.encrypt_boot == Some(true);
        let default_key_elsewhere = self.region_kms_key_ids.values().any(String::is_empty);
        if !self.ami_users.is_empty() {
            if self.kms_key_id.is_empty() && encrypted {
                return Err(Diagnostic::new(
                    "amazon-ebs: Cannot share AMI encrypted with default KMS key",
                ));
            }
            if default_key_elsewhere {
                return Err(Diagnostic::new(
                    "amazon-ebs: Cannot share AMI encrypted with default KMS key for other regions",
                ));
            }
        }
        let keys: Vec<&String> = std::iter::once(&self.kms_key_id)
            .chain(self.region_kms_key_ids.values())
            .filter(|k| !k.is_empty())
            .collect();
        if !keys.is_empty() && !encrypted {
            return Err(Diagnostic::new(
                "amazon-ebs: If you have set either region_kms_key_ids or kms_key_id, encrypt_boot must also be true.",
            ));
        }
        for k in keys {
            if !valid_kms_key(k) {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: \"{k}\" is not a valid KMS Key Id."
                )));
            }
        }
        if !self.snapshot_users.is_empty() {
            if self.kms_key_id.is_empty() && self.region_kms_key_ids.is_empty() && encrypted {
                return Err(Diagnostic::new(
                    "amazon-ebs: Cannot share snapshot encrypted with default KMS key",
                )
                .with_hint(
                    "give a kms_key_id (and region_kms_key_ids) the other accounts may use",
                ));
            }
            if default_key_elsewhere {
                return Err(Diagnostic::new(
                    "amazon-ebs: Cannot share snapshot encrypted with default KMS key",
                ));
            }
        }
        if !self.skip_create_ami {
            if let Some(c) = self.ami_name.chars().find(|c| !ami_name_char(*c)) {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: ami_name \"{}\" has {c:?}: AMIName should only contain alphanumeric characters, parentheses (()), square brackets ([]), spaces ( ), periods (.), slashes (/), dashes (-), single quotes ('), at-signs (@), or underscores(_).",
                    self.ami_name
                ))
                .with_hint("the clean_resource_name template function replaces the others: {{ isotime | clean_resource_name }}"));
            }
        }
        for b in self
            .launch_block_device_mappings
            .iter()
            .chain(&self.ami_block_device_mappings)
        {
            if b.device_name.is_empty() {
                return Err(Diagnostic::new(
                    "amazon-ebs: every block device mapping needs a device_name",
                ));
            }
        }
        Ok(())
    }
}

/// An IPv4 or IPv6 CIDR block (`addr/len`).
fn valid_cidr(cidr: &str) -> bool {
    let Some((addr, len)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

/// A character EC2 allows in an AMI name (what Packer's `clean_resource_name` keeps).
fn ami_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c)
}

/// A KMS key id, alias, or the ARN of either, as Packer accepts them.
fn valid_kms_key(k: &str) -> bool {
    let id = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
    };
    let alias = |s: &str| {
        s.strip_prefix("alias/").is_some_and(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
        })
    };
    if id(k) || alias(k) {
        return true;
    }
    // arn:aws[-us-gov]:kms:[region]:account:(key/id | alias/name)
    let Some(rest) = k
        .strip_prefix("arn:aws:kms:")
        .or_else(|| k.strip_prefix("arn:aws-us-gov:kms:"))
    else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(_region), Some(account), Some(resource)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (resource.strip_prefix("key/").is_some_and(id) || alias(resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_keys_as_packer_accepts_them() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/images",
            "alias/team/images_2",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/images",
            "arn:aws:kms::123456789012:alias/images",
        ] {
            assert!(valid_kms_key(ok), "{ok}");
        }
        for bad in [
            "",
            "alias/",
            "not a key",
            "ABCDEF",
            "arn:aws:kms:us-east-1:1234:key/abc",
            "arn:aws:kms:us-east-1:123456789012:key/XYZ",
            "arn:aws:s3:us-east-1:123456789012:alias/images",
        ] {
            assert!(!valid_kms_key(bad), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        for ok in ["0.0.0.0/0", "10.1.2.3/32", "::/0", "2001:db8::/48"] {
            assert!(valid_cidr(ok), "{ok}");
        }
        for bad in ["10.0.0.0", "10.0.0.0/33", "::/129", "host/8", "10.0.0.0/x"] {
            assert!(!valid_cidr(bad), "{bad}");
        }
    }

    #[test]
    fn singular_blocks_merge_into_their_maps() {
        let v = kiln_template::Value::from_json(&serde_json::json!({
            "tags": {"a": "1"}, "tag": [{"key": "b", "value": "2"}, {"key": "a", "value": "3"}],
            "run_tag": [{"Key": "r", "Value": "x"}], "security_group_id": "sg-1",
            "vpc_filter": {"filter": [{"key": "tag:Name", "value": "main"}]}
        }));
        let mut c: Config = kiln_template::decode::decode(&v).unwrap();
        c.normalize();
        assert_eq!(c.tags.get("a").map(String::as_str), Some("3"));
        assert_eq!(c.tags.get("b").map(String::as_str), Some("2"));
        assert_eq!(c.run_tags.get("r").map(String::as_str), Some("x"));
        assert_eq!(c.security_group_ids, vec!["sg-1".to_string()]);
        assert_eq!(
            c.vpc_filter
                .unwrap()
                .filters
                .get("tag:Name")
                .map(String::as_str),
            Some("main")
        );
    }
}
