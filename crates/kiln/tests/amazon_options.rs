//! amazon-ebs options against moto and an sshd target: source_ami_filter, block device
//! mappings, ENA, AMI copies to other regions with an encrypted boot image, and sharing.

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{
    aws_env, build, build_at, build_template, build_with, ebs_builder, ec2_target, Moto, Proxy,
};
use std::collections::BTreeMap;

/// The tags of an EC2 resource, key to value.
fn tags_of(m: &Moto, region: &str, id: &str) -> BTreeMap<String, String> {
    let xml = m.query_in(
        region,
        &format!("Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1={id}"),
    );
    Moto::values(&xml, "key")
        .into_iter()
        .zip(Moto::values(&xml, "value"))
        .collect()
}

/// The snapshots of the account's image in `region`.
fn image_and_snapshots(m: &Moto, region: &str) -> (String, String, Vec<String>) {
    let xml = m.query_in(region, "Action=DescribeImages&Owner.1=self");
    let ids = Moto::values(&xml, "imageId");
    assert_eq!(ids.len(), 1, "{region}: {xml}");
    let description = Moto::values(&xml, "description").pop().unwrap_or_default();
    (
        ids[0].clone(),
        description,
        Moto::values(&xml, "snapshotId"),
    )
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
            r#"{{{common}, "source_ami_filter": {{"filters": {{"name": "no such image*"}}, "owners": ["self"]}}}}"#
        ),
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("No AMI was found matching name=no such image*%!(PACKER_COMMA) owners self"),
        "{text}"
    );
}

#[test]
fn copies_encryption_sharing_and_block_devices() {
    let m = Moto::start_multi_region();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = build_template(
        &proxy.url(),
        dir.path(),
        &ebs_builder(
            t.port,
            "copied-{{timestamp}}",
            r#",
                "ami_regions": ["us-west-2", "eu-west-1", "us-west-2"], "encrypt_boot": true,
                "kms_key_id": "alias/images",
                "region_kms_key_ids": {"us-west-2": "alias/images-west", "eu-west-1": "alias/images-eu"},
                "ami_users": ["111122223333"], "snapshot_users": ["111122223333"],
                "tags": {"Team": "images"}, "ena_support": true,
                "launch_block_device_mappings": [{"device_name": "/dev/sdb", "volume_size": 5,
                    "volume_type": "gp3", "delete_on_termination": false}],
                "ami_block_device_mappings": [{"device_name": "/dev/sdc", "virtual_name": "ephemeral0"}]"#,
        ),
        // A Vagrant box of the AMIs, which it keeps (keep_input_artifact cannot drop them).
        r#", "post-processors": [{"type": "vagrant", "output": "box/{{.Provider}}.box",
            "keep_input_artifact": false}]"#,
        &[],
        &["-machine-readable"],
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
    // The box: each region's AMI in the Vagrantfile, in region order, as Packer writes it.
    let boxed = dir.path().join("box/aws.box");
    let member = |name: &str| String::from_utf8_lossy(&tar_gz_member(&boxed, name)).into_owned();
    assert_eq!(member("metadata.json"), "{\"provider\":\"aws\"}\n");
    let regions: String = ids
        .iter()
        .map(|id| {
            let (r, ami) = id.split_once(':').unwrap();
            format!("\n\taws.region_config \"{r}\", ami: \"{ami}\"\n\t")
        })
        .collect();
    assert!(
        member("Vagrantfile").contains(&format!(
            "  config.vm.provider \"aws\" do |aws|\n    {regions}\n  end\nend\n"
        )),
        "{}",
        member("Vagrantfile")
    );
    assert!(text.contains("amazon-ebs,artifact,1,id,aws"), "{text}");
    // The build region's AMI is the encrypted copy; the unencrypted first AMI is gone.
    assert!(text.contains("Deregistering the unencrypted AMI"), "{text}");
    // The build instance had the extra volume, not deleted on termination as the template
    // asks, so that the AMI's mapping says so too. Once CreateImage had copied the mapping,
    // the volume was set to go with the instance (Packer leaves it behind), and ENA was set
    // before imaging.
    let requests = proxy.requests();
    let run = &requests.iter().find(|r| r.0 == "RunInstances").unwrap().1;
    let sdb = (1..=3)
        .map(|n| format!("BlockDeviceMapping.{n}."))
        .find(|p| run.get(&format!("{p}DeviceName")).map(String::as_str) == Some("/dev/sdb"))
        .unwrap_or_else(|| panic!("{run:?}"));
    for (k, v) in [
        ("Ebs.VolumeSize", "5"),
        ("Ebs.VolumeType", "gp3"),
        ("Ebs.DeleteOnTermination", "false"),
    ] {
        assert_eq!(
            run.get(&format!("{sdb}{k}")).map(String::as_str),
            Some(v),
            "{run:?}"
        );
    }
    let image = requests.iter().position(|r| r.0 == "CreateImage").unwrap();
    let released = requests
        .iter()
        .position(|r| {
            r.0 == "ModifyInstanceAttribute"
                && r.1
                    .get("BlockDeviceMapping.1.DeviceName")
                    .map(String::as_str)
                    == Some("/dev/sdb")
                && r.1
                    .get("BlockDeviceMapping.1.Ebs.DeleteOnTermination")
                    .map(String::as_str)
                    == Some("true")
        })
        .unwrap_or_else(|| panic!("the volume was not set to go: {requests:?}"));
    assert!(image < released, "{requests:?}");
    assert!(
        text.contains("Enabling enhanced networking (ENA)"),
        "{text}"
    );
    // Nothing temporary left anywhere but the products.
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// A volume launched with delete_on_termination false outlives the instance in Packer ("additional
/// volumes will accumulate after every build", its docs say). kiln sets it to go with the
/// instance when no AMI is made too: after a build without one, and after a failed build.
#[test]
fn volumes_launched_to_outlive_the_instance_go_with_it_when_no_ami_is_made() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let volume =
        r#""launch_block_device_mappings": [{"device_name": "/dev/sdb", "volume_size": 5}]"#;
    let builder = ebs_builder(
        t.port,
        "volumes",
        &format!(r#", "skip_create_ami": true, {volume}"#),
    );
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(m.everything_left(), Vec::<String>::new(), "{text}");
    // Failed while provisioning.
    let builder = ebs_builder(t.port, "volumes", &format!(", {volume}"));
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(r#"{{"builders": [{builder}], "provisioners": [{{"type": "shell", "inline": ["exit 3"]}}]}}"#),
    )
    .unwrap();
    let url = proxy.url();
    let mut env = aws_env(&url);
    env.push(("KILN_STATE_DIR", dir.path().to_str().unwrap()));
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        m.everything_left(),
        Vec::<String>::new(),
        "{}",
        stdout(&out)
    );
    assert!(
        proxy
            .calls()
            .contains(&"ModifyInstanceAttribute".to_string()),
        "{:?}",
        proxy.calls()
    );
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

