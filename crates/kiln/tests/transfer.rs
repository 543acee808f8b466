//! File and directory transfer both ways, by scp with tar streams, by scp alone on a machine
//! without tar, and by sftp: contents, Packer's trailing-slash rules and exact modes (the
//! modes chosen have bits a umask would clear).

mod common;
#[path = "common/target.rs"]
mod target;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use target::SshTarget;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn write(p: &Path, body: &str, m: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// The local tree: (relative path, content, mode).
const TREE: &[(&str, &str, u32)] = &[
    ("a.txt", "alpha\n", 0o662),
    ("bin/run.sh", "#!/bin/sh\necho run\n", 0o775),
    ("sub/deep/x.bin", "\u{0}\u{1}binary", 0o600),
    (".hidden", "dot\n", 0o646),
];

fn check_tree(root: &Path, what: &str) {
    for (rel, body, m) in TREE {
        let p = root.join(rel);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{what}: {}: {e}", p.display())),
            *body,
            "{what}: {rel}"
        );
        assert_eq!(mode(&p), *m, "{what}: mode of {rel}");
    }
}

fn transfer_round_trip(method: &str, without_tar: bool) {
    // DEBUG1 makes sshd log the subsystem requests.
    let t = SshTarget::start_with("-o LogLevel=DEBUG1");
    if without_tar {
        for p in ["/usr/bin/tar", "/bin/tar"] {
            let _ = std::fs::remove_file(t.path(p));
        }
        assert!(!t.path("/usr/bin/tar").exists());
    }
    let dir = tempfile::tempdir().unwrap();
    for (rel, body, m) in TREE {
        write(&dir.path().join("tree").join(rel), body, *m);
    }
    std::fs::set_permissions(
        dir.path().join("tree/bin"),
        std::fs::Permissions::from_mode(0o775),
    )
    .unwrap();
    write(&dir.path().join("single.sh"), "echo single\n", 0o751);
    let tree = dir.path().join("tree").display().to_string();
    let single = dir.path().join("single.sh").display().to_string();
    let out_dir = dir.path().join("out");
    let body = format!(
        r#"{{"builders": [{{"type": "null", {comm}, "ssh_file_transfer_method": "{method}"}}],
           "provisioners": [
             {{"type": "file", "source": "{tree}/", "destination": "/home/kiln/contents"}},
             {{"type": "file", "source": "{tree}", "destination": "/home/kiln/named"}},
             {{"type": "file", "source": "{single}", "destination": "/home/kiln/single.sh"}},
             {{"type": "shell", "inline": [
               "cd /home/kiln && mkdir -p made/sub && printf m > made/m.txt && chmod 0606 made/m.txt",
               "cd /home/kiln && printf d > made/sub/d && chmod 0757 made/sub/d && printf h > made/.dot && chmod 0664 made/.dot"]}},
             {{"type": "file", "direction": "download", "source": "/home/kiln/made/", "destination": "{out}/made"}},
             {{"type": "file", "direction": "download", "source": "/home/kiln/single.sh", "destination": "{out}/"}},
             {{"type": "shell", "inline": ["sudo mkdir -p /opt/shared && sudo chmod 0777 /opt/shared"]}},
             {{"type": "file", "source": "{tree}/", "destination": "/opt/shared"}}
           ]}}"#,
        comm = t.comm_json("kiln"),
        out = out_dir.display(),
    );
    let tpl = dir.path().join("t.json");
    std::fs::write(&tpl, body).unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{method}: {text}\n{}", t.log());
    let what = format!("{method}{}", if without_tar { " without tar" } else { "" });
    // sshd says which subsystem served the transfers.
    let sftp_used = t.log().contains("subsystem 'sftp'");
    assert_eq!(sftp_used, method == "sftp", "{what}:\n{}", t.log());
    // Uploads, as the non-root user whose umask would otherwise change the modes.
    check_tree(&t.path("/home/kiln/contents"), &format!("{what}: tree/"));
    check_tree(&t.path("/home/kiln/named/tree"), &format!("{what}: tree"));
    assert!(!t.path("/home/kiln/named/a.txt").exists(), "{what}");
    assert_eq!(mode(&t.path("/home/kiln/named/tree/bin")), 0o775, "{what}");
    assert_eq!(mode(&t.path("/home/kiln/single.sh")), 0o751, "{what}");
    // Downloads: contents of made/ into out/made, the file into out/.
    for (rel, body, m) in [
        ("made/m.txt", "m", 0o606),
        ("made/sub/d", "d", 0o757),
        ("made/.dot", "h", 0o664),
        ("single.sh", "echo single\n", 0o751),
    ] {
        let p = out_dir.join(rel);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{what}: {rel}: {e}")),
            body,
            "{what}: {rel}"
        );
        assert_eq!(mode(&p), m, "{what}: mode of downloaded {rel}");
    }
    assert!(!out_dir.join("made/made").exists(), "{what}");
    // Contents into a directory another user made and opened to all (as a provisioner's
    // `sudo mkdir` does): it takes them, and keeps its owner and mode.
    check_tree(
        &t.path("/opt/shared"),
        &format!("{what}: into a shared directory"),
    );
    let shared = std::fs::metadata(t.path("/opt/shared")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (shared.uid(), mode(&t.path("/opt/shared"))),
        (0, 0o777),
        "{what}"
    );
}

#[test]
fn scp_with_tar_streams_keeps_contents_and_modes() {
    transfer_round_trip("scp", false);
}

#[test]
fn scp_without_tar_on_the_machine_falls_back_to_scp_r() {
    transfer_round_trip("scp", true);
}

#[test]
fn sftp_keeps_contents_and_modes() {
    transfer_round_trip("sftp", false);
}
