//! amazon-ebs against moto (the EC2 API) and an isolated sshd target that accepts the key pair
//! of whichever instance is running: the seed template built end to end.

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{ec2_target, Moto};

/// The seed's template as written (its missing comma fixed), with ssh_host/ssh_port added for
/// the rig and the yum lines replaced by the target's package manager and local package cache.
fn seed_template(port: u16) -> serde_json::Value {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/seed/000_f83e5ddeb25fd349.txt");
    let text = std::fs::read_to_string(&seed).expect("shared/seed beside the checkout");
    let start = text.find("```json\n").unwrap() + "```json\n".len();
    let end = start + text[start..].find("```").unwrap();
    let json = text[start..end].replacen("\"elasticsearch\"\n", "\"elasticsearch\",\n", 1);
    let mut t: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b = &mut t["builders"][0];
    b["ssh_host"] = "127.0.0.1".into();
    b["ssh_port"] = port.into();
    t["provisioners"][0]["inline"] = serde_json::json!([
        "sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"
    ]);
    t["provisioners"][2]["inline"] = serde_json::json!([
        "sudo apt-get purge -y -q ansible-core",
        "sudo rm -rf /tmp/packer-provisioner-ansible-local/"
    ]);
    t
}

fn env(m: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY", "dummy-access".into()),
        ("AWS_SECRET_KEY", "dummy-secret".into()),
        ("AWS_ENDPOINT_URL", m.url()),
        // The SDK's standard names, for templates without access_key/secret_key.
        ("AWS_ACCESS_KEY_ID", "dummy-access".into()),
        ("AWS_SECRET_ACCESS_KEY", "dummy-secret".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// moto, the EC2 target, and a template of the seed written for them, run from the seed's
/// directory (its playbook and roles) with a state directory of its own.
struct SeedRig {
    m: Moto,
    t: target::SshTarget,
    _dir: tempfile::TempDir,
    tpl: String,
    state: tempfile::TempDir,
    envs: Vec<(&'static str, String)>,
}

impl SeedRig {
    /// Writes `file` with the text `make` gives for the target's SSH port; `validate`s it.
    fn start(file: &str, make: impl FnOnce(u16) -> String) -> SeedRig {
        let m = Moto::start();
        let t = ec2_target(&m);
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join(file);
        std::fs::write(&tpl, make(t.port)).unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut envs = env(&m);
        envs.push(("KILN_STATE_DIR", state.path().display().to_string()));
        let rig = SeedRig {
            m,
            t,
            _dir: dir,
            tpl: tpl.display().to_string(),
            state,
            envs,
        };
        let out = rig.run(&["validate"]);
        assert!(out.status.success(), "{}", stdout(&out));
        rig
    }

    /// Runs kiln with `args` and then the template.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let env: Vec<(&str, &str)> = self.envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut all = args.to_vec();
        all.push(&self.tpl);
        run_in(&fixtures().join("seed"), &all, &env)
    }
}

/// The seed's AMI, named `name`, is in moto and is the artifact of build `build` in the
/// machine-readable output; returns its id.
fn assert_ami_is_the_artifact(m: &Moto, text: &str, build: &str, name: &str) -> String {
    let images = m.query("Action=DescribeImages&Owner.1=self");
    let ids = Moto::values(&images, "imageId");
    assert_eq!(
        Moto::values(&images, "name"),
        vec![name.to_string()],
        "{images}"
    );
    assert!(
        text.contains(&format!("{build},artifact,0,id,us-east-1:{}", ids[0])),
        "{text}"
    );
    ids[0].clone()
}

#[test]
fn seed_template_builds_end_to_end() {
    let rig = SeedRig::start("seed.json", |port| {
        serde_json::to_string_pretty(&seed_template(port)).unwrap()
    });
    let (m, t) = (&rig.m, &rig.t);

    // A dry run first: EC2 is asked about each create, nothing is made, nothing runs.
    let out = rig.run(&["build", "-color=false", "-dry-run"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(
        &text,
        &[
            "RunInstances (t2.micro from ami-af4333cf): would be allowed (EC2 dry run)",
            "create the AMI elasticsearch-1-0-0 in us-east-1",
            "Would run 3 provisioner(s): shell, ansible-local, shell",
        ],
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());

    let out = rig.run(&["build", "-color=false", "-machine-readable"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    // The AMI exists in moto under the seed's name, and is the artifact.
    let id = assert_ami_is_the_artifact(m, &text, "amazon-ebs", "elasticsearch-1-0-0");
    // The product keeps kiln's provenance tags but no expiry.
    let tags = m.query(&format!(
        "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1={id}"
    ));
    let keys = Moto::values(&tags, "key");
    assert!(keys.contains(&"kiln:run".to_string()), "{tags}");
    assert!(!keys.contains(&"kiln:expires".to_string()), "{tags}");
    // The seed's provisioning happened on the machine.
    let passwd = std::fs::read_to_string(t.path("/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("elasticsearch:")));
    assert!(t.path("/etc/sudoers.d/90-ops").exists());
    assert!(!t.path("/usr/bin/ansible-playbook").exists());
    assert!(!t.path("/tmp/packer-provisioner-ansible-local").exists());
    // cloud-init's copies of the temporary key were removed before the image was made; the
    // machine's own key stays.
    assert!(
        text.contains("The temporary key is in no authorized_keys file (checked)."),
        "{text}"
    );
    for f in [
        "/home/centos/.ssh/authorized_keys",
        "/root/.ssh/authorized_keys",
    ] {
        let keys = std::fs::read_to_string(t.path(f)).unwrap();
        assert!(
            !keys.contains("packer_"),
            "{f} still has the temporary key:\n{keys}"
        );
        assert!(
            keys.contains("ssh-ed25519 "),
            "{f} lost its own key:\n{keys}"
        );
    }
    // Every temporary resource is gone.
    let (keys, groups, instances) = m.leftovers();
    assert!(keys.is_empty(), "key pairs left: {keys:?}");
    assert!(groups.is_empty(), "security groups left: {groups:?}");
    assert!(
        instances.is_empty(),
        "instances not terminated: {instances:?}"
    );
    // Nothing temporary is outstanding, so the run's journal is gone.
    assert_eq!(
        std::fs::read_dir(rig.state.path()).unwrap().count(),
        0,
        "journal left after a clean build"
    );
}

#[test]
fn failure_after_the_instance_started_cleans_everything_up() {
    let m = Moto::start();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                 "instance_type": "t2.micro", "ssh_username": "centos", "ami_name": "will-not-exist",
                 "ssh_host": "127.0.0.1", "ssh_port": {}}}],
               "provisioners": [{{"type": "shell", "inline": ["exit 9"]}}]}}"#,
            t.port
        ),
    )
    .unwrap();
    let envs = env(&m);
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env_refs,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Script exited with non-zero exit status: 9"),
        "{text}"
    );
    let (keys, groups, instances) = m.leftovers();
    assert!(
        keys.is_empty() && groups.is_empty() && instances.is_empty(),
        "{keys:?} {groups:?} {instances:?}"
    );
    assert!(Moto::values(&m.query("Action=DescribeImages&Owner.1=self"), "imageId").is_empty());
}

