//! `qemu` builder options: Packer 1.6.6's names, defaults and checks. Options kiln does not
//! implement yet are accepted by name and refused with a clear message when set.

use kiln_comm::config::CommConfig;
use kiln_template::{decode::decode_split, Diagnostic, Value};
use serde::Deserialize;
use std::time::Duration;

/// Extra `qemu-img` arguments per subcommand.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuImgArgs {
    /// Added to `qemu-img convert`.
    #[serde(default)]
    pub convert: Vec<String>,
    /// Added to `qemu-img create`.
    #[serde(default)]
    pub create: Vec<String>,
    /// Added to `qemu-img resize`.
    #[serde(default)]
    pub resize: Vec<String>,
}

/// The builder's own options (the communicator's are decoded beside them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The installation ISO, or with `disk_image` the disk to start from: a path or a
    /// `file://` URL.
    #[serde(default)]
    pub iso_url: String,
    /// Alternatives to `iso_url`, tried in order.
    #[serde(default)]
    pub iso_urls: Vec<String>,
    /// `TYPE:HEX`, a bare hex digest (the type from its length), or `none`.
    #[serde(default)]
    pub iso_checksum: String,
    /// Where a downloaded ISO would be kept (downloads are not available yet).
    #[serde(default)]
    pub iso_target_path: String,
    /// The extension of a downloaded ISO (default `iso`).
    #[serde(default)]
    pub iso_target_extension: String,
    /// Do not keep a downloaded ISO; implies `iso_checksum: none`.
    #[serde(default)]
    pub iso_skip_cache: bool,
    /// `kvm` (the default where /dev/kvm is usable), `tcg`, `xen`, `hax`, `hvf`, `whpx` or
    /// `none`.
    #[serde(default)]
    pub accelerator: String,
    /// Sizes of more disks, created empty beside the main one.
    #[serde(default)]
    pub disk_additional_size: Vec<String>,
    /// Virtual CPUs (default 1).
    #[serde(default)]
    pub cpus: u32,
    /// `virtio` (default), `ide`, `scsi`, `virtio-scsi`, …
    #[serde(default)]
    pub disk_interface: String,
    /// The disk's size, e.g. `40960M` (the default), `10G`; a bare number is in megabytes.
    #[serde(default)]
    pub disk_size: String,
    /// With `disk_image`: keep the disk at the image's size.
    #[serde(default)]
    pub skip_resize_disk: bool,
    /// `writeback` (default), `writethrough`, `none`, `unsafe`, `directsync`.
    #[serde(default)]
    pub disk_cache: String,
    /// `ignore` (default) or `unmap`.
    #[serde(default)]
    pub disk_discard: String,
    /// `off` (default), `on` or `unmap`.
    #[serde(default)]
    pub disk_detect_zeroes: String,
    /// Skip the final `qemu-img convert` that compacts the disk.
    #[serde(default)]
    pub skip_compaction: bool,
    /// Compress the disk in the final convert (`-c`).
    #[serde(default)]
    pub disk_compression: bool,
    /// `qcow2` (default) or `raw`.
    #[serde(default)]
    pub format: String,
    /// No window: the screen is only on VNC.
    #[serde(default)]
    pub headless: bool,
    /// `iso_url` is a bootable disk to start from, not an installer.
    #[serde(default)]
    pub disk_image: bool,
    /// With `disk_image` and qcow2: the new disk is an overlay on `iso_url`, not a copy.
    #[serde(default)]
    pub use_backing_file: bool,
    /// `-machine type=` (default `pc`).
    #[serde(default)]
    pub machine_type: String,
    /// Memory in megabytes (default 512).
    #[serde(default)]
    pub memory: u32,
    /// The network card (default `virtio-net`).
    #[serde(default)]
    pub net_device: String,
    /// A host bridge instead of user networking (not available yet).
    #[serde(default)]
    pub net_bridge: String,
    /// Where the disk is written (default `output-BUILDNAME`); must not exist.
    #[serde(default)]
    pub output_directory: String,
    /// Arguments that replace or add to kiln's, each a list (`["-m", "1024M"]`); rendered
    /// at build time with `{{.HTTPIP}}`, `{{.HTTPPort}}`, `{{.HTTPDir}}`, `{{.OutputDir}}`,
    /// `{{.Name}}` and `{{.SSHHostPort}}`.
    #[serde(default)]
    pub qemuargs: Vec<Vec<String>>,
    /// Extra `qemu-img` arguments.
    #[serde(default)]
    pub qemu_img_args: QemuImgArgs,
    /// The emulator (default `qemu-system-x86_64`).
    #[serde(default)]
    pub qemu_binary: String,
    /// Open a QMP socket (implied by `vnc_use_password`).
    #[serde(default)]
    pub qmp_enable: bool,
    /// The QMP socket's path (default `output_directory/vm_name.monitor`).
    #[serde(default)]
    pub qmp_socket_path: String,
    /// Let QEMU pick its display.
    #[serde(default)]
    pub use_default_display: bool,
    /// `-display` (when not headless; default `gtk`).
    #[serde(default)]
    pub display: String,
    /// Where VNC listens (default 127.0.0.1).
    #[serde(default)]
    pub vnc_bind_address: String,
    /// Protect VNC with a random password, set over QMP.
    #[serde(default)]
    pub vnc_use_password: bool,
    /// The VNC port range (default 5900–6000).
    #[serde(default)]
    pub vnc_port_min: u16,
    /// The VNC port range's end.
    #[serde(default)]
    pub vnc_port_max: u16,
    /// The disk file's name (default `packer-BUILDNAME`).
    #[serde(default)]
    pub vm_name: String,
    /// The CD-ROM's interface.
    #[serde(default)]
    pub cdrom_interface: String,
    /// Deprecated, ignored (as in Packer).
    #[serde(default)]
    pub run_once: bool,
    /// Keys typed over VNC after `boot_wait` (the lines joined; rendered when typed, with
    /// `{{.HTTPIP}}`, `{{.HTTPPort}}` and `{{.Name}}`).
    #[serde(default)]
    pub boot_command: Vec<String>,
    /// The wait before typing `boot_command` (default 10s; negative: none).
    #[serde(default)]
    pub boot_wait: Option<String>,
    /// Pause between key groups (with `boot_command`).
    #[serde(default)]
    pub boot_keygroup_interval: Option<String>,
    /// Pause between keys (with `boot_command`).
    #[serde(default)]
    pub boot_key_interval: Option<String>,
    /// No VNC at all.
    #[serde(default)]
    pub disable_vnc: bool,
    /// Files served over HTTP to the machine, at `{{.HTTPIP}}:{{.HTTPPort}}`.
    #[serde(default)]
    pub http_directory: String,
    /// The HTTP port range's start.
    #[serde(default)]
    pub http_port_min: u16,
    /// The HTTP port range's end.
    #[serde(default)]
    pub http_port_max: u16,
    /// Where the HTTP server listens (default 127.0.0.1, which the guest reaches as
    /// 10.0.2.2 through QEMU's user network).
    #[serde(default)]
    pub http_bind_address: String,
    /// The interface whose address the HTTP server has.
    #[serde(default)]
    pub http_interface: String,
    /// Files put at the root of a floppy the machine gets (globs; a directory's files).
    #[serde(default)]
    pub floppy_files: Vec<String>,
    /// Directories put on that floppy with their trees (globs).
    #[serde(default)]
    pub floppy_dirs: Vec<String>,
    /// The floppy's label.
    #[serde(default)]
    pub floppy_label: String,
    /// Files and directories put on a CD the machine gets (`cd_label`, default `packer`).
    #[serde(default)]
    pub cd_files: Vec<String>,
    /// The CD's label.
    #[serde(default)]
    pub cd_label: String,
    /// Run over the communicator to power the machine off; without it the VM is stopped.
    #[serde(default)]
    pub shutdown_command: String,
    /// How long the machine may take to power off after `shutdown_command` (default 5m).
    #[serde(default)]
    pub shutdown_timeout: Option<kiln_template::duration::GoDuration>,
    /// The host port range forwarded to the guest's SSH port (default 2222–4444).
    #[serde(default)]
    pub host_port_min: u16,
    /// The range's end.
    #[serde(default)]
    pub host_port_max: u16,
    /// Deprecated name of `host_port_min`.
    #[serde(default)]
    pub ssh_host_port_min: u16,
    /// Deprecated name of `host_port_max`.
    #[serde(default)]
    pub ssh_host_port_max: u16,
    /// Connect to the guest's port directly, without forwarding a host port.
    #[serde(default)]
    pub skip_nat_mapping: bool,
}

