//! The ssh communicator and the shell/file provisioners against real OpenSSH targets.

mod common;
#[path = "common/target.rs"]
mod target;

use common::*;
use std::path::Path;
use target::SshTarget;

fn template(dir: &Path, body: &str) -> String {
    let p = dir.join("t.json");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn shell_inline_env_and_exit_codes_over_ssh() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"variables": {{"secret": "sup3r-s3cret"}}, "sensitive-variables": ["secret"],
               "builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "shell", "environment_vars": ["GREETING=hello world", "SECRET={{{{user `secret`}}}}"],
                   "inline": ["echo \"$GREETING from $(hostname -s 2>/dev/null || echo target) as $(id -un)\"",
                              "echo secret-length=${{#SECRET}}", "echo to-stderr >&2",
                              "echo $PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE", "touch /root/provisioned"]}},
                 {{"type": "shell", "inline": ["exit 3"], "valid_exit_codes": [0, 3]}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(text.contains("Connected to SSH!"), "{text}");
    assert!(text.contains("    null: hello world from"), "{text}");
    assert!(text.contains("as root"), "{text}");
    assert!(text.contains("secret-length=12"), "{text}");
    assert!(text.contains("==> null: to-stderr"), "{text}");
    assert!(text.contains("    null: null/null"), "{text}");
    assert!(t.path("/root/provisioned").exists());
    // Uploaded scripts and variable files are gone.
    let left = t.entries("/tmp");
    assert!(left.is_empty(), "left in /tmp: {left:?}");
}

#[test]
fn failing_script_is_removed_and_fails_the_build() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [{{"type": "shell", "inline": ["echo about to fail", "exit 5"]}}]}}"#,
            t.comm_json("kiln")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Script exited with non-zero exit status: 5"),
        "{text}"
    );
    let left = t.entries("/tmp");
    assert!(left.is_empty(), "left in /tmp after a failure: {left:?}");
}

#[test]
fn password_auth_and_script_files_with_custom_execute_command() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.sh"), "#!/bin/sh\r\necho one $FOO\r\n").unwrap();
    std::fs::write(dir.path().join("two.sh"), "#!/bin/sh\necho two $FOO\n").unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {},
                                "ssh_username": "kiln", "ssh_password": "kiln-user-pw"}}],
               "provisioners": [{{"type": "shell", "scripts": ["one.sh", "two.sh"], "environment_vars": ["FOO=bar"],
                                  "execute_command": "chmod +x {{{{ .Path }}}}; sudo {{{{ .Vars }}}} {{{{ .Path }}}}"}}]}}"#,
            t.port
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(text.contains("    null: one bar"), "{text}");
    assert!(text.contains("    null: two bar"), "{text}");
}

