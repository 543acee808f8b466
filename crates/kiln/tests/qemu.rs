//! The qemu builder against real QEMU (TCG) booting the test machine of
//! scripts/test-guest.sh (Debian's cloud kernel, the SSH targets' root filesystem, sshd on
//! port 22): a build that provisions over the forwarded port and leaves a disk holding what
//! the provisioners wrote, read back with qemu-img and debugfs; and that a failed build,
//! SIGINT, or kill -9 and `kiln cleanup` leave no VM running and no output directory.

mod common;

use common::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One VM at a time: TCG on two cores.
static ONE_VM: Mutex<()> = Mutex::new(());

fn one_vm() -> std::sync::MutexGuard<'static, ()> {
    ONE_VM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test machine, built by scripts/test-guest.sh (scripts/test.sh runs it first and
/// exports KILN_TEST_GUEST; otherwise the script's default cache path for its version).
fn guest() -> PathBuf {
    let p = std::env::var("KILN_TEST_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-guest.sh");
            let text = std::fs::read_to_string(script).unwrap();
            let version = text
                .lines()
                .find_map(|l| l.strip_prefix("VERSION="))
                .expect("VERSION= in test-guest.sh");
            PathBuf::from(format!("/var/tmp/kiln-cache/guest-v{version}"))
        });
    assert!(
        p.join(".kiln-ready").exists(),
        "the test machine is missing at {}: run scripts/test-guest.sh first",
        p.display()
    );
    p
}

