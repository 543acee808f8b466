//! The `vagrant` post-processor's mistakes, with the `file` builder: refused by `validate`
//! where the template says enough, else by the build, each with exit code 1 and Packer's
//! words. (Boxes themselves are made in tests/qemu.rs, tests/docker.rs and
//! tests/amazon_options.rs, from real builds.)

mod common;

use common::*;

fn template(pp: serde_json::Value) -> String {
    serde_json::json!({
        "builders": [{"type": "file", "content": "x", "target": "o.txt"}],
        "post-processors": [pp]
    })
    .to_string()
}

#[test]
fn vagrant_mistakes_are_said_before_or_during_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused_by_validate = [
        (
            serde_json::json!({"type": "vagrant", "provider_override": "nope"}),
            "The given provider_override nope is not valid. Please choose from one of aws, azure, digitalocean, docker, google, hyperv, libvirt, lxc, parallels, scaleway, virtualbox, vmware",
        ),
        (
            serde_json::json!({"type": "vagrant", "vagrantfile_template": "missing.tpl"}),
            "vagrantfile_template 'missing.tpl' does not exist",
        ),
        (
            serde_json::json!({"type": "vagrant", "compression_level": 10}),
            "Invalid compression level 10. Expected an integer from -1 to 9.",
        ),
        (
            serde_json::json!({"type": "vagrant", "override": {"libvrt": {}}}),
            "override: libvrt is not a provider",
        ),
        (
            serde_json::json!({"type": "vagrant", "override": {"libvirt": {"outptu": "x"}}}),
            "outptu",
        ),
    ];
    for (pp, says) in refused_by_validate {
        std::fs::write(d.join("t.json"), template(pp.clone())).unwrap();
        let out = run_in(d, &["validate", "t.json"], &[]);
        assert_eq!(out.status.code(), Some(1), "{pp}");
        assert_says(&stdout(&out), &[says]);
    }
    let refused_by_build = [
        (
            serde_json::json!({"type": "vagrant"}),
            "Unknown artifact type, can't build box: packer.file",
        ),
        (
            serde_json::json!([{"type": "artifice", "files": ["o.txt"]}, {"type": "vagrant"}]),
            "Unknown artifact type, can't build box: packer.post-processor.artifice (after artifice, set provider_override",
        ),
        (
            serde_json::json!([{"type": "artifice", "files": ["o.txt"]},
                               {"type": "vagrant", "provider_override": "virtualbox"}]),
            "kiln's vagrant post-processor makes boxes for the aws, docker, libvirt providers, not virtualbox",
        ),
        (
            serde_json::json!([{"type": "artifice", "files": ["o.txt"]},
                               {"type": "vagrant", "provider_override": "libvirt"}]),
            "the artifact has no diskName: the libvirt provider boxes the qemu builder's disk",
        ),
    ];
    for (pp, says) in refused_by_build {
        std::fs::write(d.join("t.json"), template(pp.clone())).unwrap();
        let out = run_in(d, &["validate", "t.json"], &[]);
        assert!(out.status.success(), "{pp}: {}", stdout(&out));
        let out = run_in(d, &["build", "-color=false", "t.json"], &[]);
        assert_eq!(out.status.code(), Some(1), "{pp}");
        assert_says(&stdout(&out), &[says]);
        assert!(
            !std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".box")),
            "{pp}: a box was left"
        );
    }
}
