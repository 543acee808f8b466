//! `puppet-masterless` on a real isolated target with Puppet installed from the target's
//! local package cache: a manifest with a module, facts and hiera data applied; then a manifest
//! that fails, which fails the build with Puppet's exit status, and the staging directory is
//! gone both times.

mod common;
#[path = "common/target.rs"]
mod target;

use common::*;
use target::SshTarget;

fn template(dir: &std::path::Path, t: &SshTarget, provisioners: &str) -> String {
    let p = dir.join("template.json");
    std::fs::write(
        &p,
        format!(
            r#"{{"builders": [{{"type": "null", {}}}], "provisioners": {provisioners}}}"#,
            t.comm_json("centos")
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn puppet_applies_a_manifest_with_modules_facts_and_hiera() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &t,
        r#"[
          {"type": "shell", "inline": [
            "sudo apt-get install -y -q --no-download --no-install-recommends puppet",
            "sudo mkdir -p /etc/kiln-hiera",
            "echo 'greeting: hello from hiera' | sudo tee /etc/kiln-hiera/common.yaml"]},
          {"type": "puppet-masterless", "manifest_file": "site.pp", "module_paths": ["modules"],
           "hiera_config_path": "hiera.yaml", "facter": {"role": "web"},
           "extra_arguments": ["--color=false"]}
        ]"#,
    );
    let out = run_in(
        &fixtures().join("puppet"),
        &["build", "-color=false", &tpl],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert_says(
        &text,
        &[
            "Provisioning with Puppet...",
            "Uploading local modules from: modules",
            "Uploading manifest file from: site.pp",
            "Running Puppet: cd /tmp/packer-puppet-masterless && FACTER_packer_build_name='null' FACTER_packer_builder_type='null' FACTER_role='web' sudo -E puppet apply --detailed-exitcodes --modulepath='/tmp/packer-puppet-masterless/module-0' --hiera_config='/tmp/packer-puppet-masterless/hiera.yaml' --color=false /tmp/packer-puppet-masterless/manifests/site.pp",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/motd")).unwrap(),
        "Built with kiln and Puppet\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/kiln-puppet-facts")).unwrap(),
        "build=null type=null role=web greeting=hello from hiera\n"
    );
    assert!(
        !t.path("/tmp/packer-puppet-masterless").exists(),
        "staging directory left behind"
    );

    // A manifest that fails: Puppet's status fails the build; the staging directory goes.
    let tpl = template(
        dir.path(),
        &t,
        r#"[{"type": "puppet-masterless", "manifest_file": "broken/site.pp"}]"#,
    );
    let out = run_in(
        &fixtures().join("puppet"),
        &["build", "-color=false", &tpl],
        &[],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_says(&text, &["Puppet exited with a non-zero exit status: 6"]);
    assert!(t.path("/root/before-failure").exists());
    assert!(
        !t.path("/tmp/packer-puppet-masterless").exists(),
        "staging directory left after a failure"
    );
}