#[test]
fn tags_render_build_info_in_every_region_and_launch_options_reach_ec2() {
    let m = Moto::start_multi_region();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = build_at(
        &proxy.url(),
        dir.path(),
        &ebs_builder(
            t.port,
            "info-{{timestamp}}",
            r#", "ami_regions": ["us-west-2"],
                "ami_description": "from {{ .SourceAMIName }}",
                "tags": {"Base": "{{ .SourceAMIName }}", "Region": "{{ .BuildRegion }}",
                         "Literal": "{{env `KILN_TAG_TEXT`}}"},
                "tag": [{"key": "Block", "value": "yes"}],
                "snapshot_tags": {"Snap": "{{ .SourceAMI }}"},
                "snapshot_tag": [{"key": "SnapBlock", "value": "1"}],
                "run_tag": [{"key": "Owner", "value": "{{ .SourceAMIOwner }}"}],
                "tenancy": "dedicated", "enable_t2_unlimited": true, "no_ephemeral": true,
                "ami_product_codes": ["kilnprod1"], "max_retries": 5,
                "temporary_key_pair_name": "kiln-named-key""#,
        ),
        &[("KILN_TAG_TEXT", "{{ .SourceAMI }}")],
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let import = proxy
        .requests()
        .into_iter()
        .find(|r| r.0 == "ImportKeyPair");
    assert_eq!(
        import.map(|r| r.1["KeyName"].clone()).as_deref(),
        Some("kiln-named-key")
    );
    for region in ["us-east-1", "us-west-2"] {
        let (ami, description, snapshots) = image_and_snapshots(&m, region);
        // Rendered with the source image's info, the build region's in both regions.
        assert_eq!(description, "from CentOS 7 (kiln test)", "{region}");
        let tags = tags_of(&m, region, &ami);
        assert_eq!(
            tags.get("Base").map(String::as_str),
            Some("CentOS 7 (kiln test)"),
            "{region}: {tags:?}"
        );
        assert_eq!(
            tags.get("Region").map(String::as_str),
            Some("us-east-1"),
            "{region}: {tags:?}"
        );
        assert_eq!(
            tags.get("Block").map(String::as_str),
            Some("yes"),
            "{region}: {tags:?}"
        );
        // Rendered once, at build time, as in Packer: a value is not read as a template.
        assert_eq!(
            tags.get("Literal").map(String::as_str),
            Some("{{ .SourceAMI }}"),
            "{region}: {tags:?}"
        );
        assert!(!snapshots.is_empty(), "{region}");
        for snap in &snapshots {
            let tags = tags_of(&m, region, snap);
            assert_eq!(
                tags.get("Snap").map(String::as_str),
                Some("ami-af4333cf"),
                "{region} {snap}: {tags:?}"
            );
            assert_eq!(
                tags.get("SnapBlock").map(String::as_str),
                Some("1"),
                "{region} {snap}: {tags:?}"
            );
            assert_eq!(
                tags.get("Base").map(String::as_str),
                Some("CentOS 7 (kiln test)"),
                "{region} {snap}: {tags:?}"
            );
        }
    }
    // The instance (terminated, still listed) carried the rendered run tag, Packer's default
    // name (the run tags give none) and kiln's tags.
    let instances = m.query("Action=DescribeInstances");
    let instance = Moto::values(&instances, "instanceId").pop().unwrap();
    let instance_tags = tags_of(&m, "us-east-1", &instance);
    assert_eq!(
        instance_tags.get("Owner").map(String::as_str),
        Some("679593333241")
    );
    assert_eq!(
        instance_tags.get("Name").map(String::as_str),
        Some("Packer Builder")
    );
    assert!(instance_tags.contains_key("kiln:run"), "{instance_tags:?}");
    // What RunInstances and ModifyImageAttribute were asked, over the wire.
    let requests = proxy.requests();
    let run = &requests
        .iter()
        .find(|r| r.0 == "RunInstances")
        .expect("RunInstances")
        .1;
    assert_eq!(
        run.get("Placement.Tenancy").map(String::as_str),
        Some("dedicated"),
        "{run:?}"
    );
    assert_eq!(
        run.get("CreditSpecification.CpuCredits")
            .map(String::as_str),
        Some("unlimited"),
        "{run:?}"
    );
    let hidden: Vec<&String> = run
        .iter()
        .filter(|(k, v)| {
            k.starts_with("BlockDeviceMapping.")
                && k.ends_with(".DeviceName")
                && v.starts_with("xvdc")
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(hidden.len(), 26, "{run:?}");
    let codes: Vec<&BTreeMap<String, String>> = requests
        .iter()
        .filter(|r| r.0 == "ModifyImageAttribute" && r.1.contains_key("ProductCode.1"))
        .map(|r| &r.1)
        .collect();
    assert_eq!(codes.len(), 2, "one per region: {codes:?}");
    assert!(
        codes.iter().all(|c| c["ProductCode.1"] == "kilnprod1"),
        "{codes:?}"
    );
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// While EC2 makes the AMI (held pending 1 s by the proxy), the stopped instance gives up its
/// temporary group and key pair and the snapshots get their tags: once the AMI is ready only
/// the instance's termination is left. The template's tags are on the AMI from CreateImage on.
#[test]
fn group_key_pair_and_snapshot_tags_are_done_while_the_ami_is_made() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 1.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = ebs_builder(
        t.port,
        "early-{{timestamp}}",
        r#", "tags": {"Name": "early"}, "snapshot_tags": {"Disk": "root"}"#,
    );
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let requests = proxy.requests();
    let actions: Vec<&str> = requests.iter().map(|r| r.0.as_str()).collect();
    let created = actions.iter().position(|a| *a == "CreateImage").unwrap();
    // Prevalidation checked the name: without force_deregister it is not looked up again.
    let stopped = actions.iter().position(|a| *a == "StopInstances").unwrap();
    assert!(
        !actions[stopped..created].contains(&"DescribeImages"),
        "{actions:?}"
    );
    let terminated = actions
        .iter()
        .position(|a| *a == "TerminateInstances")
        .unwrap();
    // The poll that found the AMI available: the last look at it before the termination.
    let ready = actions[..terminated]
        .iter()
        .rposition(|a| *a == "DescribeImages")
        .unwrap();
    assert!(
        actions[created..ready]
            .iter()
            .filter(|a| **a == "DescribeImages")
            .count()
            >= 2,
        "the AMI was pending for a while: {actions:?}"
    );
    for action in ["DeleteSecurityGroup", "DeleteKeyPair", "CreateTags"] {
        let at: Vec<usize> = (0..actions.len())
            .filter(|&i| actions[i] == action)
            .collect();
        assert_eq!(at.len(), 1, "{action} once: {actions:?}");
        assert!(
            created < at[0] && at[0] < ready,
            "{action} while the AMI was made: {actions:?}"
        );
    }
    // Packer's rule: tags on the AMI and its snapshots, snapshot_tags on the snapshots.
    let (ami, _, snapshots) = image_and_snapshots(&m, "us-east-1");
    let image_tags = tags_of(&m, "us-east-1", &ami);
    assert_eq!(image_tags.get("Name").map(String::as_str), Some("early"));
    assert!(!image_tags.contains_key("Disk"), "{image_tags:?}");
    assert!(!snapshots.is_empty());
    for snap in &snapshots {
        let tags = tags_of(&m, "us-east-1", snap);
        assert_eq!(
            tags.get("Name").map(String::as_str),
            Some("early"),
            "{tags:?}"
        );
        assert_eq!(
            tags.get("Disk").map(String::as_str),
            Some("root"),
            "{tags:?}"
        );
        assert!(tags.contains_key("kiln:run"), "{tags:?}");
    }
    let create = &requests[created].1;
    assert!(
        create
            .iter()
            .any(|(k, v)| k.starts_with("TagSpecification.1.Tag.") && v == "early"),
        "{create:?}"
    );
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());

    // A name another build took meanwhile: EC2's Duplicate is said plainly, nothing is left.
    // (Without the lag the calls come in a fixed order: learn where CreateImage falls.)
    proxy.configure(0.0, None);
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 0, "{text}");
    m.remove_products();
    let n = proxy
        .calls()
        .iter()
        .position(|c| c == "CreateImage")
        .unwrap()
        + 1;
    proxy.configure_fault(0.0, Some(n), "InvalidAMIName.Duplicate");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "was taken in us-east-1 while the build ran (set force_deregister to replace it)"
        ),
        "{text}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

#[test]
fn the_calls_before_the_launch_go_together_reads_first_and_a_failed_check_makes_nothing() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    // Every call answers half a second late: calls made together overlap by far more than
    // any scheduling noise, calls made one after another not at all.
    proxy.configure_slow(0.5);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = ebs_builder(t.port, "together", "");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let calls = proxy.timed();
    let launch = calls.iter().position(|c| c.0 == "RunInstances").unwrap();
    let before = &calls[..launch];
    let of = |action: &str| -> Vec<&(String, f64, f64)> {
        before.iter().filter(|c| c.0 == action).collect()
    };
    let overlap = |a: &(String, f64, f64), b: &(String, f64, f64)| a.1 < b.2 && b.1 < a.2;
    // The reads: the AMI name check and the source AMI, at once.
    let reads = of("DescribeImages");
    assert_eq!(reads.len(), 2, "{before:?}");
    assert!(overlap(reads[0], reads[1]), "{before:?}");
    // Then the creates, at once, each after both reads were answered.
    let (key, group) = (of("ImportKeyPair"), of("CreateSecurityGroup"));
    assert_eq!((key.len(), group.len()), (1, 1), "{before:?}");
    assert!(overlap(key[0], group[0]), "{before:?}");
    for create in [key[0], group[0]] {
        assert!(reads.iter().all(|r| r.2 <= create.1), "{before:?}");
    }
    // The launch once all of them, the group's ingress rule too, were answered.
    assert!(before.iter().all(|c| c.2 <= calls[launch].1), "{calls:?}");
    assert_eq!(
        before.last().map(|c| c.0.as_str()),
        Some("AuthorizeSecurityGroupIngress"),
        "{before:?}"
    );
    // The name is taken now: the check fails, and nothing is created.
    proxy.configure_slow(0.0);
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("AMI Name: 'together' is used by an existing AMI"),
        "{text}"
    );
    let actions = proxy.calls();
    for create in ["ImportKeyPair", "CreateSecurityGroup", "RunInstances"] {
        assert!(!actions.contains(&create.to_string()), "{actions:?}");
    }
    assert_eq!(m.leftovers(), (vec![], vec![], vec![]), "{text}");
}

