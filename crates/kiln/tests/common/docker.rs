//! A real Docker daemon for the docker builder's tests: one `dockerd` per test binary, with its
//! own data root and socket under /var/tmp, no networking (`--bridge=none --iptables=false`),
//! and the base image `kiln-test:base` imported from the test root filesystem
//! (scripts/test-rootfs.sh). It is started by a thread that lives as long as the test process
//! and asked to die with it (PR_SET_PDEATHSIG); the next run removes the data roots of
//! daemons whose process is gone.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The test image every build starts from.
pub const BASE: &str = "kiln-test:base";

/// Where the daemons' data roots go, one directory per test process.
const ROOT: &str = "/var/tmp/kiln-test-docker";

/// A running daemon.
pub struct Dockerd {
    /// `DOCKER_HOST` for it.
    pub host: String,
    /// Its directory (data root, exec root, socket, log).
    pub dir: PathBuf,
}

/// The test process's daemon, started (and the base image imported) on first use, held by
/// one test at a time: the tests count the containers and images left, which another test's
/// build running beside would change.
pub fn dockerd() -> (std::sync::MutexGuard<'static, ()>, &'static Dockerd) {
    static D: OnceLock<Dockerd> = OnceLock::new();
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
    (guard, D.get_or_init(start))
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Removes the directories of daemons whose test process has exited.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(ROOT) else {
        return;
    };
    for e in entries.flatten() {
        let pid: i32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
        let daemon_pid = std::fs::read_to_string(e.path().join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        if pid > 0 && !alive(pid) && (daemon_pid == 0 || !alive(daemon_pid)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn start() -> Dockerd {
    assert!(
        Command::new("dockerd")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "dockerd is missing: install docker.io (scripts/test.sh does)"
    );
    remove_stale();
    let dir = PathBuf::from(ROOT).join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let host = format!("unix://{}/docker.sock", dir.display());
    let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
    let mut cmd = Command::new("dockerd");
    cmd.args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("pid"))
        .args(["-H", &host])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: prctl in the child before exec; it only sets the signal sent when the parent
    // thread ends, which is the long-lived thread below.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let child = cmd.spawn();
        let ok = child.is_ok();
        tx.send(child.map(|c| c.id()).map_err(|e| e.to_string()))
            .unwrap();
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv().unwrap().expect("start dockerd");
    let d = Dockerd { host, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.docker(&["version"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "dockerd did not start: {}",
            std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rootfs = super::target::rootfs();
    let import = Command::new("sh")
        .arg("-c")
        .arg("tar -C \"$1\" -c . | docker import - \"$2\" >/dev/null")
        .args(["sh", rootfs.to_str().unwrap(), BASE])
        .env("DOCKER_HOST", &d.host)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "importing {BASE}: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    d
}

impl Dockerd {
    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// [`Dockerd::docker`], which must succeed; its trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Every container's id, running or not.
    pub fn containers(&self) -> Vec<String> {
        self.ok(&["ps", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every image's id.
    pub fn images(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ok(&["images", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A scratch directory for one build: the template's directory, its own kiln state directory
/// and Packer config directory (where the shared temporary directories go).
pub struct Scratch {
    /// The directory.
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// A new one.
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        Scratch { dir }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment kiln runs with: this daemon, this state and config directory, and a
    /// docker CLI configuration of its own (where `docker login` keeps credentials).
    pub fn env(&self, d: &Dockerd) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".into(), d.host.clone()),
            (
                "DOCKER_CONFIG".into(),
                self.path().join("docker-config").display().to_string(),
            ),
            (
                "KILN_STATE_DIR".into(),
                self.path().join("state").display().to_string(),
            ),
            (
                "PACKER_CONFIG_DIR".into(),
                self.path().join("config").display().to_string(),
            ),
        ]
    }

    /// A `kiln` command in this directory with [`Scratch::env`].
    pub fn kiln(&self, d: &Dockerd, args: &[&str]) -> Command {
        let mut c = super::common::kiln();
        c.current_dir(self.path())
            .args(args)
            .env_remove("PACKER_LOG")
            .envs(self.env(d));
        c
    }

    /// What is left of the shared temporary directories and the journals.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for sub in ["config/.packer.d", "state"] {
            if let Ok(entries) = std::fs::read_dir(self.path().join(sub)) {
                left.extend(entries.flatten().map(|e| e.path().display().to_string()));
            }
        }
        left
    }
}

/// A real registry (Debian's docker-registry, the CNCF distribution) on a loopback port, which
/// Docker trusts over plain HTTP (127.0.0.0/8 is an insecure registry by default), with one
/// user in an htpasswd file; killed when dropped.
pub struct Registry {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The user and password it accepts.
    pub user: (&'static str, &'static str),
}

impl Registry {
    /// Starts one and waits until it answers.
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let user = ("kiln", "registry-s3cret-pass");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user.0, user.1])
            .output()
            .expect("htpasswd (apache2-utils)");
        assert!(htpasswd.status.success());
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root}/data}}}}\nhttp: {{addr: \"{addr}\"}}\nauth: {{htpasswd: {{realm: kiln, path: {root}/htpasswd}}}}\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (scripts/test.sh installs it)");
        let r = Registry {
            child,
            _dir: dir,
            addr,
            user,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// The tags of `repository`, asked of the registry's API with the user's password.
    pub fn tags(&self, repository: &str) -> String {
        let o = Command::new("curl")
            .args(["-s", "-u", &format!("{}:{}", self.user.0, self.user.1)])
            .arg(format!("http://{}/v2/{repository}/tags/list", self.addr))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
