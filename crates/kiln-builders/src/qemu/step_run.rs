//! Starts the VM: Packer's QEMU command line (name, machine and accelerator, user network with
//! the SSH port forwarded from 127.0.0.1 only (Packer's forward listens on every address),
//! VNC, memory, CPUs, display, the disks and the network card, boot order), with `qemuargs` replacing or adding switches as in Packer, rendered with
//! `{{.HTTPIP}}`, `{{.HTTPPort}}`, `{{.HTTPDir}}`, `{{.OutputDir}}`, `{{.Name}}` and
//! `{{.SSHHostPort}}`.
//!
//! QEMU runs in its own process group (a terminal's Ctrl-C reaches kiln, which shuts it down
//! in order) and is killed by the kernel if kiln dies. It is in the journal from before it
//! starts; stopped at cleanup if it still runs.

use super::builder::State;
use super::{journal, VM};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use kiln_template::interp::TVal;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How long QEMU is watched for an early exit (bad arguments, a locked disk) before the build
/// goes on.
const EARLY_EXIT: Duration = Duration::from_millis(500);

/// The lines QEMU printed last, for error messages.
const TAIL: usize = 20;

/// The running VM. A task of its own owns the QEMU process and waits for it, so that its exit
/// is seen by whoever asks ([`Vm::gone`]: the connect step stops waiting for SSH on a machine
/// that is no more) and the process is killed when the `Vm` is dropped.
pub struct Vm {
    pid: u32,
    output: Arc<Mutex<Vec<String>>>,
    /// Cancelled once QEMU has exited.
    exited: CancellationToken,
    /// How it exited, once it has.
    status: Arc<Mutex<Option<String>>>,
    /// Sending (or dropping) it kills QEMU.
    kill: Option<oneshot::Sender<()>>,
}

