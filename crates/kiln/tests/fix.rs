//! `kiln fix` against what Packer 1.6.6's `packer fix` printed for the same templates
//! (recorded by scripts/gen-fix-goldens.py), its validation of the result, its errors, and
//! the "deprecated configuration key" a build reports for an option that `fix` rewrites.

mod common;
use common::*;

fn cases() -> std::path::PathBuf {
    fixtures().join("fix/cases")
}

#[test]
fn fix_prints_what_packer_prints_for_every_recorded_case() {
    let dir = cases();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    let (mut fixed, mut refused) = (0, 0);
    for name in &names {
        let file = format!("{name}.json");
        let out = run_in(&dir, &["fix", "-validate=false", &file], &[]);
        let said = stdout(&out);
        if let Ok(want) = std::fs::read_to_string(dir.join(format!("{name}.out"))) {
            assert_eq!(out.status.code(), Some(0), "{name}: {said}");
            assert_eq!(said, want, "{name}");
            fixed += 1;
        } else {
            // Packer refused it, or crashed on it: kiln refuses it and says where.
            let packer = std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}: {said}");
            assert!(
                said.contains(&format!("Error: {file}:")),
                "{name} (Packer: {packer}): {said}"
            );
            assert!(
                !String::from_utf8_lossy(&out.stderr).contains("panicked"),
                "{name}"
            );
            refused += 1;
        }
    }
    // The hand-written cases, the seed and the random ones are all there.
    assert!(
        fixed >= 100 && refused >= 5,
        "{fixed} fixed, {refused} refused"
    );
}

#[test]
fn fixed_options_are_the_current_ones() {
    // A spot check of the goldens themselves: the old names are gone, the new ones there.
    let out = run_in(&cases(), &["fix", "virtualbox_era.json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    for gone in [
        "iso_md5",
        "guest_additions_attach",
        "ssh_key_path",
        "ssh_wait_timeout",
        "ssh_host_port_min",
        "galaxycommand",
        "\"filename\"",
        "\"tag\"",
    ] {
        assert!(!text.contains(gone), "{gone} in {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let b = &v["builders"][0];
    assert_eq!(b["type"], "virtualbox-iso");
    assert_eq!(b["iso_checksum"], "md5:0123456789abcdef0123456789abcdef");
    assert_eq!(b["guest_additions_mode"], "attach");
    assert_eq!(b["ssh_private_key_file"], "keys/id_ed25519");
    assert_eq!(b["ssh_timeout"], "30m");
    assert_eq!(b["host_port_min"], 2222);
    assert_eq!(b["skip_nat_mapping"], false);
    assert_eq!(b["ssh_disable_agent_forwarding"], true);
    // The second builder had both spellings: the new one wins.
    assert_eq!(v["builders"][1]["host_port_min"], 3001);
    assert_eq!(v["builders"][1]["ssh_timeout"], "5m");
    let p = &v["provisioners"];
    assert!(p[0]["override"]["virtualbox-iso"].is_object());
    assert_eq!(p[1]["galaxy_command"], "ansible-galaxy");
    assert_eq!(p[2]["elevated_user"], "Admin$istrator");
    assert_eq!(p[2]["elevated_password"], "p\"ss`w'rd");
    assert_eq!(p[2]["environment_vars"][0], "HOME=C:\\Users\\$me");
    let pp = &v["post-processors"];
    assert_eq!(pp[0][0]["override"]["vmware"]["compression_level"], 1);
    assert_eq!(pp[1]["output"], "manifest.json");
    assert_eq!(
        pp[2]["tags"],
        serde_json::json!(["latest", "1.0", "stable"])
    );
    // As Packer writes it: `&` escaped, `<` and `>` not.
    assert!(text.contains("apt-get update \\u0026\\u0026 apt-get -y upgrade"));
    assert!(text.contains("echo '<done>'"));
}

#[test]
fn fix_checks_the_fixed_template_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(
        &t,
        r#"{"builders": [{"type": "null", "ssh_key_path": "k"}], "extras": 1}"#,
    )
    .unwrap();
    let out = run_in(dir.path(), &["fix", "t.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    // The fixed template is printed first, then what is wrong with it.
    let fixed = text.find("\"ssh_private_key_file\": \"k\"").unwrap();
    let error = text.find("Error! Fixed template fails to parse:").unwrap();
    assert!(fixed < error, "{text}");
    assert!(
        text.contains("fixed template:8:3: unknown template key \"extras\""),
        "{text}"
    );
    let out = run_in(dir.path(), &["fix", "-validate=false", "t.json"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).contains("fails to parse"));
}

#[test]
fn fix_points_at_bad_json_and_refuses_hcl() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seed.json"), seed_json()).unwrap();
    let out = run_in(dir.path(), &["fix", "seed.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(&stdout(&out), &["seed.json:5:5: missing comma"]);

    std::fs::write(dir.path().join("t.pkr.hcl"), "source \"null\" \"a\" {}\n").unwrap();
    let out = run_in(dir.path(), &["fix", "t.pkr.hcl"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(&stdout(&out), &["t.pkr.hcl is an HCL2 template"]);

    let out = run_in(dir.path(), &["fix", "missing.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(&stdout(&out), &["could not open template missing.json"]);

    // Usage: the fixers are listed, in order.
    let out = run_in(dir.path(), &["fix"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let usage = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = usage.find("  iso-md5  ").unwrap();
    let last = usage.find("  proxmox-type  ").unwrap();
    assert!(first < last, "{usage}");
}

#[test]
fn a_build_names_the_replacement_of_a_deprecated_option() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json"),
        r#"{"builders": [{"type": "amazon-ebs", "region": "us-east-1",
             "source_ami": "ami-1", "instance_type": "t2.micro", "ssh_username": "u",
             "ami_name": "a", "enhanced_networking": true}],
            "post-processors": [{"type": "manifest", "filename": "m.json"}]}"#,
    )
    .unwrap();
    let out = run_in(dir.path(), &["validate", "t.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_says(
        &text,
        &[
            "deprecated configuration key \"enhanced_networking\"",
            "it was replaced by \"ena_support\"; `kiln fix TEMPLATE` rewrites",
            "deprecated configuration key \"filename\"",
            "it was replaced by \"output\"",
        ],
    );
}
