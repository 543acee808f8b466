//! The ssh communicator's and the shell/file provisioners' less common options, each against
//! a real OpenSSH target: agent forwarding, ssh_read_write_timeout, a bastion with a password
//! inside one budget, ssh_pty, and the shell and file options that change what lands where.

mod common;
#[path = "common/target.rs"]
mod target;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};
use target::SshTarget;

fn template(dir: &Path, body: &str) -> String {
    let p = dir.join("t.json");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn the_local_agent_is_forwarded_unless_disabled() {
    let t = SshTarget::start_with("-o LogLevel=DEBUG1");
    let agent = Agent::with_key(&t.key);
    let dir = tempfile::tempdir().unwrap();
    for (disable, want_rc) in [(false, "0"), (true, "2")] {
        let tpl = template(
            dir.path(),
            &format!(
                r#"{{"builders": [{{"type": "null", {}, "ssh_disable_agent_forwarding": {disable}}}],
                   "provisioners": [{{"type": "shell", "inline": [
                     "rc=0; ssh-add -l > /root/agent-list 2>&1 || rc=$?; echo $rc > /root/agent-rc"]}}]}}"#,
                t.comm_json("root")
            ),
        );
        let out = run_in(
            dir.path(),
            &["build", "-color=false", &tpl],
            &[("SSH_AUTH_SOCK", agent.sock.to_str().unwrap())],
        );
        assert!(out.status.success(), "{}\n{}", stdout(&out), t.log());
        let rc = std::fs::read_to_string(t.path("/root/agent-rc")).unwrap();
        let list = std::fs::read_to_string(t.path("/root/agent-list")).unwrap();
        assert_eq!(rc.trim(), want_rc, "disable={disable}: {list}");
        if !disable {
            assert!(list.contains("ED25519"), "{list}");
        }
    }
}

#[test]
fn a_connection_that_stops_answering_fails_after_ssh_read_write_timeout() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}, "ssh_read_write_timeout": "2s",
                                "ssh_keep_alive_interval": "500ms"}}],
               "provisioners": [{{"type": "shell", "inline": ["sleep 40"]}}]}}"#,
            t.comm_json("root")
        ),
    );
    let child = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", &tpl])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.processes().iter().any(|p| p.contains("sleep 40")) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Freeze the sshd processes serving the connection (not the listener, so cleanup can
    // reconnect): the connection is open but nothing answers, as with a hung machine.
    let stopped = stop_session_processes(&t);
    assert!(!stopped.is_empty(), "{:?}", t.processes());
    let frozen_at = Instant::now();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("stopped answering while running the command")
            && text.contains("ssh_read_write_timeout"),
        "{text}"
    );
    assert!(
        frozen_at.elapsed() < Duration::from_secs(15),
        "took {:?}",
        frozen_at.elapsed()
    );
}

/// Sends SIGSTOP to the target's per-connection sshd processes; returns their pids.
fn stop_session_processes(t: &SshTarget) -> Vec<i32> {
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", t.sshd_pid)).unwrap();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&ns)
        {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).starts_with("sshd: root") {
            // SAFETY: signalling a process of the test's own target.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn bastion_with_a_password_shares_the_connect_budget() {
    let bastion = SshTarget::start();
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {},
                 "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": {}, "ssh_bastion_username": "kiln",
                 "ssh_bastion_password": "kiln-user-pw"}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/via-password-bastion"]}}]}}"#,
            t.comm_json("root"),
            bastion.port,
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), bastion.log());
    assert!(t.path("/root/via-password-bastion").exists());
    assert!(
        bastion.log().contains("Accepted password for kiln"),
        "{}",
        bastion.log()
    );

    // A bastion that accepts TCP but never speaks: bastion and target together get one
    // ssh_timeout, and the error names the bastion.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}, "ssh_timeout": "3s",
                 "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": {port}, "ssh_bastion_username": "kiln",
                 "ssh_bastion_password": "kiln-user-pw"}}]}}"#,
            t.comm_json("root"),
        ),
    );
    let start = Instant::now();
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("connecting to bastion kiln@127.0.0.1"),
        "{text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    drop(silent);
}