#[test]
fn the_temporary_key_stays_in_authorized_keys_only_when_asked() {
    let m = Moto::start();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let envs = env(&m);
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                 "instance_type": "t2.micro", "ssh_username": "centos", "skip_create_ami": true,
                 "ssh_clear_authorized_keys": false, "temporary_key_pair_type": "rsa",
                 "temporary_key_pair_bits": 2048, "ssh_host": "127.0.0.1", "ssh_port": {}}}],
               "provisioners": [{{"type": "shell", "inline": ["true"]}}]}}"#,
            t.port
        ),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env_refs,
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    // Left where cloud-init put it, as asked: an rsa key of the requested size.
    for f in [
        "/home/centos/.ssh/authorized_keys",
        "/root/.ssh/authorized_keys",
    ] {
        let keys = std::fs::read_to_string(t.path(f)).unwrap();
        let line = keys
            .lines()
            .find(|l| l.contains(" packer_"))
            .unwrap_or_else(|| panic!("{f} has no temporary key:\n{keys}"));
        assert!(line.contains("ssh-rsa "), "{line}");
    }
    assert!(t.log().contains("RSA SHA256:"), "{}", t.log());
}

#[test]
fn missing_credentials_are_explained() {
    let m = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        r#"{"builders": [{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
             "instance_type": "t2.micro", "ssh_username": "centos", "ami_name": "no-credentials"}]}"#,
    )
    .unwrap();
    let url = m.url();
    // An empty home: no shared config or credentials files to find.
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().display().to_string();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &[
            ("AWS_ENDPOINT_URL", url.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("HOME", home_path.as_str()),
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("no AWS credentials found. Set access_key and secret_key"),
        "{text}"
    );
}