/// A scratch directory with its own kiln state and config directories.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        // Under /var/tmp: the disks are large for a tmpfs /tmp.
        let dir = tempfile::Builder::new()
            .prefix("kiln-qemu-test")
            .tempdir_in("/var/tmp")
            .unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn kiln(&self, args: &[&str]) -> Command {
        let mut c = kiln();
        c.current_dir(self.path())
            .args(args)
            .env_remove("PACKER_LOG")
            .env("KILN_STATE_DIR", self.path().join("state"))
            .env("PACKER_CONFIG_DIR", self.path().join("config"));
        c
    }

    fn write(&self, name: &str, text: &str) {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// The journals left in the state directory.
    fn journals(&self) -> Vec<String> {
        std::fs::read_dir(self.path().join("state"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn output_dir(&self) -> PathBuf {
        self.path().join("output-qemu")
    }

    /// The QEMU processes whose command line names this scratch directory.
    fn vms(&self) -> Vec<i32> {
        let needle = self.path().display().to_string();
        let mut found = vec![];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.starts_with("qemu-system") && cmd.contains(&needle) {
                found.push(pid);
            }
        }
        found
    }
}

/// The builder the tests use: the machine's disk booted with its kernel and initrd, reached
/// as `kiln` with a password, powered off with `sudo poweroff`.
fn builder(g: &Path, s: &Scratch) -> serde_json::Value {
    serde_json::json!({
        "type": "qemu",
        "disk_image": true,
        "iso_url": g.join("disk.qcow2"),
        "iso_checksum": "none",
        "output_directory": s.output_dir(),
        "headless": true,
        "accelerator": "tcg",
        "memory": 512,
        "qemuargs": [
            ["-kernel", g.join("vmlinuz")],
            ["-initrd", g.join("initrd.img")],
            ["-append", "console=ttyS0 root=/dev/vda"]
        ],
        "ssh_username": "kiln",
        "ssh_password": "kiln-user-pw",
        "ssh_timeout": "5m",
        "shutdown_command": "sudo poweroff"
    })
}

/// The builder of a machine that runs one line typed on its keyboard (test-guest.sh,
/// `kiln.keys`).
fn keyed_builder(g: &Path, s: &Scratch) -> serde_json::Value {
    let mut b = builder(g, s);
    b["qemuargs"] = serde_json::json!([
        ["-kernel", g.join("vmlinuz")],
        ["-initrd", g.join("initrd.img")],
        ["-append", "console=ttyS0 root=/dev/vda kiln.keys"]
    ]);
    b
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs kiln with `args` in the scratch directory; it must succeed. Its output.
fn run_ok(s: &Scratch, args: &[&str]) -> String {
    let o = s.kiln(args).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    out
}

fn build(s: &Scratch, template: &serde_json::Value) -> Output {
    s.write("t.json", &template.to_string());
    s.kiln(&["build", "-color=false", "t.json"])
        .output()
        .unwrap()
}

/// A file inside the ext4 filesystem of a disk image: the disk converted to raw, read with
/// debugfs.
fn file_in_disk(disk: &Path, path: &str) -> String {
    let raw = disk.with_extension("raw");
    let o = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(disk)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(o.status.success(), "qemu-img convert: {}", text(&o));
    let o = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(&raw)
        .output()
        .unwrap();
    std::fs::remove_file(&raw).unwrap();
    assert!(o.status.success(), "debugfs: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits up to `limit` for `done`.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

#[test]
fn a_build_provisions_the_machine_and_leaves_its_disk_with_what_was_written() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    s.write("files/a.txt", "hello from the host\n");
    let t = serde_json::json!({
        "builders": [builder(&g, &s)],
        "provisioners": [
            {"type": "shell", "inline": [
                "echo \"on: $(hostname) as: $(id -un) type: $PACKER_BUILDER_TYPE\"",
                "echo built-by-kiln | sudo tee /etc/kiln-built >/dev/null"]},
            {"type": "file", "source": "files/a.txt", "destination": "/home/kiln/a.txt"}
        ],
        "post-processors": [
            {"type": "manifest", "output": "manifest.json"},
            {"type": "vagrant", "keep_input_artifact": true, "include": ["files/a.txt"],
             "output": "boxes/{{.Provider}}-{{.BuildName}}.box",
             "vagrantfile_template": "files/Vagrantfile.tpl",
             "override": {"libvirt": {"compression_level": 1}}}
        ]
    });
    s.write(
        "files/Vagrantfile.tpl",
        "# for {{ .Provider }} {{ .ArtifactId }}\n",
    );
    let o = build(&s, &t);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu (vagrant): Creating Vagrant box for 'libvirt' provider",
            "    qemu (vagrant): Copying from include: files/a.txt",
            "    qemu (vagrant): Using custom Vagrantfile: files/Vagrantfile.tpl",
            "    qemu (vagrant): Compressing: box.img",
            "--> qemu: 'libvirt' provider box: boxes/libvirt-qemu.box",
            "==> qemu: Retrieving ISO",
            "    qemu: File extension already matches desired output format. Skipping qemu-img convert step",
            "==> qemu: Resizing hard drive...",
            "==> qemu: Found port for communicator (SSH, WinRM, etc): ",
            "==> qemu: Starting VM, booting disk image",
            "==> qemu: Overriding default Qemu arguments with qemuargs template option...",
            "==> qemu: Connected to SSH!",
            "    qemu: on: kiln-guest as: kiln type: qemu",
            "==> qemu: Uploading files/a.txt => /home/kiln/a.txt",
            "==> qemu: Gracefully halting virtual machine...",
            "==> qemu: Converting hard drive...",
            "--> qemu: VM files in directory: ",
        ],
    );
    // The disk, and nothing of kiln's bookkeeping, in the output directory.
    let names: Vec<String> = std::fs::read_dir(s.output_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["packer-qemu".to_string()], "{out}");
    let disk = s.output_dir().join("packer-qemu");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(
        info["virtual-size"],
        40960u64 * 1024 * 1024,
        "resized to disk_size"
    );
    assert!(
        info.get("backing-filename").is_none(),
        "a copy, not an overlay: {info}"
    );
    assert_eq!(file_in_disk(&disk, "/etc/kiln-built"), "built-by-kiln\n");
    assert_eq!(
        file_in_disk(&disk, "/home/kiln/a.txt"),
        "hello from the host\n"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path().join("manifest.json")).unwrap())
            .unwrap();
    let b = &m["builds"][0];
    assert_eq!(b["builder_type"], "qemu");
    assert_eq!(b["artifact_id"], "VM");
    assert_eq!(b["files"][0]["name"], disk.display().to_string());
    assert_eq!(
        b["files"][0]["size"],
        std::fs::metadata(&disk).unwrap().len()
    );
    // The Vagrant box: the disk as box.img, Packer's metadata and Vagrantfile, the include.
    let boxed = untar_gz(&s.path().join("boxes/libvirt-qemu.box"));
    let names: Vec<&str> = boxed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Vagrantfile", "a.txt", "box.img", "metadata.json"]);
    assert_eq!(boxed[1].1, b"hello from the host\n");
    assert!(
        boxed[2].1 == std::fs::read(&disk).unwrap(),
        "box.img is not the disk"
    );
    assert_eq!(
        String::from_utf8_lossy(&boxed[3].1),
        "{\"format\":\"qcow2\",\"provider\":\"libvirt\",\"virtual_size\":40}\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&boxed[0].1),
        "\n# The contents below were provided by the Packer Vagrant post-processor\n\n\
         Vagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    \
         libvirt.driver = \"qemu\"\n  end\nend\n\n\n# The contents below (if any) are custom \
         contents provided by the\n# Packer template during image build.\n# for libvirt VM\n\n"
    );
    assert_eq!(s.vms(), Vec::<i32>::new(), "a VM left running");
    assert_eq!(s.journals(), Vec::<String>::new(), "journal left");
}

/// The entries of a .tar.gz, in order: name, contents.
fn untar_gz(path: &Path) -> Vec<(String, Vec<u8>)> {
    let out = Command::new("tar").arg("-tzf").arg(path).output().unwrap();
    assert!(out.status.success(), "tar -t: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|name| (name.to_string(), tar_gz_member(path, name)))
        .collect()
}

#[test]
fn a_failed_provisioner_stops_the_vm_and_removes_the_output_directory() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let mut b = builder(&g, &s);
    b["use_backing_file"] = true.into();
    let t = serde_json::json!({
        "builders": [b],
        "provisioners": [{"type": "shell", "inline": ["echo about to fail", "exit 3"]}]
    });
    let o = build(&s, &t);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Creating required virtual machine disks",
            "    qemu: about to fail",
            "Script exited with non-zero exit status: 3",
            "==> qemu: Stopping the virtual machine...",
            "==> qemu: Deleting output directory...",
        ],
    );
    assert!(!s.output_dir().exists(), "{out}");
    assert_eq!(s.vms(), Vec::<i32>::new(), "a VM left running");
    assert_eq!(s.journals(), Vec::<String>::new(), "journal left");
}

