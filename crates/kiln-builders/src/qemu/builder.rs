//! The `qemu` builder's run, Packer's steps in Packer's order: the ISO, the output
//! directory, the CD of `cd_files`, the disks (create, copy, resize), the HTTP server, the forwarded SSH port and
//! the VNC port, the VM, the boot command, connect, provision, remove the temporary key, shut
//! down, compact the disk. The artifact is the output directory's files (Packer's builder id
//! `transcend.qemu`, id `VM`).

use super::config::{parse, Settings};
use super::step_boot_command::StepTypeBootCommand;
use super::step_connect_ports::{StepConfigureVnc, StepPortForward};
use super::step_convert_disk::StepConvertDisk;
use super::step_copy_disk::StepCopyDisk;
use super::step_create_cd::StepCreateCd;
use super::step_create_disk::StepCreateDisk;
use super::step_create_floppy::StepCreateFloppy;
use super::step_http::StepHttpServer;
use super::step_iso::StepIso;
use super::step_output_dir::StepPrepareOutputDir;
use super::step_resize_disk::StepResizeDisk;
use super::step_run::{StepRun, Vm};
use super::step_shutdown::StepShutdown;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::Communicator;
use kiln_core::artifact::{Artifact, ArtifactRef};
use kiln_core::clean_keys::StepCleanupTempKeys;
use kiln_core::connect::{ConnInfo, ConnectState, StepConnect};
use kiln_core::plugin::{BuildCx, Builder, GeneratedData, PrepareCx};
use kiln_core::step::{run_steps, ProvisionState, Step, StepProvision};
use kiln_core::{Error, Result};
use kiln_template::{Diagnostic, Value};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// Packer's builder id for QEMU artifacts.
pub const BUILDER_ID: &str = "transcend.qemu";

/// Makes a `qemu` builder from its configuration.
pub fn new(config: &Value, cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    let (settings, comm) = parse(config, &cx.info.name, cx.info.force)?;
    Ok(Box::new(QemuBuilder { settings, comm }))
}

struct QemuBuilder {
    settings: Settings,
    comm: CommConfig,
}

/// What the steps share.
pub struct State {
    /// The options.
    pub settings: Settings,
    /// The communicator options.
    pub comm_config: CommConfig,
    /// The run's id.
    pub run_uuid: String,
    /// `output_directory`.
    pub output_dir: PathBuf,
    /// The verified ISO (or disk image), once checked.
    pub iso_path: Option<String>,
    /// The disks, the main one first.
    pub disks: Vec<String>,
    /// The CD made of `cd_files`, while it exists.
    pub cd_path: Option<String>,
    /// The floppy made of `floppy_files` and `floppy_dirs`, while it exists.
    pub floppy_path: Option<String>,
    /// The HTTP server for `http_directory`, while it runs.
    pub http: Option<crate::http_server::HttpServer>,
    /// The claims on the ports given to QEMU, held until the build ends.
    pub port_claims: Vec<super::step_connect_ports::PortClaim>,
    /// The host port forwarded to the guest's SSH port.
    pub host_port: Option<u16>,
    /// The VNC port, unless `disable_vnc`.
    pub vnc_port: Option<u16>,
    /// The VNC password, with `vnc_use_password`.
    pub vnc_password: Option<String>,
    /// The QMP connection, while the VM runs with `qmp_enable`.
    pub qmp: Option<super::qmp::Qmp>,
    /// The running VM.
    pub vm: Option<Vm>,
    /// The communicator, once connected.
    pub comm: Option<Arc<dyn Communicator>>,
    /// How it reached the machine.
    pub conn: Option<ConnInfo>,
    /// Set by the last step: the output directory is the build's product.
    pub succeeded: bool,
}

impl State {
    /// Disk `i`'s path: the main disk is `vm_name`, more are `vm_name-1`, `vm_name-2`, …
    pub fn disk_path(&self, i: usize) -> String {
        let name = &self.settings.c.vm_name;
        let file = if i == 0 {
            name.clone()
        } else {
            format!("{name}-{i}")
        };
        self.output_dir.join(file).display().to_string()
    }
}

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        self.comm.clone()
    }
    fn generated_data(&self) -> GeneratedData {
        let mut d = self.conn.as_ref().map(ConnInfo::data).unwrap_or_default();
        d.insert("PackerRunUUID".into(), self.run_uuid.clone());
        d
    }
}

impl ConnectState for State {
    /// As Packer: `ssh_host`, else the host end of the forwarded port.
    fn machine_host(&self) -> Option<String> {
        if self.comm_config.ssh_host.is_empty() {
            Some("127.0.0.1".into())
        } else {
            None
        }
    }
    fn machine_port(&self) -> Option<u16> {
        self.host_port
    }
    fn machine_gone(&self) -> Option<Pin<Box<dyn Future<Output = String> + Send>>> {
        self.vm.as_ref().map(|vm| vm.gone())
    }
    fn set_communicator(&mut self, comm: Arc<dyn Communicator>, info: ConnInfo) {
        self.comm = Some(comm);
        self.conn = Some(info);
    }
}

impl kiln_core::step::Succeeds for State {
    fn succeed(&mut self) {
        self.succeeded = true;
    }
}