#[test]
fn ssh_pty_gives_commands_a_terminal() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    for (pty, want) in [(true, "/dev/pts/"), (false, "not a tty")] {
        let tpl = template(
            dir.path(),
            &format!(
                r#"{{"builders": [{{"type": "null", {}, "ssh_pty": {pty}}}],
                   "provisioners": [{{"type": "shell", "inline": ["tty > /root/tty-{pty} || true"]}}]}}"#,
                t.comm_json("root")
            ),
        );
        let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
        assert!(out.status.success(), "{}", stdout(&out));
        let got = std::fs::read_to_string(t.path(&format!("/root/tty-{pty}"))).unwrap();
        assert!(got.contains(want), "ssh_pty={pty}: {got}");
    }
}

#[test]
fn shell_options_place_run_and_keep_scripts_as_asked() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("crlf.sh"),
        "#!/bin/sh\r\necho crlf-kept\r\n",
    )
    .unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "shell", "inline": ["echo \"$GREETING $OTHER\" > /root/env-out"],
                   "env": {{"GREETING": "hello env"}}, "environment_vars": ["OTHER=and vars"],
                   "remote_folder": "/root/scripts", "remote_file": "custom.sh", "skip_clean": true}},
                 {{"type": "shell", "inline": ["echo \"$FILEVAR\" > /root/envfile-out"],
                   "environment_vars": ["FILEVAR=from the env file"], "use_env_var_file": true}},
                 {{"type": "shell", "script": "crlf.sh", "binary": true, "remote_path": "/root/binary.sh",
                   "skip_clean": true, "execute_command": "cat {{{{ .Path }}}} | od -c > /root/binary-od"}},
                 {{"type": "shell", "inline": ["print('python ran')"], "inline_shebang": "/usr/bin/python3",
                   "execute_command": "{{{{ .Path }}}} > /root/shebang-out"}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    std::fs::create_dir_all(t.path("/root/scripts")).unwrap();
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let read = |p: &str| std::fs::read_to_string(t.path(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("/root/env-out"), "hello env and vars\n");
    // remote_folder/remote_file placed the script, skip_clean kept it.
    assert!(read("/root/scripts/custom.sh").contains("/root/env-out"));
    assert_eq!(read("/root/envfile-out"), "from the env file\n");
    // binary: the CRLF line endings were not converted.
    assert!(
        read("/root/binary-od").contains("\\r"),
        "{}",
        read("/root/binary-od")
    );
    // Scripts arrive with mode 0755 (crlf.sh is 0644 here), as Packer's chmod leaves them.
    for p in ["/root/scripts/custom.sh", "/root/binary.sh"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.path(p)).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755, "{p}");
    }
    assert_eq!(read("/root/shebang-out"), "python ran\n");
    // Without skip_clean, scripts and env files are gone.
    let left = t.entries("/tmp");
    assert!(left.is_empty(), "left in /tmp: {left:?}");
}