/// Starts a build whose provisioner sleeps, and returns once it prints that it is
/// provisioning, with the rest of its output to come on the channel.
fn start_sleeping_build(g: &Path, s: &Scratch) -> (Child, mpsc::Receiver<String>) {
    // With a CD and a floppy too: each is a temporary of its own to clean up.
    s.write("cd/meta-data", "instance-id: kiln\n");
    let mut b = builder(g, s);
    b["cd_files"] = serde_json::json!(["cd/meta-data"]);
    b["floppy_files"] = serde_json::json!(["cd/meta-data"]);
    let t = serde_json::json!({
        "builders": [b],
        "provisioners": [{"type": "shell", "inline": ["echo provisioning-now", "sleep 600"]}]
    });
    s.write("t.json", &t.to_string());
    let mut child = s
        .kiln(&["build", "-color=false", "t.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("qemu: provisioning-now") {
                    break;
                }
            }
            Err(_) => panic!("the build never provisioned:\n{seen}"),
        }
    }
    assert_eq!(s.vms().len(), 1, "{seen}");
    (child, rx)
}

/// Starts a build, kills kiln with SIGKILL while it provisions, and waits for its VM to die
/// with it.
fn kill_9_while_provisioning(g: &Path, s: &Scratch) {
    let (mut child, _rx) = start_sleeping_build(g, s);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || s.vms().is_empty()),
        "the VM outlived the killed kiln: {:?}",
        s.vms()
    );
}

#[test]
fn sigint_while_provisioning_stops_the_vm_and_removes_the_output_directory() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let before = kiln_cds();
    let floppies = kiln_floppies();
    let (mut child, rx) = start_sleeping_build(&g, &s);
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let out: String = rx.iter().map(|l| l + "\n").collect();
    assert_eq!(status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Stopping the virtual machine...",
            "==> qemu: Deleting output directory...",
        ],
    );
    assert!(!s.output_dir().exists(), "{out}");
    assert_eq!(s.vms(), Vec::<i32>::new(), "a VM left running");
    assert_eq!(s.journals(), Vec::<String>::new(), "journal left");
    assert_eq!(kiln_cds(), before, "the CD was left behind");
    assert_eq!(kiln_floppies(), floppies, "the floppy was left behind");
}

#[test]
fn kill_9_takes_the_vm_with_it_and_cleanup_removes_the_output_directory() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let before = kiln_cds();
    let floppies = kiln_floppies();
    kill_9_while_provisioning(&g, &s);
    assert_eq!(kiln_cds().len(), before.len() + 1, "the dead run's CD");
    assert_eq!(
        kiln_floppies().len(),
        floppies.len() + 1,
        "the dead run's floppy"
    );
    assert!(
        s.output_dir().join(".kiln-run").exists(),
        "the half-made output was lost"
    );
    assert_eq!(s.journals().len(), 1, "the dead run's journal");
    let o = s.kiln(&["cleanup"]).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!s.output_dir().exists(), "{out}");
    assert_eq!(s.journals(), Vec::<String>::new(), "{out}");
    assert_eq!(kiln_cds(), before, "{out}");
    assert_eq!(kiln_floppies(), floppies, "{out}");
}

#[test]
fn cleanup_leaves_an_output_directory_that_another_run_marked() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    kill_9_while_provisioning(&g, &s);
    // The dead run's mark replaced by another's, as when a later build took the directory
    // over: the journal's word is not enough to delete it.
    std::fs::write(s.output_dir().join(".kiln-run"), "some-other-run").unwrap();
    let o = s.kiln(&["cleanup"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is marked by another run; left alone"),
        "{out}"
    );
    assert!(s.output_dir().join("packer-qemu").exists(), "{out}");
}

#[test]
fn a_machine_that_dies_before_ssh_ends_the_wait_with_why() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let mut b = builder(&g, &s);
    // No init where the kernel looks and no driver for its root disk: it panics, reboots
    // after a second, and QEMU (-no-reboot) exits, long before ssh_timeout (5m).
    b["qemuargs"] = serde_json::json!([
        ["-kernel", g.join("vmlinuz")],
        ["-initrd", g.join("initrd.img")],
        [
            "-append",
            "console=ttyS0 rdinit=/nonexistent root=/dev/vda panic=1"
        ],
        ["-no-reboot"]
    ]);
    let o = build(&s, &serde_json::json!({"builders": [b]}));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Waiting for SSH to become available...",
            "The machine stopped before SSH became available: Qemu exited (exit status: 0)",
            "==> qemu: Deleting output directory...",
        ],
    );
    assert!(!out.contains("Timeout waiting for SSH"), "{out}");
    assert!(!s.output_dir().exists(), "{out}");
    assert_eq!(s.vms(), Vec::<i32>::new());
    assert_eq!(s.journals(), Vec::<String>::new());
}