/// The options after defaults and checks, with what the build derives from them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The options, defaults filled in.
    pub c: Config,
    /// `iso_url`, or each of `iso_urls` in order.
    pub iso_sources: Vec<Source>,
    /// The checksum to verify it against.
    pub checksum: Sum,
    /// The boot wait (zero when none).
    pub boot_wait: Duration,
    /// The pause after each key event of the boot command.
    pub key_interval: Duration,
    /// The shutdown budget.
    pub shutdown_timeout: Duration,
    /// Warnings for the user, as Packer gives them.
    pub warnings: Vec<String>,
}

/// Decodes and checks the options as Packer does. `build_name` names the defaults
/// (`output-NAME`, `packer-NAME`); with `force` the output directory may exist (the build
/// replaces it).
pub fn parse(
    value: &Value,
    build_name: &str,
    force: bool,
) -> Result<(Settings, CommConfig), Diagnostic> {
    let (mut c, mut comm): (Config, CommConfig) = decode_split(value)?;
    let mut warnings = vec![];
    c.defaults(build_name);
    if c.ssh_host_port_min != 0 {
        warnings.push("ssh_host_port_min is deprecated and is being replaced by host_port_min. Please, update your template to use host_port_min. In future versions of Packer, inclusion of ssh_host_port_min will error your builds.".to_string());
        c.host_port_min = c.ssh_host_port_min;
    }
    if c.ssh_host_port_max != 0 {
        warnings.push("ssh_host_port_max is deprecated and is being replaced by host_port_max. Please, update your template to use host_port_max. In future versions of Packer, inclusion of ssh_host_port_max will error your builds.".to_string());
        c.host_port_max = c.ssh_host_port_max;
    }
    if c.host_port_min == 0 {
        c.host_port_min = 2222;
    }
    if c.host_port_max == 0 {
        c.host_port_max = 4444;
    }
    if comm.ssh_host.is_empty() && c.skip_nat_mapping {
        comm.ssh_host = "127.0.0.1".into();
    }
    comm.validate(false)?;
    if c.host_port_min > c.host_port_max {
        return Err(Diagnostic::new(
            "host_port_min must be less than host_port_max",
        ));
    }
    c.validate(force)?;
    if c.disk_size.ends_with(|ch: char| ch.is_ascii_digit()) {
        // A bare number is in megabytes, as in Packer.
        c.disk_size.push('M');
    }
    c.refuse_unavailable()?;
    let (iso_sources, checksum) = c.iso(&mut warnings)?;
    let boot_wait = match c.boot_wait.as_deref() {
        None | Some("") => Duration::from_secs(10),
        Some(s) if s.starts_with('-') => Duration::ZERO,
        Some(s) => kiln_template::duration::parse_go_duration(s)
            .map_err(|e| Diagnostic::new(format!("boot_wait: {e}")))?,
    };
    let configured = match c.boot_key_interval.as_deref() {
        Some(v) if !v.is_empty() => Some(
            kiln_template::duration::parse_go_duration(v)
                .map_err(|e| Diagnostic::new(format!("boot_key_interval: {e}")))?,
        ),
        _ => None,
    };
    // As Packer: a positive boot_key_interval, else PACKER_KEY_INTERVAL when it parses, else
    // 100ms.
    let key_interval = configured.filter(|d| !d.is_zero()).unwrap_or_else(|| {
        std::env::var("PACKER_KEY_INTERVAL")
            .ok()
            .and_then(|v| kiln_template::duration::parse_go_duration(&v).ok())
            .unwrap_or(Duration::from_millis(100))
    });
    if let Some(v) = c
        .boot_keygroup_interval
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        kiln_template::duration::parse_go_duration(v)
            .map_err(|e| Diagnostic::new(format!("boot_keygroup_interval: {e}")))?;
    }
    let shutdown_timeout = c
        .shutdown_timeout
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(300));
    Ok((
        Settings {
            c,
            iso_sources,
            checksum,
            boot_wait,
            key_interval,
            shutdown_timeout,
            warnings,
        },
        comm,
    ))
}