#[test]
fn file_sources_content_and_generated_sources() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.txt"), "one\n").unwrap();
    std::fs::write(dir.path().join("two.txt"), "two\n").unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [
                 {{"type": "file", "sources": ["one.txt", "two.txt"], "destination": "/root/many/"}},
                 {{"type": "file", "content": "written by kiln\n", "destination": "/root/content.txt"}},
                 {{"type": "shell-local", "inline": ["echo made later > later.txt"]}},
                 {{"type": "file", "source": "later.txt", "generated": true, "destination": "/root/later.txt"}}
               ]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    let read = |p: &str| std::fs::read_to_string(t.path(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("/root/many/one.txt"), "one\n");
    assert_eq!(read("/root/many/two.txt"), "two\n");
    assert_eq!(read("/root/content.txt"), "written by kiln\n");
    assert_eq!(read("/root/later.txt"), "made later\n");
    // Without `generated`, a source that does not exist yet is a validation error.
    let bad = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {}}}],
               "provisioners": [{{"type": "file", "source": "nope.txt", "destination": "/root/x"}}]}}"#,
            t.comm_json("root")
        ),
    );
    let out = run_in(dir.path(), &["validate", &bad], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("bad source 'nope.txt'"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn secrets_never_appear_in_remote_command_lines() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"variables": {{"token": "tok-9f8e7d6c5b"}}, "sensitive-variables": ["token"],
               "builders": [{{"type": "null", {}}}],
               "provisioners": [{{"type": "shell", "environment_vars": ["TOKEN={{{{user `token`}}}}"],
                                  "inline": ["touch /tmp/kiln-running; sleep 3; echo ${{#TOKEN}} > /root/token-len"]}}]}}"#,
            t.comm_json("root")
        ),
    );
    let child = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", &tpl])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.path("/tmp/kiln-running").exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it runs, no process on the machine carries the secret in its arguments.
    let procs = t.processes();
    assert!(procs.iter().any(|p| p.contains("sleep 3")), "{procs:?}");
    assert!(
        !procs.iter().any(|p| p.contains("tok-9f8e7d6c5b")),
        "secret in a command line: {procs:?}"
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/root/token-len")).unwrap(),
        "14\n"
    );
}

/// A TCP server on loopback that answers each connection with `greeting` (maybe nothing) and
/// then holds it open without a word more.
fn mute_server(greeting: &'static [u8]) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut c in l.incoming().flatten() {
            use std::io::Write;
            let _ = c.write_all(greeting);
            held.push(c);
        }
    });
    port
}

#[test]
fn banner_and_key_exchange_failures_name_their_phase_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    std::fs::write(&key, "not used").unwrap();
    for (greeting, phase) in [
        (&b""[..], "SSH banner"),
        (&b"SSH-2.0-mute\r\n"[..], "key exchange"),
    ] {
        let port = mute_server(greeting);
        let tpl = template(
            dir.path(),
            &format!(
                r#"{{"builders": [{{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1",
                     "ssh_port": {port}, "ssh_username": "root", "ssh_password": "x",
                     "ssh_timeout": "4s", "pause_before_connecting": "1s"}}]}}"#
            ),
        );
        let start = Instant::now();
        let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("Pausing 1s before connecting..."), "{text}");
        assert!(
            text.contains(&format!(
                "SSH to root@127.0.0.1:{port} failed in phase \"{phase}\""
            )),
            "{phase}: {text}"
        );
        // The pause, then one budget of 4s.
        assert!(
            start.elapsed() < Duration::from_secs(9),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn bastion_with_agent_auth() {
    let bastion = SshTarget::start();
    let t = SshTarget::start();
    let agent = Agent::with_key(&bastion.key);
    let dir = tempfile::tempdir().unwrap();
    let tpl = template(
        dir.path(),
        &format!(
            r#"{{"builders": [{{"type": "null", {},
                 "ssh_bastion_host": "127.0.0.1", "ssh_bastion_port": {}, "ssh_bastion_username": "kiln",
                 "ssh_bastion_agent_auth": true}}],
               "provisioners": [{{"type": "shell", "inline": ["touch /root/via-agent-bastion"]}}]}}"#,
            t.comm_json("root"),
            bastion.port,
        ),
    );
    let out = run_in(
        dir.path(),
        &["build", "-color=false", &tpl],
        &[("SSH_AUTH_SOCK", agent.sock.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), bastion.log());
    assert!(t.path("/root/via-agent-bastion").exists());
    assert!(
        bastion.log().contains("Accepted publickey for kiln"),
        "{}",
        bastion.log()
    );
}