#[test]
fn file_provisioner_uploads_and_downloads_files_and_directories() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    for i in 0..50 {
        let sub = src.join(format!("d{}", i % 5));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("single.bin"),
        (0..=255u8).cycle().take(300_000).collect::<Vec<u8>>(),
    )
    .unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "file", "source": "tree/", "destination": "/opt/contents"}},
                 {{"type": "file", "source": "tree", "destination": "/opt/whole"}},
                 {{"type": "file", "source": "single.bin", "destination": "/opt/single.bin"}},
                 {{"type": "file", "content": "inline content", "destination": "/opt/content.txt"}},
                 {{"type": "file", "direction": "download", "source": "/etc/hostname", "destination": "downloaded/"}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for i in 0..50 {
        let rel = format!("d{}/f{i}.txt", i % 5);
        let want = std::fs::read(src.join(&rel)).unwrap();
        assert_eq!(
            std::fs::read(t.path(&format!("/opt/contents/{rel}"))).unwrap(),
            want,
            "{rel}"
        );
        assert_eq!(
            std::fs::read(t.path(&format!("/opt/whole/tree/{rel}"))).unwrap(),
            want,
            "{rel}"
        );
    }
    assert_eq!(
        std::fs::read(t.path("/opt/single.bin")).unwrap(),
        std::fs::read(dir.path().join("single.bin")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/opt/content.txt")).unwrap(),
        "inline content"
    );
    assert_eq!(
        std::fs::read(dir.path().join("downloaded/hostname")).unwrap(),
        std::fs::read(t.path("/etc/hostname")).unwrap()
    );
}

#[test]
fn wrong_port_and_wrong_key_name_the_phase_within_the_budget() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {closed},
                                "ssh_username": "root", "ssh_private_key_file": "{}", "ssh_timeout": "3s"}}]}}"#,
            t.key.display()
        ),
    );
    let start = std::time::Instant::now();
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("root@127.0.0.1:{closed}")), "{text}");
    assert!(text.contains("phase \"TCP connect\""), "{text}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );

    // A key the server does not accept.
    let other = dir.path().join("other_key");
    let st = std::process::Command::new("chroot")
        .arg(t.root())
        .args([
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            "/root/other_key",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::copy(t.path("/root/other_key"), &other).unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {},
                                "ssh_username": "root", "ssh_private_key_file": "{}", "ssh_timeout": "20s",
                                "ssh_handshake_attempts": 2}}]}}"#,
            t.port,
            other.display()
        ),
    );
    let start = std::time::Instant::now();
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("phase \"authentication\""), "{text}");
    assert!(text.contains("refused publickey"), "{text}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn bastion_host_forwards_the_connection() {
    let bastion = SshTarget::start();
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {},
                 "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": {}, "ssh_bastion_username": "kiln",
                 "ssh_bastion_private_key_file": "{}"}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/via-bastion"]}}]}}"#,
            t.comm_json("root"),
            bastion.port,
            bastion.key.display()
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", bastion.log());
    assert!(t.path("/root/via-bastion").exists());
    assert!(
        bastion.log().contains("Accepted publickey for kiln"),
        "{}",
        bastion.log()
    );
}

#[test]
fn sigint_during_remote_sleep_leaves_no_remote_process() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/started", "sleep 600"]}}]}}"#,
            t.comm_json("root")
        ),
    );
    let child = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", &tpl])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !t.path("/root/started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "provisioner never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        t.processes().iter().any(|p| p.starts_with("sleep 600")),
        "{:?}",
        t.processes()
    );
    // SAFETY: interrupting the kiln process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Cleanly cancelled builds after being interrupted."),
        "{text}"
    );
    let procs = t.processes();
    assert!(!procs.iter().any(|p| p.contains("sleep 600")), "{procs:?}");
    let left = t.entries("/tmp");
    assert!(left.is_empty(), "left in /tmp after cancel: {left:?}");
}