impl Config {
    /// Packer's defaults.
    fn defaults(&mut self, build_name: &str) {
        let set = |v: &mut String, d: &str| {
            if v.is_empty() {
                *v = d.to_string();
            }
        };
        if self.disk_size.is_empty() || self.disk_size == "0" {
            self.disk_size = "40960M".into();
        }
        set(&mut self.disk_cache, "writeback");
        set(&mut self.disk_discard, "ignore");
        set(&mut self.disk_detect_zeroes, "off");
        if self.accelerator.is_empty() {
            self.accelerator = if kvm_usable() { "kvm" } else { "tcg" }.into();
        }
        set(&mut self.machine_type, "pc");
        set(&mut self.output_directory, &format!("output-{build_name}"));
        set(&mut self.qemu_binary, "qemu-system-x86_64");
        if self.memory < 10 {
            self.memory = 512;
        }
        if self.cpus < 1 {
            self.cpus = 1;
        }
        set(&mut self.vnc_bind_address, "127.0.0.1");
        set(&mut self.http_bind_address, "127.0.0.1");
        if self.http_port_min == 0 {
            self.http_port_min = 8000;
        }
        if self.http_port_max == 0 {
            self.http_port_max = 9000;
        }
        if self.vnc_port_min == 0 {
            self.vnc_port_min = 5900;
        }
        if self.vnc_port_max == 0 {
            self.vnc_port_max = 6000;
        }
        set(&mut self.vm_name, &format!("packer-{build_name}"));
        if self.vnc_use_password {
            self.qmp_enable = true;
        }
        if self.qmp_enable && self.qmp_socket_path.is_empty() {
            self.qmp_socket_path = std::path::Path::new(&self.output_directory)
                .join(format!("{}.monitor", self.vm_name))
                .display()
                .to_string();
        }
        set(&mut self.format, "qcow2");
        set(&mut self.net_device, "virtio-net");
        set(&mut self.disk_interface, "virtio");
        if self.iso_skip_cache {
            self.iso_checksum = "none".into();
        }
        set(&mut self.iso_target_extension, "iso");
        self.iso_target_extension = self.iso_target_extension.to_lowercase();
        if self.format != "qcow2" {
            self.skip_compaction = true;
            self.disk_compression = false;
        }
        if self.use_backing_file {
            self.skip_compaction = true;
        }
    }