#[test]
fn a_retry_at_the_prompt_first_deletes_what_the_failed_attempt_made() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    // The security group fails once; the key pair made beside it succeeds.
    proxy.configure_action_failure("CreateSecurityGroup", 1);
    std::fs::write(
        dir.path().join("t.json"),
        format!(
            r#"{{"builders": [{}], "provisioners": [{{"type": "shell", "inline": ["true"]}}]}}"#,
            ebs_builder(t.port, "retried", "")
        ),
    )
    .unwrap();
    let url = proxy.url();
    let (code, text) = on_a_terminal(
        dir.path(),
        &["-color=false", "-on-error=ask", "t.json"],
        &aws_env(&url),
        "retry\n",
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    assert!(text.contains("Step \"StepPrepare\" failed"), "{text}");
    let requests = proxy.requests();
    let named = |action: &str| -> Vec<(usize, String)> {
        requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.0 == action)
            .map(|(i, r)| (i, r.1.get("KeyName").cloned().unwrap_or_default()))
            .collect()
    };
    // Two attempts, two key pairs: the first attempt's went before the second began.
    let imports = named("ImportKeyPair");
    assert_eq!(imports.len(), 2, "{requests:?}");
    let deleted = named("DeleteKeyPair");
    let first_gone = deleted
        .iter()
        .find(|(_, k)| *k == imports[0].1)
        .unwrap_or_else(|| panic!("{requests:?}"));
    assert!(first_gone.0 < imports[1].0, "{requests:?}");
    assert_eq!(m.leftovers(), (vec![], vec![], vec![]), "{text}");
}

