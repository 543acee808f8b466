//! Packer's block device mappings as EC2's: `launch_block_device_mappings` for the build
//! instance, `ami_block_device_mappings` for the image.

use crate::config::BlockDevice;
use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, VolumeType};

/// One mapping, as RunInstances and CreateImage take it.
pub fn mapping(b: &BlockDevice) -> BlockDeviceMapping {
    let mut m = BlockDeviceMapping::builder().device_name(&b.device_name);
    if b.no_device {
        return m.no_device("").build();
    }
    if !b.virtual_name.is_empty() {
        return m.virtual_name(&b.virtual_name).build();
    }
    let mut ebs = EbsBlockDevice::builder().delete_on_termination(b.delete_on_termination);
    if let Some(e) = b.encrypted {
        ebs = ebs.encrypted(e);
    }
    if let Some(iops) = b.iops {
        ebs = ebs.iops(iops);
    }
    if let Some(t) = b.throughput {
        ebs = ebs.throughput(t);
    }
    if !b.snapshot_id.is_empty() {
        ebs = ebs.snapshot_id(&b.snapshot_id);
    }
    if !b.volume_type.is_empty() {
        ebs = ebs.volume_type(VolumeType::from(b.volume_type.as_str()));
    }
    if let Some(size) = b.volume_size {
        ebs = ebs.volume_size(size);
    }
    if !b.kms_key_id.is_empty() {
        ebs = ebs.kms_key_id(&b.kms_key_id);
    }
    m = m.ebs(ebs.build());
    m.build()
}

/// Every mapping of a list.
pub fn mappings(list: &[BlockDevice]) -> Option<Vec<BlockDeviceMapping>> {
    (!list.is_empty()).then(|| list.iter().map(mapping).collect())
}
