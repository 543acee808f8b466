//! What the amazon-ebs steps share.

use aws_sdk_ec2::Client;
use kiln_comm::Communicator;
use kiln_core::connect::{ConnInfo, ConnectState};
use kiln_core::plugin::GeneratedData;
use kiln_core::step::ProvisionState;
use kiln_template::interp::TVal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The build's typed state.
pub struct State {
    /// EC2.
    pub ec2: Client,
    /// Region name.
    pub region: String,
    /// The run's id, for names and tags.
    pub run_uuid: String,
    /// Source AMI id.
    pub source_ami: String,
    /// Key pair name used for the instance.
    pub key_name: Option<String>,
    /// Private key text.
    pub private_key: Option<String>,
    /// The temporary key's public line, to remove from authorized_keys before capture.
    pub public_key: Option<String>,
    /// The VPC (given, found by filter, or the subnet's).
    pub vpc_id: String,
    /// The subnet (given or found by filter).
    pub subnet_id: String,
    /// The availability zone (given, or the subnet's).
    pub availability_zone: String,
    /// Security groups for the instance.
    pub security_groups: Vec<String>,
    /// The temporary security group kiln made, while it exists (deleted at cleanup, or
    /// while the AMI is made).
    pub temporary_security_group: Option<String>,
    /// Its name (its journal key).
    pub temporary_security_group_name: String,
    /// The temporary key pair kiln imported (its name), while it exists.
    pub temporary_key_pair: Option<String>,
    /// The build instance.
    pub instance_id: Option<String>,
    /// Whether the instance's EBS volumes are set to go with it (those launched with
    /// `delete_on_termination` false would outlive it).
    pub volumes_released: bool,
    /// Address to connect to.
    pub host: Option<String>,
    /// The communicator.
    pub comm: Option<Arc<dyn Communicator>>,
    /// How it connected.
    pub conn: Option<ConnInfo>,
    /// The AMI created.
    pub ami_id: Option<String>,
    /// Its journal key.
    pub ami_key: String,
    /// Every AMI of the build by region (the first, its copies), as the artifact lists them.
    pub amis: std::collections::BTreeMap<String, RegionAmi>,
    /// Its snapshots.
    pub snapshot_ids: Vec<String>,
    /// Where resources live, for the journal (region, endpoint, profile).
    pub place: Vec<(String, String)>,
    /// The source image, once found.
    pub source_image: Option<aws_sdk_ec2::types::Image>,
    /// The template's description and tags, rendered with the source image's build info.
    pub rendered: Rendered,
    /// IAM (instance profiles).
    pub iam: crate::iam::Iam,
    /// The AWS configuration every client of the build shares.
    pub shared: aws_config::SdkConfig,
    /// The instance profile for the instance (the template's, or a temporary one).
    pub instance_profile: Option<String>,
    /// Whether kiln made that profile (IAM may need a moment before EC2 accepts it).
    pub temporary_instance_profile: bool,
}

/// Packer renders the AMI's description and every tag map at build time, with the build
/// info: `{{ .BuildRegion }}`, `{{ .SourceAMI }}`, `{{ .SourceAMIName }}`,
/// `{{ .SourceAMIOwner }}`, `{{ .SourceAMIOwnerName }}`, `{{ .SourceAMICreationDate }}`,
/// `{{ .SourceAMITags.Key }}`.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// `ami_description`.
    pub ami_description: String,
    /// `tags`.
    pub tags: BTreeMap<String, String>,
    /// `snapshot_tags`.
    pub snapshot_tags: BTreeMap<String, String>,
    /// `run_tags`.
    pub run_tags: BTreeMap<String, String>,
    /// `run_volume_tags`.
    pub run_volume_tags: BTreeMap<String, String>,
    /// `spot_tags`.
    pub spot_tags: BTreeMap<String, String>,
}

/// An AMI in one region.
#[derive(Debug, Clone)]
pub struct RegionAmi {
    /// Its id.
    pub id: String,
    /// Its snapshots.
    pub snapshots: Vec<String>,
    /// Its journal key.
    pub key: String,
    /// A client for its region.
    pub ec2: Client,
}

/// The journal key of a build's AMI in a region: its name and the region, so copies in other
/// regions are told apart (`kiln cleanup` finds one by name in that region).
pub fn image_key(name: &str, region: &str) -> String {
    format!("{name}@{region}")
}