    /// Packer's checks of its own options.
    fn validate(&self, force: bool) -> Result<(), Diagnostic> {
        let size = self.disk_size.to_lowercase();
        let digits = size.trim_end_matches(['b', 'k', 'm', 'g', 't']);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || size.len() - digits.len() > 1
        {
            return Err(Diagnostic::new("disk_size: Invalid disk size."));
        }
        if self.format != "qcow2" && self.format != "raw" {
            return Err(Diagnostic::new(
                "format: invalid format, only 'qcow2' or 'raw' are allowed",
            ));
        }
        if self.use_backing_file && !(self.disk_image && self.format == "qcow2") {
            return Err(Diagnostic::new(
                "use_backing_file can only be enabled for QCOW2 images and when disk_image is true",
            ));
        }
        if self.skip_resize_disk && !self.disk_image {
            return Err(Diagnostic::new(
                "skip_resize_disk can only be used when disk_image is true",
            ));
        }
        let one_of = |v: &str, allowed: &[&str], what: &str| {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(Diagnostic::new(what.to_string()))
            }
        };
        one_of(
            &self.accelerator,
            &["kvm", "tcg", "xen", "hax", "hvf", "whpx", "none"],
            "accelerator: invalid accelerator, only 'kvm', 'tcg', 'xen', 'hax', 'hvf', 'whpx', or 'none' are allowed",
        )?;
        one_of(
            &self.disk_interface,
            &["ide", "scsi", "virtio", "virtio-scsi"],
            "disk_interface: unrecognized disk interface type",
        )?;
        one_of(
            &self.disk_cache,
            &["writethrough", "writeback", "none", "unsafe", "directsync"],
            "disk_cache: unrecognized disk cache type",
        )?;
        one_of(
            &self.disk_discard,
            &["unmap", "ignore"],
            "disk_discard: unrecognized disk discard type",
        )?;
        one_of(
            &self.disk_detect_zeroes,
            &["unmap", "on", "off"],
            "disk_detect_zeroes: unrecognized disk detect zeroes setting",
        )?;
        if !force && std::path::Path::new(&self.output_directory).exists() {
            return Err(Diagnostic::new(format!(
                "output_directory: Output directory '{}' already exists. It must not exist.",
                self.output_directory
            )));
        }
        if self.http_port_min > self.http_port_max {
            return Err(Diagnostic::new(
                "http_port_min must be less than http_port_max",
            ));
        }
        if !self.boot_command.is_empty() && self.disable_vnc {
            return Err(Diagnostic::new(
                "A boot command cannot be used when vnc is disabled.",
            ));
        }
        // The command is checked as written; templates in it are rendered when it is typed.
        super::boot_command::parse(&self.boot_command.concat())
            .map_err(|e| Diagnostic::new(format!("boot_command: {e}")))?;
        if self.vnc_port_min > self.vnc_port_max {
            return Err(Diagnostic::new(
                "vnc_port_min must be less than vnc_port_max",
            ));
        }
        if !self.iso_url.is_empty() && !self.iso_urls.is_empty() {
            return Err(Diagnostic::new(
                "Only one of iso_url or iso_urls must be specified",
            ));
        }
        if self.iso_url.is_empty() && self.iso_urls.is_empty() {
            return Err(Diagnostic::new(
                "One of iso_url or iso_urls must be specified",
            ));
        }
        if self.iso_checksum.is_empty() {
            return Err(Diagnostic::new(
                "iso_checksum: A checksum must be specified",
            ));
        }
        // As Packer: each path that is not a glob must exist.
        for (paths, what) in [
            (&self.floppy_files, "file"),
            (&self.floppy_dirs, "directory"),
        ] {
            for p in paths.iter() {
                let bad = if crate::floppy::is_glob(p) {
                    crate::floppy::check_pattern(p).err()
                } else {
                    std::fs::metadata(p).err().map(|e| format!("stat {p}: {e}"))
                };
                if let Some(e) = bad {
                    return Err(Diagnostic::new(format!(
                        "Bad Floppy disk {what} '{p}': {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Options kiln does not implement yet, refused by name when set.
    fn refuse_unavailable(&self) -> Result<(), Diagnostic> {
        let not_yet = [(
            !self.net_bridge.is_empty(),
            "net_bridge: bridged networking",
        )];
        for (set, what) in not_yet {
            if set {
                return Err(Diagnostic::new(format!(
                    "{what} is not available in kiln's qemu builder yet"
                )));
            }
        }
        Ok(())
    }

    /// Where the ISO (or disk image) comes from, in the order to try, and the checksum to
    /// verify it with.
    fn iso(&self, warnings: &mut Vec<String>) -> Result<(Vec<Source>, Sum), Diagnostic> {
        let urls: Vec<&String> = if self.iso_url.is_empty() {
            self.iso_urls.iter().collect()
        } else {
            vec![&self.iso_url]
        };
        let mut sources = vec![];
        for url in &urls {
            match local_path(url) {
                Some(path) => {
                    if !std::path::Path::new(&path).is_file() {
                        return Err(Diagnostic::new(format!("iso_url: {path}: no such file")));
                    }
                    sources.push(Source::Local(path));
                }
                None if url.starts_with("http://") || url.starts_with("https://") => {
                    sources.push(Source::Remote(url.to_string()));
                }
                None => {
                    return Err(Diagnostic::new(format!(
                        "iso_url: \"{url}\": only local paths, file://, http:// and https:// URLs are available in kiln"
                    )))
                }
            }
        }
        if self.iso_checksum == "none" {
            warnings.push(
                "A checksum of 'none' was specified. Since ISO files are so big,\na checksum is highly recommended."
                    .to_string(),
            );
            return Ok((sources, Sum::None));
        }
        if self.iso_checksum.to_lowercase().ends_with(".iso") {
            return Err(Diagnostic::new(
                "iso_checksum: Error parsing checksum: .iso is not a valid checksum ending",
            ));
        }
        let sum = parse_checksum(&self.iso_checksum, urls[0])?;
        Ok((sources, sum))
    }
}

/// Where the ISO comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file here, used in place.
    Local(String),
    /// An HTTP or HTTPS URL, downloaded into the cache.
    Remote(String),
}

/// A local path for `url`: a plain path, or a `file://` URL. None for anything else.
fn local_path(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(rest.to_string());
    }
    if url.contains("://") {
        return None;
    }
    Some(url.to_string())
}

/// The type of a bare hex digest from its length, as go-getter guesses it.
fn by_length(hex: &str) -> Result<(String, String), String> {
    let kind = match hex.len() {
        32 => "md5",
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return Err(format!("iso_checksum: Unknown checksum type for \"{hex}\"")),
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("iso_checksum: \"{hex}\" is not a hex digest"));
    }
    Ok((kind.to_string(), hex.to_lowercase()))
}

/// The checksum of the file named `name` in a checksum file's text (`HEX  NAME` lines, or
/// BSD-style `TYPE (NAME) = HEX`); `file` names the checksum file in messages.
pub(super) fn checksum_in(text: &str, name: &str, file: &str) -> Result<(String, String), String> {
    let names = |listed: &str| listed == name || listed.ends_with(&format!("/{name}"));
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [hex, listed] if names(listed.trim_start_matches('*')) => return by_length(hex),
            [kind, listed, "=", hex] if names(listed.trim_matches(['(', ')'])) => {
                let (_, hex) = by_length(hex)?;
                return Ok((kind.to_lowercase(), hex));
            }
            _ => {}
        }
    }
    Err(format!("iso_checksum: no checksum for {name} in {file}"))
}

/// The last part of a path or URL's path: the name a checksum file lists it under.
pub(super) fn file_name_of(source: &str) -> String {
    let path = source.split(['?', '#']).next().unwrap_or(source);
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// What `iso_checksum` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sum {
    /// `none`: nothing to check.
    None,
    /// An algorithm and the lowercase hex digest.
    Known(String, String),
    /// `file:` with a checksum file to download when the build runs.
    Remote(String),
}

/// `TYPE:HEX`, a bare hex digest (its type from its length, as go-getter guesses it), or
/// `file:PATH` / `file:URL` (a checksum file; a local one is read now, a remote one when the
/// build runs), the line naming `iso`'s file.
fn parse_checksum(spec: &str, iso: &str) -> Result<Sum, Diagnostic> {
    let known = |r: Result<(String, String), String>| {
        r.map(|(k, h)| Sum::Known(k, h)).map_err(Diagnostic::new)
    };
    let Some((kind, rest)) = spec.split_once(':') else {
        return known(by_length(spec));
    };
    let kind = kind.to_lowercase();
    if kind == "file" {
        let Some(file) = local_path(rest) else {
            return Ok(Sum::Remote(rest.to_string()));
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Diagnostic::new(format!("iso_checksum: {file}: {e}")))?;
        return known(checksum_in(&text, &file_name_of(iso), &file));
    }
    if !kiln_core::digest::KINDS.contains(&kind.as_str()) {
        return Err(Diagnostic::new(format!(
            "iso_checksum: unknown checksum type \"{kind}\""
        )));
    }
    let want = match kind.as_str() {
        "md5" => 32,
        "sha1" => 40,
        "sha224" => 56,
        "sha256" => 64,
        "sha384" => 96,
        _ => 128,
    };
    if rest.len() != want || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Diagnostic::new(format!(
            "iso_checksum: \"{rest}\" is not a {kind} digest ({want} hex digits)"
        )));
    }
    Ok(Sum::Known(kind, rest.to_lowercase()))
}