/// The seed as Packer 1.6.6's `hcl2_upgrade` writes it (`env()` in the source block, which
/// Packer itself then refuses; the `timestamp` local it adds), with the rig's changes.
const SEED_HCL: &str = r#"
variable "aws_region" {
  type    = string
  default = "us-east-1"
}
variable "name" {
  type    = string
  default = "elasticsearch"
}
variable "source_ami" {
  type    = string
  default = "ami-af4333cf"
}
variable "version" {
  type    = string
  default = "1-0-0"
}
locals { timestamp = regex_replace(timestamp(), "[- TZ:]", "") }

source "amazon-ebs" "autogenerated_1" {
  access_key    = "${env("AWS_ACCESS_KEY")}"
  ami_name      = "${var.name}-${var.version}"
  instance_type = "t2.micro"
  region        = "${var.aws_region}"
  secret_key    = "${env("AWS_SECRET_KEY")}"
  source_ami    = "${var.source_ami}"
  ssh_username  = "centos"
  ssh_host      = "127.0.0.1"
  ssh_port      = SSH_PORT
}

build {
  sources = ["source.amazon-ebs.autogenerated_1"]

  provisioner "shell" {
    inline = ["sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"]
  }
  provisioner "ansible-local" {
    playbook_file = "bootstrap.yml"
    role_paths    = ["roles/elasticsearch", "roles/telegraf", "roles/sudo", "roles/fail2ban"]
  }
  provisioner "shell" {
    inline = ["sudo apt-get purge -y -q ansible-core", "sudo rm -rf /tmp/packer-provisioner-ansible-local/"]
  }
}
"#;

#[test]
fn seed_as_hcl2_builds_end_to_end() {
    let rig = SeedRig::start("seed.pkr.hcl", |port| {
        SEED_HCL.replace("SSH_PORT", &port.to_string())
    });
    let (m, t) = (&rig.m, &rig.t);
    let out = rig.run(&["inspect"]);
    assert_says(
        &stdout(&out),
        &[
            "Packer Inspect: HCL2 mode",
            "var.source_ami: \"ami-af4333cf\"",
            "      amazon-ebs.autogenerated_1",
            "      ansible-local",
        ],
    );

    // A -var reaches the source block through var.version.
    let out = rig.run(&[
        "build",
        "-color=false",
        "-machine-readable",
        "-var",
        "version=2-0-0",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    // Builds of HCL2 templates are named type.name, as in Packer.
    assert_ami_is_the_artifact(
        m,
        &text,
        "amazon-ebs.autogenerated_1",
        "elasticsearch-2-0-0",
    );
    let passwd = std::fs::read_to_string(t.path("/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("elasticsearch:")));
    assert!(!t.path("/usr/bin/ansible-playbook").exists());
    let (keys, groups, instances) = m.leftovers();
    assert!(keys.is_empty(), "key pairs left: {keys:?}");
    assert!(groups.is_empty(), "security groups left: {groups:?}");
    assert!(instances.is_empty(), "instances left: {instances:?}");
    assert_eq!(std::fs::read_dir(rig.state.path()).unwrap().count(), 0);
}

#[test]
fn the_seed_upgraded_by_kiln_hcl2_upgrade_builds_the_same_ami() {
    let scratch = tempfile::tempdir().unwrap();
    let rig = SeedRig::start("seed.pkr.hcl", |port| {
        let json = scratch.path().join("seed.json");
        std::fs::write(&json, seed_template(port).to_string()).unwrap();
        let hcl = scratch.path().join("seed.pkr.hcl");
        let out = run_in(
            scratch.path(),
            &[
                "hcl2_upgrade",
                &format!("-output-file={}", hcl.display()),
                &json.display().to_string(),
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(hcl).unwrap()
    });
    let (m, t) = (&rig.m, &rig.t);
    let out = rig.run(&["build", "-color=false", "-machine-readable"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    // The unnamed builder's source keeps its name, so the build is amazon-ebs.amazon-ebs.
    assert_ami_is_the_artifact(m, &text, "amazon-ebs.amazon-ebs", "elasticsearch-1-0-0");
    assert!(!t.path("/usr/bin/ansible-playbook").exists());
    let (keys, groups, instances) = m.leftovers();
    assert!(keys.is_empty() && groups.is_empty() && instances.is_empty());
}