#[test]
fn a_temporary_instance_profile_lives_as_long_as_the_build() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = build_at(
        &proxy.url(),
        dir.path(),
        &ebs_builder(
            t.port,
            "profile-{{timestamp}}",
            r#",
                "temporary_iam_instance_profile_policy_document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}"#,
        ),
        &[],
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let requests = proxy.requests();
    let profile = &requests
        .iter()
        .find(|r| r.0 == "CreateInstanceProfile")
        .expect("a profile was made")
        .1["InstanceProfileName"];
    assert!(profile.starts_with("packer-"), "{profile}");
    let policy = &requests
        .iter()
        .find(|r| r.0 == "PutRolePolicy")
        .expect("PutRolePolicy")
        .1;
    let doc: serde_json::Value = serde_json::from_str(&policy["PolicyDocument"]).unwrap();
    assert_eq!(doc["Statement"][0]["Action"][0], "s3:GetObject", "{doc}");
    let run = &requests
        .iter()
        .find(|r| r.0 == "RunInstances")
        .expect("RunInstances")
        .1;
    assert_eq!(run.get("IamInstanceProfile.Name"), Some(profile), "{run:?}");
    // Made before the instance, deleted after it, in Packer's order.
    let order: Vec<&str> = requests.iter().map(|r| r.0.as_str()).collect();
    let at = |a: &str| {
        order
            .iter()
            .position(|x| *x == a)
            .unwrap_or_else(|| panic!("{a}: {order:?}"))
    };
    assert!(
        at("AddRoleToInstanceProfile") < at("RunInstances"),
        "{order:?}"
    );
    assert!(
        at("TerminateInstances") < at("DeleteInstanceProfile"),
        "{order:?}"
    );
    assert_says(
        &text,
        &[
            "Creating temporary instance profile for this instance: packer-",
            "Deleting temporary role...",
            "Deleting temporary instance profile...",
        ],
    );
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());

    // A template's own profile is looked up first (unless skip_profile_validation).
    let (code, text) = build_at(
        &proxy.url(),
        dir.path(),
        r#"{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
            "instance_type": "t2.micro", "ssh_username": "centos", "ami_name": "missing-profile",
            "iam_instance_profile": "no-such-profile"}"#,
        &[],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Couldn't find specified instance profile no-such-profile"),
        "{text}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// IAM throttling a call is waited out and the call made again, as the SDK does; an error