/// Whether KVM can be used: /dev/kvm opens for reading and writing (Packer's test).
fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Result<(Settings, CommConfig), Diagnostic> {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        parse(&Value::from_json(&v), "qemu", false)
    }

    fn disk() -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"disk").unwrap();
        f
    }

    #[test]
    fn defaults_are_packers() {
        let d = disk();
        let (s, comm) = cfg(&format!(
            r#"{{"iso_url": "{}", "iso_checksum": "none", "ssh_username": "u", "accelerator": "tcg"}}"#,
            d.path().display()
        ))
        .unwrap();
        let c = &s.c;
        assert_eq!(c.disk_size, "40960M");
        let (s2, _) = cfg(&format!(
            r#"{{"iso_url": "{}", "iso_checksum": "none", "ssh_username": "u", "disk_size": "2048", "disk_additional_size": ["1G"]}}"#,
            d.path().display()
        ))
        .unwrap();
        assert_eq!(s2.c.disk_size, "2048M");
        assert_eq!(c.format, "qcow2");
        assert_eq!(c.output_directory, "output-qemu");
        assert_eq!(c.vm_name, "packer-qemu");
        assert_eq!((c.memory, c.cpus), (512, 1));
        assert_eq!((c.host_port_min, c.host_port_max), (2222, 4444));
        assert_eq!((c.vnc_port_min, c.vnc_port_max), (5900, 6000));
        assert_eq!(c.net_device, "virtio-net");
        assert_eq!(c.disk_interface, "virtio");
        assert_eq!(c.disk_cache, "writeback");
        assert_eq!(s.boot_wait, Duration::from_secs(10));
        assert_eq!((c.http_port_min, c.http_port_max), (8000, 9000));
        assert_eq!(c.http_bind_address, "127.0.0.1");
        assert_eq!(s.shutdown_timeout, Duration::from_secs(300));
        assert_eq!(s.checksum, Sum::None);
        assert!(s.warnings[0].starts_with("A checksum of 'none'"));
        assert_eq!(comm.communicator, "ssh");
    }

    #[test]
    fn packers_checks_hold() {
        let d = disk();
        let p = d.path().display().to_string();
        let e = |extra: &str| {
            cfg(&format!(
                r#"{{"iso_url": "{p}", "iso_checksum": "none", "ssh_username": "u"{extra}}}"#
            ))
            .unwrap_err()
            .message
        };
        assert_eq!(
            e(r#", "format": "vmdk""#),
            "format: invalid format, only 'qcow2' or 'raw' are allowed"
        );
        assert_eq!(
            e(r#", "disk_size": "10x""#),
            "disk_size: Invalid disk size."
        );
        assert!(e(r#", "use_backing_file": true"#).starts_with("use_backing_file can only"));
        assert!(e(r#", "skip_resize_disk": true"#).starts_with("skip_resize_disk can only"));
        assert!(e(r#", "accelerator": "fast""#).starts_with("accelerator: invalid accelerator"));
        assert_eq!(
            e(r#", "host_port_min": 5000, "host_port_max": 4000"#),
            "host_port_min must be less than host_port_max"
        );
        assert!(e(r#", "floppy_files": ["a"]"#).starts_with("Bad Floppy disk file 'a': stat a: "));
        assert!(e(r#", "floppy_dirs": ["d"]"#).starts_with("Bad Floppy disk directory 'd'"));
        assert!(e(r#", "floppy_files": ["x/[ab"]"#).contains("syntax error in pattern"));
        assert!(e(r#", "net_bridge": "br0""#).contains("not available"));
        assert_eq!(
            e(r#", "boot_command": ["<enter>"], "disable_vnc": true"#),
            "A boot command cannot be used when vnc is disabled."
        );
        assert_eq!(
            e(r#", "boot_command": ["<wait-2s>"]"#),
            "boot_command: Expecting a positive wait value. Got -2s"
        );
        assert_eq!(
            e(r#", "http_port_min": 9000, "http_port_max": 8000"#),
            "http_port_min must be less than http_port_max"
        );
        assert!(e(r#", "output_directory": "/""#).contains("already exists"));
        assert!(e(r#", "iso_urls": ["x"]"#).starts_with("Only one of iso_url"));
        let unknown = cfg(&format!(
            r#"{{"iso_url": "{p}", "iso_checksum": "none", "ssh_username": "u", "disk_sise": "1G"}}"#
        ))
        .unwrap_err();
        assert_eq!(unknown.message, "unknown configuration key \"disk_sise\"");
        assert_eq!(unknown.hint.as_deref(), Some("did you mean \"disk_size\"?"));
        let missing = cfg(r#"{"iso_checksum": "none", "ssh_username": "u"}"#).unwrap_err();
        assert_eq!(
            missing.message,
            "One of iso_url or iso_urls must be specified"
        );
        let (remote, _) = cfg(r#"{"iso_url": "https://example.invalid/d.iso", "iso_checksum": "file:https://example.invalid/SUMS", "ssh_username": "u"}"#).unwrap();
        assert_eq!(
            remote.iso_sources,
            vec![Source::Remote("https://example.invalid/d.iso".into())]
        );
        assert_eq!(
            remote.checksum,
            Sum::Remote("https://example.invalid/SUMS".into())
        );
        let ftp = cfg(r#"{"iso_url": "ftp://example.invalid/d.iso", "iso_checksum": "none", "ssh_username": "u"}"#).unwrap_err();
        assert!(
            ftp.message
                .contains("only local paths, file://, http:// and https://"),
            "{}",
            ftp.message
        );
    }

    #[test]
    fn checksums_parse_as_go_getter_reads_them() {
        let d = disk();
        let iso = d.path().display().to_string();
        let sha = "a".repeat(64);
        assert_eq!(
            parse_checksum(&sha, &iso).unwrap(),
            Sum::Known("sha256".into(), sha.clone())
        );
        assert_eq!(
            parse_checksum(&format!("MD5:{}", "B".repeat(32)), &iso).unwrap(),
            Sum::Known("md5".into(), "b".repeat(32))
        );
        assert!(parse_checksum("abc", &iso).is_err());
        assert!(parse_checksum("sha9:abc", &iso).is_err());
        assert!(parse_checksum("sha256:00", &iso).is_err());
        assert!(parse_checksum(&format!("sha256:{}", "g".repeat(64)), &iso).is_err());
        assert_eq!(
            parse_checksum(&format!("sha384:{}", "c".repeat(96)), &iso).unwrap(),
            Sum::Known("sha384".into(), "c".repeat(96))
        );
        let name = d.path().file_name().unwrap().to_string_lossy().to_string();
        let mut sums = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut sums,
            format!(
                "{}  other.iso\n{}  {name}\n",
                "0".repeat(40),
                "1".repeat(40)
            )
            .as_bytes(),
        )
        .unwrap();
        let spec = format!("file:{}", sums.path().display());
        assert_eq!(
            parse_checksum(&spec, &iso).unwrap(),
            Sum::Known("sha1".into(), "1".repeat(40))
        );
        let mut bsd = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut bsd, format!("SHA256 ({name}) = {sha}\n").as_bytes())
            .unwrap();
        let spec = format!("file://{}", bsd.path().display());
        assert_eq!(
            parse_checksum(&spec, &iso).unwrap(),
            Sum::Known("sha256".into(), sha)
        );
        // A name is matched whole: "xdisk.iso" is not "disk.iso".
        assert!(checksum_in(&format!("{}  xdisk.iso\n", "1".repeat(40)), "disk.iso", "f").is_err());
        assert_eq!(file_name_of("https://h/a/b.iso?x=1"), "b.iso");
    }
}
