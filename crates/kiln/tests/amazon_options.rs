//! amazon-ebs options against moto and an sshd target: source_ami_filter, block device
//! mappings, ENA, AMI copies to other regions with an encrypted boot image, and sharing.

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{ec2_target, Moto};

fn build(m: &Moto, dir: &std::path::Path, builder_json: &str) -> (i32, String) {
    let tpl = dir.join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{builder_json}], "provisioners": [{{"type": "shell", "inline": ["true"]}}]}}"#
        ),
    )
    .unwrap();
    let url = m.url();
    let out = run_in(
        dir,
        &[
            "build",
            "-color=false",
            "-machine-readable",
            tpl.to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "dummy-access"),
            ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", url.as_str()),
        ],
    );
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[test]
fn source_ami_filter_finds_the_newest_match_or_refuses_several() {
    let m = Moto::start();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let common = format!(
        r#""type": "amazon-ebs", "region": "us-east-1", "instance_type": "t2.micro",
           "ssh_username": "centos", "ssh_host": "127.0.0.1", "ssh_port": {}, "skip_create_ami": true"#,
        t.port
    );
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(
            r#"{{{common}, "source_ami_filter": {{"filters": {{"name": "CentOS 7 20*", "virtualization-type": "hvm"}},
                  "owners": ["679593333241"], "most_recent": true}}}}"#
        ),
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Found Image ID: ami-0000000000000a021"),
        "{text}"
    );
    let instances = m.query("Action=DescribeInstances");
    assert!(
        Moto::values(&instances, "imageId").contains(&"ami-0000000000000a021".to_string()),
        "{instances}"
    );
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(
            r#"{{{common}, "source_ami_filter": {{"filters": {{"name": "CentOS 7 20*"}}, "owners": ["679593333241"]}}}}"#
        ),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("more than one result (2 AMIs match name=CentOS 7 20*"),
        "{text}"
    );
    assert!(text.contains("set most_recent to true"), "{text}");
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(
            r#"{{{common}, "source_ami_filter": {{"filters": {{"name": "no such image*"}}}}}}"#
        ),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("No AMI was found matching name=no such image*"),
        "{text}"
    );
}

#[test]
fn copies_encryption_sharing_and_block_devices() {
    let m = Moto::start_multi_region();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(
            r#"{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                "instance_type": "t2.micro", "ssh_username": "centos", "ssh_host": "127.0.0.1",
                "ssh_port": {}, "ami_name": "copied-{{{{timestamp}}}}",
                "ami_regions": ["us-west-2", "eu-west-1", "us-west-2"], "encrypt_boot": true,
                "ami_users": ["111122223333"], "snapshot_users": ["111122223333"],
                "tags": {{"Team": "images"}}, "ena_support": true,
                "launch_block_device_mappings": [{{"device_name": "/dev/sdb", "volume_size": 5,
                    "volume_type": "gp3", "delete_on_termination": false}}],
                "ami_block_device_mappings": [{{"device_name": "/dev/sdc", "virtual_name": "ephemeral0"}}]}}"#,
            t.port
        ),
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    // One AMI per region, the artifact lists them by region as Packer does.
    let mut ids = Vec::new();
    for region in ["eu-west-1", "us-east-1", "us-west-2"] {
        let images = m.query_in(region, "Action=DescribeImages&Owner.1=self");
        let found = Moto::values(&images, "imageId");
        assert_eq!(found.len(), 1, "{region}: {images}");
        ids.push(format!("{region}:{}", found[0]));
        // Shared with the account, tagged, no longer expiring.
        let perms = m.query_in(
            region,
            &format!(
                "Action=DescribeImageAttribute&ImageId={}&Attribute=launchPermission",
                found[0]
            ),
        );
        assert!(perms.contains("111122223333"), "{region}: {perms}");
        let tags = m.query_in(
            region,
            &format!(
                "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1={}",
                found[0]
            ),
        );
        let keys = Moto::values(&tags, "key");
        assert!(keys.contains(&"Team".to_string()), "{region}: {tags}");
        assert!(
            !keys.contains(&"kiln:expires".to_string()),
            "{region}: {tags}"
        );
    }
    assert!(
        text.contains(&format!(
            "amazon-ebs,artifact,0,id,{}",
            ids.join("%!(PACKER_COMMA)")
        )),
        "{ids:?}\n{text}"
    );
    // The build region's AMI is the encrypted copy; the unencrypted first AMI is gone.
    assert!(text.contains("Deregistering the unencrypted AMI"), "{text}");
    // The build instance had the extra volume (kept, as asked: not deleted on termination)
    // and ENA set before imaging.
    let volumes = m.query("Action=DescribeVolumes");
    assert!(
        Moto::values(&volumes, "size").contains(&"5".to_string()),
        "{volumes}"
    );
    assert!(
        Moto::values(&volumes, "volumeType").contains(&"gp3".to_string()),
        "{volumes}"
    );
    assert!(
        text.contains("Enabling enhanced networking (ENA)"),
        "{text}"
    );
    // Nothing temporary left anywhere but the products.
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