#[test]
fn a_boot_command_is_typed_over_vnc_and_fetches_from_the_http_server() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    s.write("http/hello.txt", "served to the machine\n");
    // The boot command fetches a file from kiln's HTTP server with the address and port
    // rendered into it, then marks that it ran.
    let mut b = keyed_builder(&g, &s);
    b["http_directory"] = "http".into();
    b["boot_wait"] = "15s".into();
    b["boot_key_interval"] = "10ms".into();
    b["boot_command"] = serde_json::json!([
        "busybox wget -q -O /etc/from-http http://{{ .HTTPIP }}:{{ .HTTPPort }}/hello.txt",
        " && echo typed-as-{{ .Name }} > /etc/typed<enter>"
    ]);
    let t = serde_json::json!({
        "builders": [b],
        "provisioners": [{"type": "shell", "inline": [
            "for i in $(seq 100); do [ -e /etc/typed ] && break; sleep 0.1; done",
            "cat /etc/typed /etc/from-http"]}]
    });
    let o = build(&s, &t);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Starting HTTP server on port 8",
            "==> qemu: Waiting 15s for boot...",
            "==> qemu: Connecting to VM via VNC (127.0.0.1:59",
            "==> qemu: Typing the boot command over VNC...",
            "    qemu: typed-as-packer-qemu",
            "    qemu: served to the machine",
        ],
    );
    let disk = s.output_dir().join("packer-qemu");
    assert_eq!(file_in_disk(&disk, "/etc/typed"), "typed-as-packer-qemu\n");
    assert_eq!(s.vms(), Vec::<i32>::new());
    assert_eq!(s.journals(), Vec::<String>::new());
}

#[test]
fn with_vnc_use_password_the_boot_command_is_typed_through_a_password_set_over_qmp() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let mut b = keyed_builder(&g, &s);
    b["vnc_use_password"] = true.into();
    b["boot_wait"] = "15s".into();
    b["boot_key_interval"] = "10ms".into();
    b["boot_command"] = serde_json::json!(["echo typed-with-a-password > /etc/typed<enter>"]);
    let t = serde_json::json!({
        "builders": [b],
        "provisioners": [{"type": "shell", "inline": [
            "for i in $(seq 100); do [ -e /etc/typed ] && break; sleep 0.1; done",
            "cat /etc/typed"]}]
    });
    // The command line asks QEMU for the socket and a password on VNC.
    s.write("t.json", &t.to_string());
    let socket = s.output_dir().join("packer-qemu.monitor");
    let dry = run_ok(&s, &["build", "-dry-run", "-color=false", "t.json"]);
    assert_says(
        &dry,
        &[
            &format!("-qmp unix:{},server,nowait", socket.display()),
            "-vnc 127.0.0.1:0,password=on",
        ],
    );
    let o = build(&s, &t);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            &format!("==> qemu: QMP socket at: {}", socket.display()),
            "connect via VNC to vnc://127.0.0.1:",
            "with the password: ",
            "==> qemu: Typing the boot command over VNC...",
            "    qemu: typed-with-a-password",
        ],
    );
    // The password Packer's way: eight letters and digits.
    let password = out
        .split("with the password: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap();
    assert!(
        password.len() == 8 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password:?}"
    );
    assert!(!socket.exists(), "the QMP socket is left");
    assert_eq!(s.vms(), Vec::<i32>::new());
    assert_eq!(s.journals(), Vec::<String>::new());
}

/// The files named `prefix…` in the temporary directory now.
fn temp_files(prefix: &str) -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The CD files kiln has in the temporary directory now.
fn kiln_cds() -> Vec<String> {
    temp_files("kiln-cd-")
}

#[test]
fn cd_files_reach_the_machine_on_a_labelled_cd_that_is_gone_after() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    s.write("cd/meta-data", "instance-id: kiln\n");
    s.write("cd/seed/user-data", "#cloud-config\n");
    let before = kiln_cds();
    let mut b = builder(&g, &s);
    b["cd_files"] = serde_json::json!(["cd/meta-data", "cd/seed"]);
    b["cd_label"] = "cidata".into();
    let t = serde_json::json!({"builders": [b],
        "provisioners": [{"type": "shell", "inline": [
            // The drivers are not in the machine's kernel: test-guest.sh puts them on the disk.
            "sudo sh -c 'for m in $(cat /lib/kiln-modules/order); do busybox insmod /lib/kiln-modules/$m.ko; done'",
            "for i in $(seq 100); do [ -b /dev/sr0 ] && break; sleep 0.1; done",
            "sudo mkdir -p /mnt/cd && sudo mount -t iso9660 -o ro /dev/sr0 /mnt/cd",
            "echo \"label: $(sudo blkid -o value -s LABEL /dev/sr0)\"",
            "cat /mnt/cd/meta-data /mnt/cd/seed/user-data",
            "sudo umount /mnt/cd"]}]});
    let o = build(&s, &t);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Creating CD disk...",
            "    qemu: Done copying paths from CD_dirs",
            "    qemu: label: cidata",
            "    qemu: instance-id: kiln",
            "    qemu: #cloud-config",
        ],
    );
    assert_eq!(kiln_cds(), before, "the CD was left behind");
    assert_eq!(s.journals(), Vec::<String>::new());
}