impl Vm {
    /// Hands `child` to a task that waits for it.
    fn watch(mut child: tokio::process::Child, output: Arc<Mutex<Vec<String>>>) -> Vm {
        let pid = child.id().unwrap_or_default();
        let exited = CancellationToken::new();
        let status = Arc::new(Mutex::new(None));
        let (kill, killed) = oneshot::channel::<()>();
        let (done, st) = (exited.clone(), status.clone());
        tokio::spawn(async move {
            let result = tokio::select! {
                r = child.wait() => r,
                // Asked to, or the `Vm` is gone.
                _ = killed => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let text = match result {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            *st.lock().expect("qemu status") = Some(text);
            done.cancel();
        });
        Vm {
            pid,
            output,
            exited,
            status,
            kill: Some(kill),
        }
    }

    /// Waits for QEMU to exit.
    pub async fn wait(&self) {
        self.exited.cancelled().await
    }

    /// Whether QEMU has exited.
    pub fn exited(&self) -> bool {
        self.exited.is_cancelled()
    }

    /// Kills QEMU and waits for it.
    pub async fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.wait().await
    }

    /// How QEMU exited and what it printed last, once it has exited.
    fn exit_report(&self) -> String {
        let status = self
            .status
            .lock()
            .expect("qemu status")
            .clone()
            .unwrap_or_else(|| "still running".into());
        let tail = self.output();
        if tail.is_empty() {
            format!("Qemu exited ({status})")
        } else {
            format!("Qemu exited ({status}): {tail}")
        }
    }

    /// Resolves when QEMU exits, with how it did.
    pub fn gone(&self) -> Pin<Box<dyn Future<Output = String> + Send>> {
        let probe = Vm {
            pid: self.pid,
            output: self.output.clone(),
            exited: self.exited.clone(),
            status: self.status.clone(),
            kill: None,
        };
        Box::pin(async move {
            probe.wait().await;
            // Let the readers take the last lines.
            tokio::time::sleep(Duration::from_millis(50)).await;
            probe.exit_report()
        })
    }

    /// What QEMU printed last.
    pub fn output(&self) -> String {
        self.output.lock().expect("qemu output").join("\n")
    }
}

/// Starts the VM.
pub struct StepRun {
    started: bool,
}

impl StepRun {
    /// The step.
    pub fn new() -> Self {
        StepRun { started: false }
    }
}

/// Packer's switches and their values, in a fixed order (Packer's map has none).
fn default_args(s: &State) -> Vec<(String, Vec<String>)> {
    let c = &s.settings.c;
    let mut a: Vec<(String, Vec<String>)> = vec![];
    let mut put = |k: &str, v: Vec<String>| a.push((k.to_string(), v));
    put("-name", vec![c.vm_name.clone()]);
    put(
        "-machine",
        vec![if c.accelerator == "none" {
            format!("type={}", c.machine_type)
        } else {
            format!("type={},accel={}", c.machine_type, c.accelerator)
        }],
    );
    let netdev = match s.host_port {
        Some(port) if s.comm_config.communicator != "none" => format!(
            "user,id=user.0,hostfwd=tcp:127.0.0.1:{port}-:{}",
            s.comm_config.port()
        ),
        _ => "user,id=user.0".to_string(),
    };
    put("-netdev", vec![netdev]);
    if c.qmp_enable {
        put(
            "-qmp",
            vec![format!("unix:{},server,nowait", c.qmp_socket_path)],
        );
    }
    if let Some(port) = s.vnc_port {
        let password = if c.vnc_use_password {
            ",password=on"
        } else {
            ""
        };
        put(
            "-vnc",
            vec![format!(
                "{}:{}{password}",
                c.vnc_bind_address,
                port.saturating_sub(5900)
            )],
        );
    } else if c.headless {
        put("-display", vec!["none".into()]);
    }
    put("-m", vec![format!("{}M", c.memory)]);
    if c.cpus > 1 {
        put("-smp", vec![format!("cpus={},sockets={}", c.cpus, c.cpus)]);
    }
    if !c.headless {
        if !c.display.is_empty() && c.display != "none" {
            put("-display", vec![c.display.clone()]);
        } else if !c.use_default_display {
            put("-display", vec!["gtk".into()]);
        }
    }
    let (devices, drives) = device_and_drive_args(s);
    put("-device", devices);
    put("-drive", drives);
    if let Some(floppy) = &s.floppy_path {
        put("-fda", vec![floppy.clone()]);
    }
    put(
        "-boot",
        vec![if c.disk_image { "c" } else { "once=d" }.to_string()],
    );
    a
}

/// The `-device` and `-drive` values: each disk, the network card, the installer CD.
fn device_and_drive_args(s: &State) -> (Vec<String>, Vec<String>) {
    let c = &s.settings.c;
    let mut devices = vec![];
    let mut drives = vec![];
    for (i, disk) in s.disks.iter().enumerate() {
        let mut drive = if c.disk_interface == "virtio-scsi" {
            if i == 0 {
                devices.push(format!("virtio-scsi-pci,id=scsi{i}"));
            }
            devices.push(format!("scsi-hd,bus=scsi0.0,drive=drive{i}"));
            format!(
                "if=none,file={disk},id=drive{i},cache={},discard={},format={}",
                c.disk_cache, c.disk_discard, c.format
            )
        } else {
            format!(
                "file={disk},if={},cache={},discard={},format={}",
                c.disk_interface, c.disk_cache, c.disk_discard, c.format
            )
        };
        if c.disk_detect_zeroes != "off" {
            drive.push_str(&format!(",detect-zeroes={}", c.disk_detect_zeroes));
        }
        drives.push(drive);
    }
    devices.push(format!("{},netdev=user.0", c.net_device));
    // The CDs: the installer (unless booting a disk image), then the one made of cd_files.
    let mut cds = vec![];
    if !c.disk_image {
        cds.push(s.iso_path.clone().unwrap_or_default());
    }
    cds.extend(s.cd_path.clone());
    for (i, cd) in cds.iter().enumerate() {
        drives.push(match c.cdrom_interface.as_str() {
            "" => format!("file={cd},index={i},media=cdrom"),
            "virtio-scsi" => {
                devices.extend([
                    "virtio-scsi-device".into(),
                    format!("scsi-cd,drive=cdrom{i}"),
                ]);
                format!("file={cd},if=none,index={i},id=cdrom{i},media=cdrom")
            }
            ifc => format!("file={cd},if={ifc},index={i},id=cdrom{i},media=cdrom"),
        });
    }
    (devices, drives)
}

/// The whole command line after the emulator: Packer's switches, those `qemuargs` names
/// replaced by its values (each row is a switch and its value, the rest of the row joined),
/// the switches only `qemuargs` has after them in its order; the network card added back if
/// `qemuargs` replaced `-device` without it.
pub(super) fn qemu_args(cx: &BuildCx, s: &State) -> Result<Vec<String>> {
    let c = &s.settings.c;
    let data = cx.info.interp.with_data([
        ("HTTPIP", TVal::Str(super::step_http::USER_NET_HOST.into())),
        (
            "HTTPPort",
            TVal::Str(s.http.as_ref().map(|h| h.port).unwrap_or(0).to_string()),
        ),
        ("HTTPDir", TVal::Str(c.http_directory.clone())),
        ("OutputDir", TVal::Str(c.output_directory.clone())),
        ("Name", TVal::Str(c.vm_name.clone())),
        (
            "SSHHostPort",
            TVal::Str(s.host_port.map(|p| p.to_string()).unwrap_or("0".into())),
        ),
    ]);
    let mut user: Vec<(String, Vec<String>)> = vec![];
    for row in &c.qemuargs {
        let row = row
            .iter()
            .map(|v| {
                kiln_template::interp::render(v, &data)
                    .map_err(|e| Error::msg(format!("Error processing QemuArgs: {}", e.message)))
            })
            .collect::<Result<Vec<_>>>()?;
        let Some((key, rest)) = row.split_first() else {
            continue;
        };
        let value = rest.concat();
        match user.iter_mut().find(|(k, _)| k == key) {
            Some((_, vs)) if !value.is_empty() => vs.push(value),
            Some(_) => {}
            None => user.push((
                key.clone(),
                [value].into_iter().filter(|v| !v.is_empty()).collect(),
            )),
        }
    }
    let mut args: Vec<(String, Vec<String>)> = default_args(s)
        .into_iter()
        .map(|(k, v)| match user.iter().position(|(uk, _)| *uk == k) {
            Some(i) => user.remove(i),
            None => (k, v),
        })
        .collect();
    args.extend(user);
    let card = format!("{},netdev=user.0", c.net_device);
    if let Some((_, devices)) = args.iter_mut().find(|(k, _)| k == "-device") {
        if !devices.concat().contains(&c.net_device) {
            devices.push(card);
        }
    }
    let mut out = vec![];
    for (k, vs) in args {
        if vs.is_empty() {
            out.push(k.clone());
        }
        for v in vs {
            out.extend([k.clone(), v]);
        }
    }
    Ok(out)
}

#[async_trait]
impl Step<State> for StepRun {
    fn name(&self) -> &'static str {
        "stepRun"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        cx.ui.say(if c.disk_image {
            "Starting VM, booting disk image"
        } else {
            "Starting VM, booting from CD-ROM"
        });
        if c.accelerator == "none" {
            cx.ui.message("WARNING: The VM will be started with no hardware acceleration.\nThe installation may take considerably longer to finish.\n");
        }
        if c.headless {
            cx.ui.message(&match (s.vnc_port, &s.vnc_password) {
                (Some(port), Some(password)) => format!(
                    "The VM will be run headless, without a GUI. If you want to\nview the screen of the VM, connect via VNC to vnc://{}:{}\nwith the password: {password}",
                    c.vnc_bind_address,
                    port.saturating_sub(5900)
                ),
                (Some(port), None) => format!(
                    "The VM will be run headless, without a GUI. If you want to\nview the screen of the VM, connect via VNC without a password to\nvnc://{}:{}",
                    c.vnc_bind_address,
                    port.saturating_sub(5900)
                ),
                (None, _) => "The VM will be run headless, without a GUI, as configured.\nIf the run isn't succeeding as you expect, please enable the GUI\nto inspect the progress of the build.".into(),
            });
        }
        if !c.qemuargs.is_empty() {
            cx.ui
                .say("Overriding default Qemu arguments with qemuargs template option...");
        }
        let args = qemu_args(cx, s)?;
        kiln_core::log::log(format_args!(
            "[INFO] executing {} {}",
            c.qemu_binary,
            args.join(" ")
        ));
        let key = s.disk_path(0);
        journal(cx, VM, &key, "", Event::Intent);
        self.started = true;
        let mut cmd = tokio::process::Command::new(&c.qemu_binary);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl in the child before exec; it touches no memory of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::msg(format!("Error launching VM: {}: {e}", c.qemu_binary)))?;
        let pid = child.id().unwrap_or_default();
        journal(cx, VM, &key, &pid.to_string(), Event::Created);
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    kiln_core::log::log(format_args!("[INFO] qemu: {line}"));
                    let mut tail = output.lock().expect("qemu output");
                    if tail.len() == TAIL {
                        tail.remove(0);
                    }
                    tail.push(line);
                }
            });
        }
        let vm = Vm::watch(child, output);
        let early = tokio::select! {
            report = vm.gone() => Some(report),
            _ = tokio::time::sleep(EARLY_EXIT) => None,
            _ = cx.cancel.cancelled() => None,
        };
        if let Some(report) = early {
            journal(cx, VM, &key, &pid.to_string(), Event::Deleted);
            return Err(Error::msg(format!(
                "Error launching VM: Qemu failed to start. {report}"
            )));
        }
        s.vm = Some(vm);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        if !self.started {
            return;
        }
        let key = s.disk_path(0);
        let Some(mut vm) = s.vm.take() else {
            return;
        };
        if !vm.exited() {
            cx.ui.say("Stopping the virtual machine...");
            vm.kill().await;
        }
        journal(cx, VM, &key, &vm.pid.to_string(), Event::Deleted);
    }
}