#[test]
fn vpc_subnet_and_security_group_filters() {
    let m = Moto::start();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let vpc = Moto::values(
        &m.query("Action=CreateVpc&CidrBlock=10.99.0.0%2F16"),
        "vpcId",
    )[0]
    .clone();
    m.query(&format!(
        "Action=CreateTags&ResourceId.1={vpc}&Tag.1.Key=Name&Tag.1.Value=kiln-vpc"
    ));
    let mut subnets = Vec::new();
    for (cidr, name) in [
        ("10.99.1.0%2F24", "kiln-big"),
        ("10.99.2.0%2F26", "kiln-small"),
    ] {
        let id = Moto::values(
            &m.query(&format!(
                "Action=CreateSubnet&VpcId={vpc}&CidrBlock={cidr}&AvailabilityZone=us-east-1b"
            )),
            "subnetId",
        )[0]
        .clone();
        m.query(&format!(
            "Action=CreateTags&ResourceId.1={id}&Tag.1.Key=Name&Tag.1.Value={name}"
        ));
        subnets.push(id);
    }
    let group = Moto::values(
        &m.query(&format!(
            "Action=CreateSecurityGroup&GroupName=kiln-ssh&GroupDescription=ssh&VpcId={vpc}"
        )),
        "groupId",
    )[0]
    .clone();
    let common = format!(
        r#""type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf", "instance_type": "t2.micro",
           "ssh_username": "centos", "ssh_host": "127.0.0.1", "ssh_port": {}, "skip_create_ami": true,
           "associate_public_ip_address": true,
           "vpc_filter": {{"filters": {{"tag:Name": "kiln-vpc"}}}},
           "security_group_filter": {{"filters": {{"group-name": "kiln-ssh"}}}}"#,
        t.port
    );
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(
            r#"{{{common}, "subnet_filter": {{"filters": {{"tag:Name": "kiln-*"}}, "most_free": true}}}}"#
        ),
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("Found VPC ID: {vpc}")), "{text}");
    assert!(
        text.contains(&format!("Found Subnet ID: {}", subnets[0])),
        "{text}"
    );
    assert!(
        text.contains(&format!("Found Security Group(s): {group}")),
        "{text}"
    );
    assert!(
        !text.contains("Creating temporary security group"),
        "{text}"
    );
    let instances = m.query("Action=DescribeInstances");
    assert!(
        Moto::values(&instances, "subnetId").contains(&subnets[0]),
        "{instances}"
    );
    // Two matches without most_free or random: refused, as Packer refuses.
    let (code, text) = build(
        &m,
        dir.path(),
        &format!(r#"{{{common}, "subnet_filter": {{"filters": {{"tag:Name": "kiln-*"}}}}}}"#),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Your filter matched 2 Subnets"), "{text}");
}
