//! Shared helpers for the end-to-end tests: run the real `kiln` binary in a scratch directory
//! and normalise its output the way `scripts/gen-goldens.py` normalises Packer's.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kiln binary under test.
pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a golden file.
pub fn golden(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The seed's template, as the seed document gives it (with its missing comma).
pub fn seed_json() -> String {
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/000_f83e5ddeb25fd349.txt");
    let text = std::fs::read_to_string(&seed).expect("shared/seed beside the checkout");
    let start = text.find("```json\n").unwrap() + "```json\n".len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_string()
}

/// Runs kiln with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = kiln();
    c.current_dir(dir).args(args).env_remove("PACKER_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run kiln")
}

/// Asserts that `text` contains each of `lines`, naming the first one missing.
pub fn assert_says(text: &str, lines: &[&str]) {
    for said in lines {
        assert!(text.contains(said), "{said:?} in:\n{text}");
    }
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `(timestamp, target, type, rest)` of each machine-readable line.
pub fn machine_lines(out: &str) -> Vec<(String, String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let mut p = l.splitn(4, ',');
            Some((
                p.next()?.to_string(),
                p.next()?.to_string(),
                p.next()?.to_string(),
                p.next().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// Artifact lines without timestamps, stably sorted by build.
pub fn artifact_lines(out: &str) -> String {
    let mut v: Vec<(String, String)> = machine_lines(out)
        .into_iter()
        .filter(|(_, _, t, _)| t == "artifact" || t == "artifact-count")
        .map(|(_, target, t, rest)| (target.clone(), format!("{target},{t},{rest}")))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, l)| l + "\n").collect()
}

/// The text of every `ui,message` line, sorted.
pub fn message_lines(out: &str) -> String {
    let mut v: Vec<String> = machine_lines(out)
        .into_iter()
        .filter(|(_, _, t, rest)| t == "ui" && rest.starts_with("message,"))
        .map(|(_, _, _, rest)| rest["message,".len()..].to_string())
        .collect();
    v.sort();
    v.into_iter().map(|l| l + "\n").collect()
}

/// The say and error lines, sorted, with durations and temporary script names replaced, as
/// `scripts/gen-goldens.py` normalises Packer's.
pub fn say_lines(out: &str) -> String {
    let mut v: Vec<String> = machine_lines(out)
        .into_iter()
        .filter(|(_, _, t, rest)| {
            t == "ui" && (rest.starts_with("say,") || rest.starts_with("error,"))
        })
        .map(|(_, _, _, rest)| {
            let mut line = String::new();
            let mut rest = rest.as_str();
            while let Some(i) = rest.find("packer-shell") {
                line.push_str(&rest[..i]);
                line.push_str("packer-shellX");
                rest = rest[i + "packer-shell".len()..]
                    .trim_start_matches(|c: char| c.is_ascii_alphanumeric());
            }
            line.push_str(rest);
            match line.find(" after ") {
                Some(i) => format!("{} after DURATION", &line[..i]),
                None => line,
            }
        })
        .collect();
    v.sort();
    v.into_iter().map(|l| l + "\n").collect()
}

/// The manifest with times and run ids replaced and builds sorted by name.
pub fn normalized_manifest(path: &Path) -> serde_json::Value {
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let builds = m["builds"].as_array_mut().unwrap();
    for b in builds.iter_mut() {
        b["build_time"] = 0.into();
        b["packer_run_uuid"] = "RUN".into();
    }
    builds.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    m["last_run_uuid"] = "RUN".into();
    m
}

/// Sorted names of the files in a directory.
pub fn listing(dir: &Path) -> String {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v.into_iter().map(|l| l + "\n").collect()
}

/// A local ssh-agent holding `key`; killed on drop.
pub struct Agent {
    child: std::process::Child,
    /// Its socket, for `SSH_AUTH_SOCK`.
    pub sock: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts an agent and adds `key` to it.
    pub fn with_key(key: &Path) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "ssh-agent did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let added = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &sock)
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        Agent {
            child,
            sock,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `kiln build ARGS` on a terminal with `env` set, typing `answers`.
pub fn on_a_terminal(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    answers: &str,
) -> (i32, String) {
    use std::io::Write;
    let command = format!("{} build {}", env!("CARGO_BIN_EXE_kiln"), args.join(" "));
    let mut child = std::process::Command::new("script")
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), stdout(&out))
}

/// A CA and a certificate it signed for 127.0.0.1, made by openssl in `dir`: the CA's
/// certificate, the server's certificate and its key.
pub fn test_ca(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let script = r#"set -e
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
          -subj /CN=kiln-test-ca -keyout ca.key -out ca.pem \
          -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
          -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
          -extfile ext -out server.pem"#;
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ["ca.pem", "server.pem", "server.key"].map(|f| dir.join(f))
}

/// One member of a .tar.gz (a Vagrant box), read with the system's tar.
pub fn tar_gz_member(tar: &Path, member: &str) -> Vec<u8> {
    let o = Command::new("tar")
        .arg("-xzOf")
        .arg(tar)
        .arg(member)
        .output()
        .expect("run tar");
    assert!(
        o.status.success(),
        "{member} in {}: {}",
        tar.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}