/// The floppy images kiln has in the temporary directory now.
fn kiln_floppies() -> Vec<String> {
    temp_files("kiln-floppy-")
}

/// The guest's kernel has no floppy driver, so the machine's side is seen from QEMU's own
/// monitor (what the VM has in its floppy drive), and the image, copied while the VM runs, is
/// read back with mtools.
#[test]
fn floppy_files_reach_the_machine_on_a_labelled_floppy_that_is_gone_after() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    s.write("ks.cfg", "text\nreboot\n");
    s.write("win/Autounattend.xml", "<unattend/>\n");
    s.write("drivers/viostor/viostor.inf", "[Version]\n");
    let before = kiln_floppies();
    let mon = s.path().join("monitor.sock");
    let out_dir = s.path().join("seen");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut b = builder(&g, &s);
    b["floppy_files"] = serde_json::json!(["ks.cfg", "win/*.xml"]);
    b["floppy_dirs"] = serde_json::json!(["drivers"]);
    b["floppy_label"] = "KSDISK".into();
    b["qemuargs"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!([
            "-monitor",
            format!("unix:{},server,nowait", mon.display())
        ]));
    let ask = "import socket, sys, time\n\
        s = socket.socket(socket.AF_UNIX)\n\
        s.connect(sys.argv[1])\n\
        s.settimeout(1)\n\
        s.sendall(b'info block\\n')\n\
        got = b''\n\
        end = time.time() + 10\n\
        while b'floppy0' not in got or not got.rstrip().endswith(b'(qemu)'):\n\
        \x20   if time.time() > end: break\n\
        \x20   try: got += s.recv(65536)\n\
        \x20   except socket.timeout: pass\n\
        open(sys.argv[2], 'wb').write(got)\n";
    s.write("ask.py", ask);
    let t = serde_json::json!({"builders": [b],
    "provisioners": [{"type": "shell-local", "inline": [
        format!("python3 {} {} {}/block.txt", s.path().join("ask.py").display(),
            mon.display(), out_dir.display()),
        format!("img=$(grep -ao '/[^ ]*kiln-floppy-[^ ]*[.]img' {0}/block.txt | head -n1) \
            && cp \"$img\" {0}/floppy.img", out_dir.display()),
    ]}]});
    let o = build(&s, &t);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> qemu: Creating floppy disk...",
            "    qemu: Copying file: ks.cfg",
            "    qemu: Copying file: win/Autounattend.xml",
            "    qemu: Recursively copying : drivers",
        ],
    );
    let block = std::fs::read_to_string(out_dir.join("block.txt")).unwrap();
    assert!(
        block.contains("floppy0") && block.contains("kiln-floppy-"),
        "{block}"
    );
    let img = out_dir.join("floppy.img");
    let mtools = |args: &[&str]| {
        let o = Command::new(args[0])
            .arg("-i")
            .arg(&img)
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(mtools(&["mlabel", "-s", "::"]).contains("KSDISK"));
    assert_eq!(mtools(&["mtype", "::/ks.cfg"]), "text\nreboot\n");
    assert_eq!(mtools(&["mtype", "::/Autounattend.xml"]), "<unattend/>\n");
    assert_eq!(
        mtools(&["mtype", "::/drivers/viostor/viostor.inf"]),
        "[Version]\n"
    );
    assert_eq!(kiln_floppies(), before, "the floppy was left behind");
    assert_eq!(s.journals(), Vec::<String>::new());
}

/// Python's file server, answering byte ranges: argv is the directory and the port.
const RANGED_SERVER: &str = r#"
import http.server, os, re, sys

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=sys.argv[1], **k)

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        f = open(path, 'rb')
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range') or '')
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
            f.seek(start)
            self.left = end - start + 1
        else:
            self.send_response(200)
            self.left = size
        self.send_header('Content-Length', str(self.left))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        return f

    def copyfile(self, source, out):
        while self.left > 0:
            b = source.read(min(1 << 16, self.left))
            if not b:
                break
            out.write(b)
            self.left -= len(b)

http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[2])), H).serve_forever()
"#;

/// Python's HTTP server on a loopback port, serving `dir`; killed when dropped.
struct WebServer {
    child: Child,
    port: u16,
}

impl WebServer {
    fn start(dir: &Path) -> WebServer {
        Self::start_with(dir, None)
    }

    /// A server that also answers `Range` requests (206) and says `Accept-Ranges: bytes`,
    /// as QEMU's curl driver needs.
    fn start_ranged(dir: &Path) -> WebServer {
        Self::start_cmd(|cmd, port| {
            cmd.args(["-c", RANGED_SERVER])
                .arg(dir)
                .arg(port.to_string());
        })
    }

