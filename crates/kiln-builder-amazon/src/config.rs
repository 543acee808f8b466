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

/// Packer's `source_ami_filter`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AmiFilter {
    /// EC2 DescribeImages filters, name to value.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
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
}

/// Packer's `subnet_filter`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SubnetFilter {
    /// Filter name to value.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
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
    /// Tags for the snapshots only.
    #[serde(default)]
    pub snapshot_tags: BTreeMap<String, String>,
    /// Tags for the build instance.
    #[serde(default)]
    pub run_tags: BTreeMap<String, String>,
    /// Tags for the build instance's volumes.
    #[serde(default)]
    pub run_volume_tags: BTreeMap<String, String>,
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
    /// Checks what Packer checks.
    pub fn validate(&self) -> Result<(), Diagnostic> {
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
        if self.encrypt_boot == Some(false) && !self.kms_key_id.is_empty() {
            return Err(Diagnostic::new(
                "amazon-ebs: kms_key_id requires encrypt_boot to be true",
            ));
        }
        for r in self.region_kms_key_ids.keys() {
            if !self.ami_regions.contains(r) {
                return Err(Diagnostic::new(format!(
                    "amazon-ebs: region_kms_key_ids has {r}, which is not in ami_regions"
                )));
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