fn in_target(t: &SshTarget, script: &str) {
    let st = std::process::Command::new("chroot")
        .arg(t.root())
        .args(["/bin/sh", "-c", script])
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

#[test]
fn agent_certificate_and_algorithm_options() {
    let t = SshTarget::start_with("-o TrustedUserCAKeys=/etc/ssh/kiln_ca.pub -o LogLevel=DEBUG");
    let dir = tempfile::tempdir().unwrap();

    // ssh_agent_auth: the key lives only in a local ssh-agent.
    let agent = Agent::with_key(&t.key);
    let sock = agent.sock.clone();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {},
                                "ssh_username": "root", "ssh_agent_auth": true,
                                "ssh_ciphers": ["aes128-ctr"], "ssh_key_exchange_algorithms": ["ecdh-sha2-nistp256"]}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/agent-ok"]}}]}}"#,
            t.port
        ),
    );
    let out = run_in(
        dir.path(),
        &["build", "-color=false", &tpl],
        &[("SSH_AUTH_SOCK", sock.to_str().unwrap())],
    );
    drop(agent);
    assert!(out.status.success(), "{}\n{}", stdout(&out), t.log());
    assert!(t.path("/root/agent-ok").exists());
    let log = t.log();
    assert!(log.contains("kex: algorithm: ecdh-sha2-nistp256"), "{log}");
    assert!(
        log.contains("kex: client->server cipher: aes128-ctr"),
        "{log}"
    );

    // ssh_certificate_file: a key that is not in authorized_keys, signed by a trusted CA.
    in_target(
        &t,
        "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/kiln_ca && \
         ssh-keygen -q -t ed25519 -N '' -f /root/certkey && \
         ssh-keygen -q -s /etc/ssh/kiln_ca -I kiln-test -n root /root/certkey.pub",
    );
    std::fs::copy(t.path("/root/certkey"), dir.path().join("certkey")).unwrap();
    std::fs::copy(
        t.path("/root/certkey-cert.pub"),
        dir.path().join("certkey-cert.pub"),
    )
    .unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {},
                                "ssh_username": "root", "ssh_private_key_file": "certkey",
                                "ssh_certificate_file": "certkey-cert.pub"}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/cert-ok"]}}]}}"#,
            t.port
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), t.log());
    assert!(t.path("/root/cert-ok").exists());

    // Unsupported algorithm names are configuration errors.
    let tpl = template(
        dir.path(),
        r#"{"builders": [{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_username": "root",
                          "ssh_password": "x", "ssh_ciphers": ["rot13"]}]}"#,
    );
    let out = run_in(dir.path(), &["validate", &tpl], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("unsupported cipher \"rot13\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn expect_disconnect_reconnects_and_sees_the_reboot() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    // A reboot as this target can have one: a new boot id, then every process but init
    // killed (init restarts sshd). The real one is tested with the qemu builder.
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "shell", "expect_disconnect": true, "start_retry_timeout": "30s", "inline": [
                   "cat /proc/sys/kernel/random/uuid > /run/fake_boot_id",
                   "mount --bind /run/fake_boot_id /proc/sys/kernel/random/boot_id",
                   "kill -9 -1"]}},
                 {{"type": "shell", "inline": ["cat /proc/sys/kernel/random/boot_id > /root/boot_id_after"]}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(text.contains("Connection dropped, as expected"), "{text}");
    let fake = std::fs::read_to_string(t.path("/run/fake_boot_id")).unwrap();
    assert!(
        text.contains(&format!("boot id changed to {}", fake.trim())),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/root/boot_id_after"))
            .unwrap()
            .trim(),
        fake.trim()
    );
}

fn sha256_host(p: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn sha256_target(t: &SshTarget, p: &str) -> String {
    let out = std::process::Command::new("chroot")
        .arg(t.root())
        .args(["sha256sum", p])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn five_thousand_files_and_a_gibibyte_arrive_intact() {
    use std::io::Write;
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("many");
    for i in 0..5000 {
        let sub = tree.join(format!("d{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(
            sub.join(format!("f{i:04}")),
            format!("{i}\n").repeat(1 + i % 7),
        )
        .unwrap();
    }
    // 1 GiB of non-repeating content (a counter), so a dropped or repeated block shows.
    let big = dir.path().join("big.bin");
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&big).unwrap());
    let mut block = vec![0u8; 1 << 20];
    for b in 0..1024u64 {
        for (i, chunk) in block.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(b * 131072 + i as u64).to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "file", "source": "many/", "destination": "/opt/many"}},
                 {{"type": "file", "source": "big.bin", "destination": "/opt/big.bin"}},
                 {{"type": "file", "direction": "download", "source": "/opt/big.bin", "destination": "back.bin"}},
                 {{"type": "file", "direction": "download", "source": "/opt/many/", "destination": "many-back"}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("big.bin: done, 1.0 GiB"),
        "no progress report:\n{text}"
    );
    let listing = std::process::Command::new("chroot")
        .arg(t.root())
        .args([
            "sh",
            "-c",
            "cd /opt/many && find . -type f | sort | xargs sha256sum | sha256sum",
        ])
        .output()
        .unwrap();
    let local = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . -type f | sort | xargs sha256sum | sha256sum",
            tree.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    let count = std::fs::read_dir(t.path("/opt/many")).unwrap().count();
    assert_eq!(count, 50);
    // And the 5,000 files back down, the same.
    let back = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . -type f | sort | xargs sha256sum | sha256sum",
            dir.path().join("many-back").display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&back.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    let want = sha256_host(&big);
    assert_eq!(sha256_target(&t, "/opt/big.bin"), want);
    assert_eq!(sha256_host(&dir.path().join("back.bin")), want);
}
