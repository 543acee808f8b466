//! Isolated SSH targets for end-to-end tests: a real OpenSSH sshd running chrooted in an
//! overlay of the test root filesystem (scripts/test-rootfs.sh), inside its own mount and PID
//! namespaces, listening on a free loopback port. Everything it mounts lives in its mount
//! namespace and vanishes with it; dropping the target kills the namespace.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test root filesystem, built by scripts/test-rootfs.sh (CI runs it first and exports
/// KILN_TEST_ROOTFS; otherwise the script's default cache path for its current version).
pub fn rootfs() -> PathBuf {
    let p = std::env::var("KILN_TEST_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scripts/test-rootfs.sh");
            let text = std::fs::read_to_string(script).unwrap();
            let version = text
                .lines()
                .find_map(|l| l.strip_prefix("VERSION="))
                .expect("VERSION= in test-rootfs.sh");
            PathBuf::from(format!("/var/tmp/kiln-cache/rootfs-v{version}"))
        });
    assert!(
        p.join(".kiln-ready").exists(),
        "the SSH test root filesystem is missing at {}: run scripts/test-rootfs.sh first",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sshd target.
pub struct SshTarget {
    child: Child,
    dir: tempfile::TempDir,
    /// Host pid of the target's init (PID 1 of its namespace, which runs sshd).
    pub sshd_pid: u32,
    /// Loopback port.
    pub port: u16,
    /// Private key accepted for `root` and `kiln`.
    pub key: PathBuf,
}

const BOOT: &str = r#"set -e
R=$1; T=$2; PORT=$3
mount -t overlay overlay -o lowerdir=$R,upperdir=$T/upper,workdir=$T/work $T/merged
M=$T/merged
mount -t proc proc $M/proc
mount -t tmpfs -o mode=0755 tmpfs $M/dev
for d in null:1:3 zero:1:5 random:1:8 urandom:1:9 tty:5:0; do
  n=${d%%:*}; r=${d#*:}; mknod -m 666 $M/dev/$n c ${r%:*} ${r#*:}
done
mkdir -p $M/dev/pts $M/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $M/dev/pts
ln -s pts/ptmx $M/dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs $M/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $M/tmp
chroot $M /bin/sh -c '
  ssh-keygen -q -t ed25519 -N "" -f /root/kiln_test_key
  for h in /root /home/kiln /home/centos; do
    mkdir -p $h/.ssh && cat /root/kiln_test_key.pub > $h/.ssh/authorized_keys && chmod 700 $h/.ssh
  done
  chown -R kiln:kiln /home/kiln/.ssh && chown -R centos:centos /home/centos/.ssh'
cp $M/root/kiln_test_key $T/key
# PID 1 restarts sshd when it dies, so a test can "reboot" the target by killing everything.
exec chroot $M /bin/sh -c "while :; do /usr/sbin/sshd -D -e -f /etc/ssh/kiln_sshd_config -p $PORT $EXTRA; sleep 0.2; done"
"#;

impl SshTarget {
    /// Boots a target; `extra_sshd_args` are added to sshd's command line.
    pub fn start() -> SshTarget {
        Self::start_with("")
    }

    /// Boots a target with extra sshd options (e.g. `-o MaxStartups=1`).
    pub fn start_with(extra_sshd_args: &str) -> SshTarget {
        let root = rootfs();
        let dir = tempfile::tempdir().unwrap();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "bash",
                "-c",
                BOOT,
                "boot",
            ])
            .arg(&root)
            .arg(dir.path())
            .arg(port.to_string())
            .env("EXTRA", extra_sshd_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) is needed for SSH targets");
        let mut t = SshTarget {
            child,
            dir,
            sshd_pid: 0,
            port,
            key: PathBuf::new(),
        };
        t.key = t.dir.path().join("key");
        t.wait_ready();
        t
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd target exited ({status}):\n{}", self.log());
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut buf = [0u8; 64];
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if s.read(&mut buf)
                    .map(|n| buf[..n].starts_with(b"SSH-"))
                    .unwrap_or(false)
                {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let children = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            self.child.id(),
            self.child.id()
        ))
        .unwrap_or_default();
        self.sshd_pid = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("sshd pid");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// sshd's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The target's filesystem, as seen from the host.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.sshd_pid))
    }

    /// A path inside the target.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root().join(p.trim_start_matches('/'))
    }

    /// Names of the entries of a directory inside the target.
    pub fn entries(&self, dir: &str) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(self.path(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect()
    }

    /// Command lines of every process in the target (its PID namespace).
    pub fn processes(&self) -> Vec<String> {
        let ns = std::fs::read_link(format!("/proc/{}/ns/pid", self.sshd_pid)).unwrap();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .ok()
                .as_ref()
                != Some(&ns)
            {
                continue;
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            {
                continue;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            out.push(
                String::from_utf8_lossy(&cmd)
                    .replace('\0', " ")
                    .trim()
                    .to_string(),
            );
        }
        out
    }

    /// A JSON fragment with the communicator options to reach this target as `user`.
    pub fn comm_json(&self, user: &str) -> String {
        format!(
            r#""communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": {}, "ssh_username": "{user}", "ssh_private_key_file": "{}""#,
            self.port,
            self.key.display()
        )
    }
}

impl Drop for SshTarget {
    fn drop(&mut self) {
        // Killing sshd (PID 1 of the namespace) ends every process in it and its mounts.
        // SAFETY: signalling processes this test started.
        unsafe {
            if self.sshd_pid != 0 {
                libc::kill(self.sshd_pid as i32, libc::SIGKILL);
            }
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
