//! The `amazon-ebs` builder on the official AWS SDK. Its own crate, because the EC2 SDK is
//! heavy to compile: edits elsewhere do not rebuild it.

pub mod block_devices;
pub mod builder;
pub mod cleanup;
pub mod client;
pub mod config;
pub mod datasource;
pub mod iam;
pub mod reap;
mod release;
pub mod state;
pub mod step_ami_regions;
pub mod step_create_ami;
pub mod step_iam_profile;
pub mod step_key_pair;
pub mod step_modify_ami;
pub mod step_network_info;
pub mod step_prepare;
pub mod step_run_instance;
pub mod step_security_group;
pub mod step_source_ami;
pub mod vault;
pub mod wait;

use kiln_core::plugin::Registry;

/// Registers `amazon-ebs`.
pub fn register(r: &mut Registry) {
    // As Packer: these are rendered at build time, with the source image's build info.
    r.builder_rendering(
        "amazon-ebs",
        builder::new,
        &[
            "ami_description",
            "run_tags",
            "run_tag",
            "run_volume_tags",
            "run_volume_tag",
            "spot_tags",
            "spot_tag",
            "snapshot_tags",
            "snapshot_tag",
            "tags",
            "tag",
        ],
    );
    r.cleaner("ec2:", cleanup::cleaner);
    r.cleaner("iam:", cleanup::cleaner);
    r.cleaner("vault:", vault::clean);
    r.at_run_end(vault::revoke_leases);
    r.reaper("amazon", reap::reaper);
}