/// that is not throttling fails the build at once and nothing is left; IAM's own endpoint
/// variable is honoured.
#[test]
fn throttled_iam_calls_are_tried_again_and_refusals_are_not() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = ebs_builder(
        t.port,
        "iam-retry-{{timestamp}}",
        r#", "temporary_iam_instance_profile_policy_document": {
               "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}]}"#,
    );
    proxy.configure_action_refusal("CreateRole", 2, "Throttling");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let calls = proxy.calls();
    let roles = calls.iter().filter(|c| *c == "CreateRole").count();
    assert_eq!(roles, 3, "{calls:?}");
    assert!(calls.iter().any(|c| c == "DeleteRole"), "{calls:?}");
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());

    proxy.configure_action_refusal("PutRolePolicy", 1, "MalformedPolicyDocument");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("IAM PutRolePolicy failed: MalformedPolicyDocument: fault injected at call"),
        "{text}"
    );
    let calls = proxy.calls();
    let puts = calls.iter().filter(|c| *c == "PutRolePolicy").count();
    assert_eq!(puts, 1, "{calls:?}");
    assert!(!calls.iter().any(|c| c == "RunInstances"), "{calls:?}");
    assert_eq!(m.everything_left(), Vec::<String>::new());

    // AWS_ENDPOINT_URL_IAM sends IAM, and only IAM, elsewhere than AWS_ENDPOINT_URL.
    proxy.configure(0.0, None);
    let iam = [("AWS_ENDPOINT_URL_IAM", proxy.url())];
    let env: Vec<(&str, &str)> = iam.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, text) = build_at(&m.url(), dir.path(), &builder, &env);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let calls = proxy.calls();
    for call in [
        "CreateInstanceProfile",
        "CreateRole",
        "DeleteInstanceProfile",
    ] {
        assert!(calls.iter().any(|c| c == call), "{call}: {calls:?}");
    }
    assert!(!calls.iter().any(|c| c.contains("Instances")), "{calls:?}");
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// `kiln build -dry-run`: the read-only lookups, then every call that would create something
/// sent with DryRun, which EC2 (and moto) answer without making anything; a refusal fails the
/// dry run and names the call.
#[test]
fn dry_run_asks_ec2_about_each_create_and_makes_nothing() {
    let m = Moto::start_multi_region();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = ebs_builder(
        t.port,
        "dry-{{timestamp}}",
        r#", "ami_regions": ["us-west-2"]"#,
    );
    let dry = || build_with(&proxy.url(), dir.path(), &builder, &[], &["-dry-run"]);
    let (code, text) = dry();
    assert_eq!(code, 0, "{text}");
    assert_says(
        &text,
        &[
            "ImportKeyPair (the temporary key pair): would be allowed (EC2 dry run)",
            "CreateSecurityGroup (the temporary group): would be allowed (EC2 dry run)",
            "RunInstances (t2.micro from ami-af4333cf): would be allowed (EC2 dry run)",
            "Would then connect over ssh, provision, and create the AMI dry-",
            "in us-east-1, us-west-2",
            "Would run 1 provisioner(s): shell",
            "==> Dry run finished: nothing was created.",
        ],
    );
    let requests = proxy.requests();
    let creates: Vec<_> = requests
        .iter()
        .filter(|r| !r.0.starts_with("Describe"))
        .collect();
    let names: Vec<&str> = creates.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        ["ImportKeyPair", "CreateSecurityGroup", "RunInstances"],
        "{requests:?}"
    );
    assert!(
        creates
            .iter()
            .all(|r| r.1.get("DryRun").map(String::as_str) == Some("true")),
        "{creates:?}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
    assert!(
        !t.log().contains("Accepted publickey"),
        "a dry run does not log in:\n{}",
        t.log()
    );
    // EC2 refuses the launch (as it does without ec2:RunInstances): the dry run fails and
    // says which call and why.
    let n = proxy
        .calls()
        .iter()
        .position(|c| c == "RunInstances")
        .unwrap()
        + 1;
    proxy.configure_fault(0.0, Some(n), "UnauthorizedOperation");
    let (code, text) = dry();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("EC2 would refuse: EC2 RunInstances (t2.micro from ami-af4333cf) failed: UnauthorizedOperation"),
        "{text}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// aws_polling and Packer's variables for it set the waits' delay and attempts: an instance
/// that stays pending longer than they allow ends the build, saying in what state it was,
/// after that many polls that far apart, and nothing is left. Each option wins over its
/// variable, as in Packer.
#[test]
fn aws_polling_and_its_variables_bound_the_waits() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 10.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let url = proxy.url();
    let polls = || {
        let calls = proxy.timed();
        let polls: Vec<f64> = calls
            .iter()
            .skip_while(|c| c.0 != "RunInstances")
            .take_while(|c| c.0 != "TerminateInstances")
            .filter(|c| c.0 == "DescribeInstances")
            .map(|c| c.1)
            .collect();
        let gaps: Vec<f64> = polls.windows(2).map(|w| w[1] - w[0]).collect();
        (polls.len(), gaps)
    };
    for (polling, env, attempts, delay) in [
        (
            "",
            vec![("AWS_POLL_DELAY_SECONDS", "1"), ("AWS_MAX_ATTEMPTS", "3")],
            3,
            1.0,
        ),
        (
            r#", "aws_polling": {"delay_seconds": 2, "max_attempts": 2}"#,
            vec![("AWS_POLL_DELAY_SECONDS", "1"), ("AWS_MAX_ATTEMPTS", "100")],
            2,
            2.0,
        ),
    ] {
        proxy.configure(10.0, None);
        let builder = ebs_builder(t.port, "polling", polling);
        let (code, text) = build_with(&url, dir.path(), &builder, &env, &[]);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("to be running; its state was \"pending\""),
            "{text}"
        );
        assert!(text.contains("timed out after"), "{text}");
        // The polls, that far apart; then the cleanup's own look at the instance at once.
        let (n, gaps) = polls();
        let spaced = gaps.iter().filter(|g| (*g - delay).abs() < 0.5).count();
        assert_eq!(spaced, attempts - 1, "{polling} {env:?}: {gaps:?}");
        assert!(n <= attempts + 1, "{polling} {env:?}: {gaps:?}");
        assert!(
            gaps.iter().all(|g| (g - delay).abs() < 0.5 || *g < 0.3),
            "{polling} {env:?}: {gaps:?}"
        );
        assert_eq!(m.everything_left(), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn max_retries_bounds_retries_of_throttled_calls() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = |retries: u32| {
        format!(
            r#"{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                "instance_type": "t2.micro", "ssh_username": "centos", "ami_name": "retries",
                "ssh_host": "127.0.0.1", "ssh_port": {}, "skip_create_ami": true,
                "max_retries": {retries}}}"#,
            t.port
        )
    };
    // The first call (DescribeImages) throttled twice: two retries get through, one does not.
    proxy.configure_failure(1, 2, "RequestLimitExceeded", "Request limit exceeded.");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder(1), &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("RequestLimitExceeded"), "{text}");
    let calls = proxy.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "DescribeImages").count(),
        2,
        "{calls:?}"
    );

    proxy.configure_failure(1, 2, "RequestLimitExceeded", "Request limit exceeded.");
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder(2), &[]);
    assert_eq!(code, 0, "{text}");
    let calls = proxy.calls();
    assert!(
        calls.iter().take(3).all(|c| c == "DescribeImages"),
        "{calls:?}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

#[test]
fn packer_option_checks() {
    let dir = tempfile::tempdir().unwrap();
    // Each case's options over a valid base (a case may replace a base option).
    let template = |extra: &str| {
        let mut b: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                "instance_type": "t2.micro", "ssh_username": "centos", "ami_name": "checks"}"#,
        )
        .unwrap();
        let e: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&format!("{{{extra}}}")).unwrap();
        b.extend(e);
        serde_json::json!({"builders": [b]}).to_string()
    };
    let cases: &[(&str, &str)] = &[
        (
            r#""ssh_interface": "session_manager""#,
            "session_manager\" (AWS Session Manager) is not supported",
        ),
        (
            r#""ssh_interface": "carrier_pigeon""#,
            "Unknown interface type: carrier_pigeon",
        ),
        (r#""tenancy": "shared""#, "Unknown tenancy type shared"),
        (
            r#""enable_t2_unlimited": true, "instance_type": "m5.large""#,
            "T2 Unlimited enabled with a non-T2 Instance Type: m5.large",
        ),
        (
            r#""enable_t2_unlimited": true, "spot_price": "auto""#,
            "T2 Unlimited cannot be used in conjunction with Spot Instances",
        ),
        (
            r#""insecure_skip_tls_verify": true"#,
            "insecure_skip_tls_verify is refused",
        ),
        (
            r#""mfa_code": "123456", "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/r"}"#,
            "mfa_code is for a profile whose role needs MFA",
        ),
        (
            r#""vault_aws_engine": {"name": "builder"}, "access_key": "AKIA0", "secret_key": "s""#,
            "If you have set vault_aws_engine, you must not set the access_key or secret_key.",
        ),
        (
            r#""communicator": "winrm", "winrm_username": "Administrator", "winrm_use_ssl": true"#,
            "the winrm communicator is not available in kiln yet",
        ),
        (
            r#""vault_aws_engine": {"engine_name": "aws-prod"}"#,
            "vault_aws_engine needs the name of the engine's role",
        ),
        (
            r#""source_ami": "", "source_ami_filter": {"filters": {"name": "x"}}"#,
            "your source AMI filter must declare an owner",
        ),
        (
            r#""spot_instance_types": ["t3.micro"], "spot_price": "auto""#,
            "not both",
        ),
        (
            r#""spot_price": "auto", "block_duration_minutes": 90"#,
            "block_duration_minutes must be multiple of 60",
        ),
        (
            r#""spot_tags": {"a": "b"}"#,
            "spot_tags should not be set when not requesting a spot instance",
        ),
        (
            r#""security_group_id": "sg-1", "security_group_ids": ["sg-2"]"#,
            "Only one of security_group_id or security_group_ids",
        ),
        (
            r#""temporary_security_group_source_cidrs": ["10.0.0.0/33"]"#,
            "invalid CIDR address: 10.0.0.0/33",
        ),
        (r#""ami_name": "build:1""#, "AMIName should only contain"),
        (
            r#""encrypt_boot": true, "kms_key_id": "not a key!""#,
            "\"not a key!\" is not a valid KMS Key Id.",
        ),
        (
            r#""kms_key_id": "alias/images""#,
            "encrypt_boot must also be true",
        ),
        (
            r#""encrypt_boot": true, "ami_users": ["111122223333"]"#,
            "Cannot share AMI encrypted with default KMS key",
        ),
        (
            r#""ami_regions": ["us-west-2", "eu-west-1"], "region_kms_key_ids": {"us-west-2": "alias/a"}, "encrypt_boot": true"#,
            "Region eu-west-1 is in ami_regions but not in region_kms_key_ids",
        ),
        (
            r#""ssh_keypair_name": "mine""#,
            "ssh_private_key_file must be provided or ssh_agent_auth enabled",
        ),
        (
            r#""skip_save_build_region": true"#,
            "skip_save_build_region needs at least one other region",
        ),
        (
            r#""iam_instance_profile": "p", "temporary_iam_instance_profile_policy_document": {"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}"#,
            "cannot both be set",
        ),
        // Rendered at build time, but checked when the template is read.
        (
            r#""tags": {"Name": "{{ .SourceAMIName"}"#,
            "template syntax error",
        ),
    ];
    for (extra, says) in cases {
        let tpl = dir.path().join("t.json");
        std::fs::write(&tpl, template(extra)).unwrap();
        let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &[]);
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{extra}: {text}");
        assert!(
            text.contains(says),
            "{extra}: expected {says:?} in:\n{text}"
        );
        // Each is placed in the file (at the option it names, or the builder).
        assert!(
            text.contains(&format!("{}:1:", tpl.display())),
            "{extra}: no location in:\n{text}"
        );
    }
    // Packer's singular blocks, accepted beside the maps; a Packer-valid KMS alias ARN too.
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        template(
            r#""tag": [{"key": "a", "value": "b"}],
               "run_volume_tag": [{"key": "c", "value": "d"}], "spot_tag": [], "encrypt_boot": true,
               "kms_key_id": "arn:aws:kms:us-east-1:123456789012:alias/images",
               "source_ami_filter": {"filter": [{"key": "name", "value": "x"}], "owners": ["self"]},
               "windows_password_timeout": "10m", "skip_profile_validation": true,
               "spot_price_auto_product": "Linux/UNIX""#,
        ),
    )
    .unwrap();
    let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skip_save_build_region_keeps_only_the_copies() {
    let m = Moto::start_multi_region();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let builder = |extra: &str| {
        ebs_builder(
            t.port,
            "elsewhere-image",
            &format!(r#", "ami_regions": ["us-west-2"], "skip_save_build_region": true{extra}"#),
        )
    };
    let (code, text) = build(&m, dir.path(), &builder(""));
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let home = m.query_in("us-east-1", "Action=DescribeImages&Owner.1=self");
    assert!(Moto::values(&home, "imageId").is_empty(), "{home}");
    let (copy, _, _) = image_and_snapshots(&m, "us-west-2");
    let names = Moto::values(
        &m.query_in("us-west-2", "Action=DescribeImages&Owner.1=self"),
        "name",
    );
    assert_eq!(names, vec!["elsewhere-image".to_string()]);
    assert!(
        text.contains(&format!("amazon-ebs,artifact,0,id,us-west-2:{copy}\n")),
        "{text}"
    );
    assert!(
        text.contains("Deregistering the intermediary AMI"),
        "{text}"
    );

    // The name is taken where the build would register it (the copy's region): refused
    // before anything is launched, as Packer's prevalidation does...
    let instances = Moto::values(&m.query("Action=DescribeInstances"), "instanceId").len();
    let (code, text) = build(&m, dir.path(), &builder(""));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "AMI Name: 'elsewhere-image' is used by an existing AMI: {copy} in us-west-2"
        )),
        "{text}"
    );
    assert_eq!(
        Moto::values(&m.query("Action=DescribeInstances"), "instanceId").len(),
        instances
    );
    // ...and replaced with force_deregister.
    let (code, text) = build(&m, dir.path(), &builder(r#", "force_deregister": true"#));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "Deregistered AMI {copy} in us-west-2 (force_deregister)"
        )),
        "{text}"
    );
    let (second, _, _) = image_and_snapshots(&m, "us-west-2");
    assert_ne!(second, copy);
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}