    /// With `tls` (certificate, key): over HTTPS.
    fn start_with(dir: &Path, tls: Option<(&Path, &Path)>) -> WebServer {
        Self::start_cmd(|cmd, port| match tls {
            None => {
                cmd.args(["-m", "http.server", "--bind", "127.0.0.1"])
                    .arg(port.to_string())
                    .arg("--directory")
                    .arg(dir);
            }
            Some((cert, key)) => {
                cmd.args(["-c", "import functools, http.server, ssl, sys\n\
                    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n\
                    s = http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[2])), h)\n\
                    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
                    c.load_cert_chain(sys.argv[3], sys.argv[4])\n\
                    s.socket = c.wrap_socket(s.socket, server_side=True)\n\
                    s.serve_forever()"])
                    .arg(dir)
                    .arg(port.to_string())
                    .arg(cert)
                    .arg(key);
            }
        })
    }

    /// Runs the python3 command `args` makes for a free loopback port.
    fn start_cmd(args: impl FnOnce(&mut Command, u16)) -> WebServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("python3");
        args(&mut cmd, port);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "the web server did not start"
        );
        WebServer { child, port }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory for a web server in the scratch directory, holding `files` (name, text).
fn web_root(s: &Scratch, files: &[(&str, &str)]) -> PathBuf {
    for (name, text) in files {
        s.write(&format!("www/{name}"), text);
    }
    s.path().join("www")
}

/// The lowercase sha256 of a file, by sha256sum.
fn sha256_of(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A web root in the scratch directory holding the test machine's disk image.
fn image_web_root(g: &Path, s: &Scratch) -> PathBuf {
    let www = s.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::os::unix::fs::symlink(g.join("disk.qcow2"), www.join("disk.qcow2")).unwrap();
    www
}

#[test]
fn with_iso_skip_cache_the_image_is_read_over_http_and_nothing_is_downloaded() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let www = image_web_root(&g, &s);
    let cache = s.path().join("cache");
    // A build of the image at `port`, with its output.
    let build_from = |port: u16| {
        let mut b = builder(&g, &s);
        b["iso_url"] = format!("http://127.0.0.1:{port}/disk.qcow2").into();
        b["iso_skip_cache"] = true.into();
        let t = serde_json::json!({"builders": [b],
            "provisioners": [{"type": "shell", "inline": ["echo provisioned"]}]});
        s.write("t.json", &t.to_string());
        let o = s
            .kiln(&["build", "-color=false", "t.json"])
            .env("PACKER_CACHE_DIR", &cache)
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    };
    // A server without byte ranges cannot serve QEMU: refused before anything is made.
    let plain = WebServer::start(&www);
    let (code, out) = build_from(plain.port);
    assert_eq!(code, Some(1), "{out}");
    assert_says(
        &out,
        &["No byte serving support. The HTTP server must support Accept-Ranges=bytes"],
    );
    assert!(!s.output_dir().exists(), "{out}");
    drop(plain);

    let ranged = WebServer::start_ranged(&www);
    let (code, out) = build_from(ranged.port);
    assert_eq!(code, Some(0), "{out}");
    assert_says(
        &out,
        &[
            &format!(
                "==> qemu: Using http://127.0.0.1:{}/disk.qcow2 in place: QEMU reads it over HTTP",
                ranged.port
            ),
            "==> qemu: Copying hard drive...",
            "    qemu: provisioned",
        ],
    );
    // qemu-img read the image over HTTP into the disk; no cache was made.
    assert!(s.output_dir().join("packer-qemu").exists());
    assert!(!cache.exists(), "a download was cached");
    assert_eq!(s.vms(), Vec::<i32>::new());
}

#[test]
fn an_image_is_downloaded_into_the_cache_checked_against_a_remote_checksum_file_and_reused() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    let www = image_web_root(&g, &s);
    let sum = sha256_of(&g.join("disk.qcow2"));
    s.write(
        "www/SHA256SUMS",
        &format!("{}  other.qcow2\n{sum}  disk.qcow2\n", "0".repeat(64)),
    );
    let web = WebServer::start(&www);
    let base = format!("http://127.0.0.1:{}", web.port);
    let mut b = builder(&g, &s);
    b["iso_url"] = format!("{base}/disk.qcow2").into();
    b["iso_checksum"] = format!("file:{base}/SHA256SUMS").into();
    b["iso_target_extension"] = "qcow2".into();
    let t = serde_json::json!({"builders": [b],
        "provisioners": [{"type": "shell", "inline": ["echo provisioned"]}]});
    s.write("t.json", &t.to_string());
    let cache = s.path().join("cache");
    let run = |extra: &[&str]| {
        let mut args = vec!["build", "-color=false"];
        args.extend(extra);
        args.push("t.json");
        s.kiln(&args)
            .env("PACKER_CACHE_DIR", &cache)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Named as Packer names it: the SHA-1 of the checksum option, the target extension.
    let key = format!("file:{base}/SHA256SUMS");
    let sha1 = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(key.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let name = format!(
        "{}.qcow2",
        String::from_utf8_lossy(&sha1.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    );
    let cached = cache.join(&name);
    assert_says(
        &out,
        &[
            "==> qemu: Retrieving ISO",
            &format!("==> qemu: Fetching the checksum file {base}/SHA256SUMS"),
            &format!("==> qemu: Trying {base}/disk.qcow2"),
            &format!("==> qemu: {base}/disk.qcow2 => {}", cached.display()),
            "    qemu: provisioned",
        ],
    );
    assert_eq!(sha256_of(&cached), sum);
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec![name.clone()],
        "only the whole download in the cache"
    );
    // Again: the cached image matches, nothing is downloaded.
    let o = run(&["-force"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[&format!("==> qemu: Using the cached {}", cached.display())],
    );
    assert!(!out.contains(" => "), "{out}");
    assert_eq!(s.vms(), Vec::<i32>::new());
    assert_eq!(s.journals(), Vec::<String>::new());
}

#[test]
fn a_download_that_does_not_match_its_checksum_is_removed_and_the_next_url_tried() {
    let g = guest();
    let s = Scratch::new();
    let www = web_root(
        &s,
        &[("wrong.iso", "not the image"), ("right.iso", "the image")],
    );
    let web = WebServer::start(&www);
    let base = format!("http://127.0.0.1:{}", web.port);
    let mut b = builder(&g, &s);
    b.as_object_mut().unwrap().remove("iso_url");
    b["disk_image"] = false.into();
    b["iso_urls"] = serde_json::json!([
        format!("{base}/missing.iso"),
        format!("{base}/wrong.iso"),
        format!("{base}/right.iso")
    ]);
    b["iso_checksum"] = format!("sha256:{}", sha256_of(&www.join("right.iso"))).into();
    s.write("t.json", &serde_json::json!({"builders": [b]}).to_string());
    let cache = s.path().join("cache");
    let o = s
        .kiln(&["build", "-dry-run", "-color=false", "t.json"])
        .env("PACKER_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[&format!("==> qemu: Would download {base}/missing.iso to ")],
    );
    assert!(!cache.exists(), "a dry run downloaded: {out}");
    // The build itself: the missing one fails, the wrong one is removed, the right one kept;
    // then QEMU cannot start (no such kernel) and the build ends there.
    let mut b = b;
    b["qemuargs"] = serde_json::json!([["-kernel", "/nonexistent"]]);
    s.write("t.json", &serde_json::json!({"builders": [b]}).to_string());
    let o = s
        .kiln(&["build", "-color=false", "t.json"])
        .env("PACKER_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            &format!("==> qemu: Download failed {base}/missing.iso: bad response code: 404"),
            "==> qemu: Checksum did not match, removing ",
            &format!("==> qemu: {base}/right.iso => "),
            "Error launching VM: Qemu failed to start.",
        ],
    );
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        std::fs::read_to_string(cache.join(&left[0])).unwrap(),
        "the image"
    );
    assert!(!s.output_dir().exists(), "{out}");
}

#[test]
fn an_https_download_is_trusted_only_through_the_system_roots_or_ssl_cert_file() {
    let g = guest();
    let s = Scratch::new();
    let pki = s.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let [ca, cert, key] = test_ca(&pki);
    let www = web_root(&s, &[("small.iso", "an iso")]);
    let web = WebServer::start_with(&www, Some((&cert, &key)));
    let url = format!("https://127.0.0.1:{}/small.iso", web.port);
    let mut b = builder(&g, &s);
    b.as_object_mut().unwrap().remove("iso_url");
    b["disk_image"] = false.into();
    b["iso_url"] = url.clone().into();
    b["iso_checksum"] = format!("sha256:{}", sha256_of(&www.join("small.iso"))).into();
    // QEMU cannot start (no such kernel): the build ends right after the download.
    b["qemuargs"] = serde_json::json!([["-kernel", "/nonexistent"]]);
    s.write("t.json", &serde_json::json!({"builders": [b]}).to_string());
    let cache = s.path().join("cache");
    let build = |trust: Option<&Path>| {
        let mut c = s.kiln(&["build", "-color=false", "t.json"]);
        c.env("PACKER_CACHE_DIR", &cache)
            .env_remove("SSL_CERT_FILE");
        if let Some(ca) = trust {
            c.env("SSL_CERT_FILE", ca);
        }
        let o = c.output().unwrap();
        (o.status.code(), text(&o))
    };
    let (code, out) = build(None);
    assert_eq!(code, Some(1), "{out}");
    assert_says(
        &out,
        &[&format!("==> qemu: Download failed {url}: "), "certificate"],
    );
    assert!(!out.contains(" => "), "{out}");
    let (code, out) = build(Some(&ca));
    assert_eq!(code, Some(1), "{out}");
    assert_says(
        &out,
        &[
            &format!("==> qemu: {url} => "),
            "Error launching VM: Qemu failed to start.",
        ],
    );
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(std::fs::read_to_string(left[0].path()).unwrap(), "an iso");
}

#[test]
fn validate_points_at_what_kiln_cannot_do_yet_and_at_packers_errors() {
    let g = guest();
    let s = Scratch::new();
    let base = builder(&g, &s);
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            serde_json::json!({"net_bridge": "br0"}),
            "net_bridge: bridged networking is not available in kiln's qemu builder yet",
        ),
        (
            serde_json::json!({"floppy_files": ["a.cfg"]}),
            "Bad Floppy disk file 'a.cfg': stat a.cfg: No such file or directory",
        ),
        (
            serde_json::json!({"boot_command": ["<enter>"], "disable_vnc": true}),
            "A boot command cannot be used when vnc is disabled.",
        ),
        (
            serde_json::json!({"iso_url": "ftp://example.invalid/debian.iso"}),
            "iso_url: \"ftp://example.invalid/debian.iso\": only local paths, file://, http:// and https:// URLs are available in kiln",
        ),
        (
            serde_json::json!({"iso_checksum": "sha256:00"}),
            "iso_checksum: \"00\" is not a sha256 digest (64 hex digits)",
        ),
        (
            serde_json::json!({"format": "vmdk"}),
            "format: invalid format, only 'qcow2' or 'raw' are allowed",
        ),
        (
            serde_json::json!({"output_directory": s.path()}),
            "already exists. It must not exist.",
        ),
    ];
    for (extra, said) in cases {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        s.write("t.json", &serde_json::json!({"builders": [b]}).to_string());
        let o = s.kiln(&["validate", "t.json"]).output().unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{extra}: {out}");
        assert!(out.contains(said), "{said:?} in:\n{out}");
    }
    s.write(
        "t.json",
        &serde_json::json!({"builders": [base]}).to_string(),
    );
    let o = s.kiln(&["validate", "t.json"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_wrong_checksum_stops_the_build_before_anything_boots() {
    let g = guest();
    let s = Scratch::new();
    let mut b = builder(&g, &s);
    b["iso_checksum"] = format!("sha256:{}", "0".repeat(64)).into();
    let o = build(&s, &serde_json::json!({"builders": [b]}));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &["Checksums did not match for ", "expected sha256 0000"],
    );
    assert!(!out.contains("Starting VM"), "{out}");
    assert!(!s.output_dir().exists(), "{out}");
    assert_eq!(s.journals(), Vec::<String>::new());
}

#[test]
fn a_dry_run_prints_the_qemu_command_line_and_makes_nothing() {
    let g = guest();
    let s = Scratch::new();
    s.write(
        "t.json",
        &serde_json::json!({"builders": [builder(&g, &s)]}).to_string(),
    );
    let out = run_ok(&s, &["build", "-dry-run", "-color=false", "t.json"]);
    assert_says(
        &out,
        &[
            "==> qemu: Would run: qemu-system-x86_64 -name packer-qemu -machine type=pc,accel=tcg -netdev user,id=user.0,hostfwd=tcp:127.0.0.1:2222-:22 -vnc 127.0.0.1:0 -m 512M -device virtio-net,netdev=user.0 -drive file=",
            "-kernel ",
            "-append console=ttyS0 root=/dev/vda",
            "==> qemu: Would write the disk to ",
        ],
    );
    assert!(!s.output_dir().exists(), "{out}");
}

#[test]
fn an_hcl2_template_types_its_boot_command_and_provisions_the_machine() {
    let g = guest();
    let _one = one_vm();
    let s = Scratch::new();
    s.write("http/hello.txt", "served over HCL2\n");
    let template = format!(
        r#"
variable "guest" {{
  type    = string
  default = "{guest}"
}}
locals {{
  kernel_args = join(" ", ["console=ttyS0", "root=/dev/vda", "kiln.keys"])
}}
source "qemu" "vm" {{
  disk_image        = true
  iso_url           = "${{var.guest}}/disk.qcow2"
  iso_checksum      = "none"
  output_directory  = "{out}"
  headless          = true
  accelerator       = "tcg"
  memory            = 512
  qemuargs = [
    ["-kernel", "${{var.guest}}/vmlinuz"],
    ["-initrd", "${{var.guest}}/initrd.img"],
    ["-append", local.kernel_args],
  ]
  http_directory    = "http"
  boot_wait         = "15s"
  boot_key_interval = "10ms"
  boot_command = [
    "busybox wget -q -O /etc/from-http http://{{{{ .HTTPIP }}}}:{{{{ .HTTPPort }}}}/hello.txt",
    " && echo typed-as-{{{{ .Name }}}} > /etc/typed<enter>",
  ]
  ssh_username     = "kiln"
  ssh_password     = "kiln-user-pw"
  ssh_timeout      = "5m"
  shutdown_command = "sudo poweroff"
}}
build {{
  sources = ["source.qemu.vm"]
  provisioner "shell" {{
    inline = [
      "for i in $(seq 100); do [ -e /etc/typed ] && break; sleep 0.1; done",
      "cat /etc/typed /etc/from-http",
    ]
  }}
}}
"#,
        guest = g.display(),
        out = s.output_dir().display(),
    );
    s.write("t.pkr.hcl", &template);
    let out = run_ok(&s, &["build", "-color=false", "t.pkr.hcl"]);
    // The build is qemu.vm; vm_name defaults to packer- and the source's name.
    assert_says(
        &out,
        &[
            "==> qemu.vm: Typing the boot command over VNC...",
            "    qemu.vm: typed-as-packer-vm",
            "    qemu.vm: served over HCL2",
        ],
    );
    let disk = s.output_dir().join("packer-vm");
    assert_eq!(file_in_disk(&disk, "/etc/typed"), "typed-as-packer-vm\n");
    assert_eq!(s.vms(), Vec::<i32>::new());
    assert_eq!(s.journals(), Vec::<String>::new());
}