/// The files a build leaves in its output directory.
struct VmArtifact {
    dir: String,
    files: Vec<String>,
    disk_type: String,
    disk_size: String,
    disk_name: String,
    accelerator: String,
}

#[async_trait]
impl Artifact for VmArtifact {
    fn builder_id(&self) -> String {
        BUILDER_ID.into()
    }
    fn files(&self) -> Vec<String> {
        self.files.clone()
    }
    fn id(&self) -> String {
        "VM".into()
    }
    fn description(&self) -> String {
        format!("VM files in directory: {}", self.dir)
    }
    /// Packer's state keys for post-processors: `diskName` (`vm_name`), `diskType`
    /// (`format`), `diskSize`, `domainType` (the accelerator).
    fn state(&self, key: &str) -> Option<serde_json::Value> {
        match key {
            "diskName" => Some(self.disk_name.clone().into()),
            "diskType" => Some(self.disk_type.clone().into()),
            "diskSize" => Some(self.disk_size.clone().into()),
            "domainType" => Some(self.accelerator.clone().into()),
            _ => None,
        }
    }
    async fn destroy(&self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .map_err(|e| Error::msg(format!("removing {}: {e}", self.dir)))
    }
}

#[async_trait]
impl Builder for QemuBuilder {
    /// Says what the build would run, without making anything: the ISO is checked, the
    /// emulator and qemu-img are found, and the QEMU command line is printed.
    async fn dry_run(&self, cx: &BuildCx) -> Result<()> {
        let mut s = self.state(cx);
        match self.settings.iso_sources.first() {
            Some(super::config::Source::Remote(url)) => {
                let target = super::step_iso::cache_target(&s, url);
                cx.ui.say(&format!(
                    "Would download {url} to {} (unless a file there matches the checksum)",
                    target.display()
                ));
                s.iso_path = Some(target.display().to_string());
            }
            _ => StepIso.run(cx, &mut s).await?,
        }
        for tool in [self.settings.c.qemu_binary.as_str(), "qemu-img"] {
            let found = tokio::process::Command::new(tool)
                .arg("--version")
                .output()
                .await
                .map_err(|e| Error::msg(format!("{tool} cannot be run: {e}")))?;
            let version = String::from_utf8_lossy(&found.stdout);
            cx.ui.say(version.lines().next().unwrap_or(tool));
        }
        s.disks = vec![s.disk_path(0)];
        s.host_port = (!self.settings.c.skip_nat_mapping).then_some(self.settings.c.host_port_min);
        s.vnc_port = (!self.settings.c.disable_vnc).then_some(self.settings.c.vnc_port_min);
        let args = super::step_run::qemu_args(cx, &s)?;
        cx.ui.say(&format!(
            "Would run: {} {}",
            self.settings.c.qemu_binary,
            args.join(" ")
        ));
        cx.ui
            .say(&format!("Would write the disk to {}", s.disk_path(0)));
        Ok(())
    }

    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        for w in &self.settings.warnings {
            cx.ui.message(&format!("Warning: {w}"));
        }
        let mut state = self.state(cx);
        let steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepIso),
            Box::new(StepPrepareOutputDir::new()),
            Box::new(StepCreateFloppy::new()),
            Box::new(StepCreateCd::new()),
            Box::new(StepCreateDisk),
            Box::new(StepCopyDisk),
            Box::new(StepResizeDisk),
            Box::new(StepHttpServer),
            Box::new(StepPortForward),
            Box::new(StepConfigureVnc),
            Box::new(StepRun::new()),
            Box::new(super::qmp::StepConfigureQmp),
            Box::new(StepTypeBootCommand),
            Box::new(StepConnect::new(self.comm.clone())),
            Box::new(StepProvision::new()),
            Box::new(StepCleanupTempKeys {
                config: self.comm.clone(),
            }),
            Box::new(StepShutdown),
            Box::new(StepConvertDisk),
            Box::new(kiln_core::step::StepMarkSuccess),
        ];
        run_steps(cx, &mut state, steps).await?;
        let dir = state.output_dir.display().to_string();
        let mut files: Vec<String> = std::fs::read_dir(&state.output_dir)
            .map_err(|e| Error::msg(format!("reading {dir}: {e}")))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.path().display().to_string())
            .collect();
        files.sort();
        Ok(Some(Arc::new(VmArtifact {
            dir,
            files,
            disk_type: self.settings.c.format.clone(),
            disk_size: self.settings.c.disk_size.clone(),
            disk_name: self.settings.c.vm_name.clone(),
            accelerator: self.settings.c.accelerator.clone(),
        })))
    }
}

impl QemuBuilder {
    /// The state a build starts with.
    fn state(&self, cx: &BuildCx) -> State {
        State {
            settings: self.settings.clone(),
            comm_config: self.comm.clone(),
            run_uuid: cx.info.run_uuid.clone(),
            output_dir: PathBuf::from(&self.settings.c.output_directory),
            iso_path: None,
            disks: vec![],
            cd_path: None,
            floppy_path: None,
            http: None,
            port_claims: vec![],
            host_port: None,
            vnc_port: None,
            vnc_password: None,
            qmp: None,
            vm: None,
            comm: None,
            conn: None,
            succeeded: false,
        }
    }
}