/// The region an EC2 client calls.
pub fn region_of(ec2: &Client) -> String {
    ec2.config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// How long a temporary resource may live before a reaper may delete it (`kiln:expires`).
pub const TEMPORARY_TTL_HOURS: i64 = 24;

impl State {
    /// A build's state before any step: its clients, region, run id, the source AMI the
    /// template names and where its resources live; nothing found or made yet.
    pub fn new(
        ec2: Client,
        iam: crate::iam::Iam,
        shared: aws_config::SdkConfig,
        run_uuid: String,
        source_ami: String,
        place: Vec<(String, String)>,
    ) -> State {
        State {
            region: region_of(&ec2),
            ec2,
            run_uuid,
            source_ami,
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
            instance_id: None,
            host: None,
            comm: None,
            conn: None,
            ami_id: None,
            ami_key: String::new(),
            amis: Default::default(),
            snapshot_ids: vec![],
            volumes_released: false,
            place,
            source_image: None,
            rendered: Default::default(),
            iam,
            shared,
            instance_profile: None,
            temporary_instance_profile: false,
        }
    }

    /// A fresh state on the same clients, for a step that runs beside others; what it
    /// finds and makes comes back with [`State::absorb`].
    pub fn fork(&self) -> State {
        State::new(
            self.ec2.clone(),
            self.iam.clone(),
            self.shared.clone(),
            self.run_uuid.clone(),
            self.source_ami.clone(),
            self.place.clone(),
        )
    }

    /// Takes what a fork's steps found and made before the launch: the key, the network,
    /// the security groups, the instance profile. Each is set by one step only, so a value
    /// the fork set wins and one it left alone stays.
    pub fn absorb(&mut self, from: State) {
        fn take<T>(to: &mut Option<T>, from: Option<T>) {
            if from.is_some() {
                *to = from;
            }
        }
        fn take_text(to: &mut String, from: String) {
            if !from.is_empty() {
                *to = from;
            }
        }
        take(&mut self.key_name, from.key_name);
        take(&mut self.private_key, from.private_key);
        take(&mut self.public_key, from.public_key);
        take(&mut self.temporary_key_pair, from.temporary_key_pair);
        take_text(&mut self.vpc_id, from.vpc_id);
        take_text(&mut self.subnet_id, from.subnet_id);
        take_text(&mut self.availability_zone, from.availability_zone);
        if !from.security_groups.is_empty() {
            self.security_groups = from.security_groups;
        }
        take(
            &mut self.temporary_security_group,
            from.temporary_security_group,
        );
        take_text(
            &mut self.temporary_security_group_name,
            from.temporary_security_group_name,
        );
        take(&mut self.instance_profile, from.instance_profile);
        self.temporary_instance_profile |= from.temporary_instance_profile;
    }

    /// The build info Packer renders tags with (its `BuildInfoTemplate`).
    pub fn build_info(&self) -> Vec<(&'static str, TVal)> {
        let img = self.source_image.as_ref();
        let text = |v: Option<&str>| TVal::Str(v.unwrap_or_default().to_string());
        let tags: BTreeMap<String, TVal> = img
            .map(|i| i.tags())
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    TVal::Str(t.value().unwrap_or_default().to_string()),
                )
            })
            .collect();
        vec![
            ("BuildRegion", TVal::Str(self.region.clone())),
            ("SourceAMI", text(img.and_then(|i| i.image_id()))),
            (
                "SourceAMICreationDate",
                text(img.and_then(|i| i.creation_date())),
            ),
            ("SourceAMIName", text(img.and_then(|i| i.name()))),
            ("SourceAMIOwner", text(img.and_then(|i| i.owner_id()))),
            (
                "SourceAMIOwnerName",
                text(img.and_then(|i| i.image_owner_alias())),
            ),
            ("SourceAMITags", TVal::Map(tags)),
        ]
    }

    /// Renders the template's description and tag maps (keys and values) with the build
    /// info, once the source image is known.
    pub fn render_tags(
        &mut self,
        cx: &kiln_core::plugin::BuildCx,
        c: &crate::config::Config,
    ) -> kiln_core::Result<()> {
        let data = cx.info.interp.with_data(self.build_info());
        let one = |what: &str, text: &str| {
            kiln_template::interp::render(text, &data)
                .map_err(|e| kiln_core::Error::msg(format!("{what}: {}", e.message)))
        };
        let map = |what: &str, m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| Ok((one(what, k)?, one(what, v)?)))
                .collect::<kiln_core::Result<BTreeMap<_, _>>>()
        };
        self.rendered = Rendered {
            ami_description: one("ami_description", &c.ami_description)?,
            tags: map("tags", &c.tags)?,
            snapshot_tags: map("snapshot_tags", &c.snapshot_tags)?,
            run_tags: map("run_tags", &c.run_tags)?,
            run_volume_tags: map("run_volume_tags", &c.run_volume_tags)?,
            spot_tags: map("spot_tags", &c.spot_tags)?,
        };
        Ok(())
    }

    /// The tags every temporary resource carries: the kiln run and build that made it, and
    /// when it may be reaped if nothing deleted it.
    pub fn kiln_tags(&self, cx: &kiln_core::plugin::BuildCx) -> Vec<aws_sdk_ec2::types::Tag> {
        let expires = chrono::Utc::now() + chrono::Duration::hours(TEMPORARY_TTL_HOURS);
        [
            ("kiln:run", self.run_uuid.clone()),
            ("kiln:build", cx.info.name.clone()),
            (
                "kiln:expires",
                expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ]
        .into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
    }

    /// Settles the intent of a create call the API refused: nothing was made. (A call that
    /// failed in transport may have made it, so its intent stays open for cleanup.)
    pub fn refused<E, R>(
        &self,
        cx: &kiln_core::plugin::BuildCx,
        kind: &str,
        key: &str,
        e: &aws_sdk_ec2::error::SdkError<E, R>,
    ) {
        if matches!(e, aws_sdk_ec2::error::SdkError::ServiceError(_)) {
            self.journal(cx, kind, key, "", kiln_core::journal::Event::Deleted);
        }
    }

    /// The template's tag maps merged in order (a later map's value wins), then kiln's own
    /// tags: one list with each key once, as CreateTags and tag specifications need.
    pub fn with_kiln_tags(
        &self,
        cx: &kiln_core::plugin::BuildCx,
        maps: &[&BTreeMap<String, String>],
    ) -> Vec<aws_sdk_ec2::types::Tag> {
        let mut all: BTreeMap<String, String> = BTreeMap::new();
        for m in maps {
            all.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for t in self.kiln_tags(cx) {
            all.insert(
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            );
        }
        all.into_iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .collect()
    }

    /// [`State::with_kiln_tags`] as a tag specification for one resource type.
    pub fn kiln_tag_spec(
        &self,
        cx: &kiln_core::plugin::BuildCx,
        kind: aws_sdk_ec2::types::ResourceType,
        maps: &[&BTreeMap<String, String>],
    ) -> aws_sdk_ec2::types::TagSpecification {
        aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(self.with_kiln_tags(cx, maps)))
            .build()
    }

    /// Journal record helper.
    pub fn journal(
        &self,
        cx: &kiln_core::plugin::BuildCx,
        kind: &str,
        key: &str,
        id: &str,
        event: kiln_core::journal::Event,
    ) {
        let place: Vec<(&str, &str)> = self
            .place
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        cx.info
            .journal
            .record(&cx.info.name, kind, key, id, &place, event);
    }
}

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        self.comm.clone()
    }

    fn generated_data(&self) -> GeneratedData {
        let mut d = self.conn.as_ref().map(ConnInfo::data).unwrap_or_default();
        d.insert("PackerRunUUID".into(), self.run_uuid.clone());
        for (k, v) in self.build_info() {
            if let TVal::Str(v) = v {
                d.insert(k.into(), v);
            }
        }
        d.insert("SourceAMI".into(), self.source_ami.clone());
        d.insert("ID".into(), self.instance_id.clone().unwrap_or_default());
        d
    }
}

impl ConnectState for State {
    fn machine_host(&self) -> Option<String> {
        self.host.clone()
    }

    fn machine_private_key(&self) -> Option<(String, String)> {
        let key = self.private_key.clone()?;
        let name = self
            .key_name
            .clone()
            .unwrap_or_else(|| "the temporary key pair".into());
        Some((key, format!("key pair {name}")))
    }

    fn temporary_public_key(&self) -> Option<String> {
        self.public_key.clone()
    }

    fn set_communicator(&mut self, comm: Arc<dyn Communicator>, info: ConnInfo) {
        self.comm = Some(comm);
        self.conn = Some(info);
    }
}
