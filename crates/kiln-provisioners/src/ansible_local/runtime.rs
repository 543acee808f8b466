//! kiln's managed ansible runtime: ansible-core and its dependencies as wheels (from a given
//! wheelhouse, or downloaded once with pip for the machine's Python and architecture), unpacked
//! inside the staging directory for the run and removed with it. Templates then need no
//! install/erase shell steps around `ansible-local`.

use kiln_comm::ssh::shell_quote;
use kiln_comm::{exec_capture, exec_quiet, Communicator};
use kiln_core::ui::BuildUi;
use kiln_core::{Error, Result};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The machine's `python3` version (`3.11`) and architecture (`x86_64`).
async fn remote_python(
    comm: &dyn Communicator,
    cancel: &CancellationToken,
) -> Result<(String, String)> {
    let (code, text) = exec_capture(
        comm,
        "python3 -c 'import sys, platform; print(\"%d.%d %s\" % (sys.version_info[0], sys.version_info[1], platform.machine()))'",
        cancel.clone(),
    )
    .await?;
    match (code, text.split_once(' ')) {
        (0, Some((v, arch))) => Ok((v.to_string(), arch.trim().to_string())),
        _ => Err(Error::msg(
            "the managed ansible runtime needs python3 on the machine (python3 was not found)",
        )),
    }
}

/// A wheelhouse for this machine: the configured one, or a cached pip download.
async fn wheelhouse(
    configured: &str,
    version: &str,
    py: &str,
    arch: &str,
    ui: &BuildUi,
) -> Result<PathBuf> {
    if !configured.is_empty() {
        return Ok(PathBuf::from(configured));
    }
    let spec = if version.is_empty() {
        String::new()
    } else {
        version.to_string()
    };
    let cache = std::env::var("KILN_CACHE").unwrap_or_else(|_| "/var/tmp/kiln-cache".into());
    let key: String = format!("{py}-{arch}-{spec}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = Path::new(&cache).join("ansible-runtime").join(key);
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    ui.say(&format!(
        "Downloading ansible-core{spec} wheels for Python {py} ({arch})..."
    ));
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let mut cmd = tokio::process::Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
    ])
    .args(["--python-version", py])
    .args(["--platform", &format!("manylinux2014_{arch}")])
    .args(["--platform", &format!("manylinux_2_17_{arch}")])
    .args(["--platform", &format!("manylinux_2_28_{arch}")])
    .arg("-d")
    .arg(&tmp)
    .arg(format!("ansible-core{spec}"));
    let out = cmd.output().await.map_err(|e| {
        Error::msg(format!(
            "running pip on this machine for the managed ansible runtime: {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "pip could not download ansible-core{spec}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    std::fs::write(tmp.join(".complete"), "")?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir)?;
    Ok(dir)
}

/// Installs the runtime under `<staging>/.kiln-runtime` and returns the environment and command
/// prefix that run ansible-playbook (and ansible-galaxy) from it.
pub async fn install(
    comm: &dyn Communicator,
    staging: &str,
    configured_wheelhouse: &str,
    version: &str,
    ui: &BuildUi,
    cancel: &CancellationToken,
) -> Result<Runtime> {
    let (py, arch) = remote_python(comm, cancel).await?;
    let wheels = wheelhouse(configured_wheelhouse, version, &py, &arch, ui).await?;
    let root = format!("{staging}/.kiln-runtime");
    ui.say(&format!(
        "Installing the managed ansible runtime in {root}..."
    ));
    let mut src = wheels.display().to_string();
    if !src.ends_with('/') {
        src.push('/');
    }
    comm.upload_dir(
        Path::new(&src),
        &format!("{root}/wheels"),
        kiln_comm::no_progress(),
    )
    .await?;
    let q = shell_quote(&root);
    let unpack = format!(
        "cd {q} && mkdir -p home tmp && python3 -c 'import glob, zipfile\nfor w in sorted(glob.glob(\"wheels/*.whl\")):\n    zipfile.ZipFile(w).extractall(\"site\")' && rm -rf wheels"
    );
    let code = exec_quiet(comm, &unpack, cancel.clone()).await?;
    if code != 0 {
        return Err(Error::msg(format!(
            "unpacking the managed ansible runtime failed (exit {code})"
        )));
    }
    Ok(Runtime { root })
}

/// An installed managed runtime.
pub struct Runtime {
    root: String,
}

impl Runtime {
    /// Environment assignments that keep every ansible file inside the runtime directory.
    pub fn env(&self) -> String {
        let r = shell_quote(&self.root);
        format!(
            "PYTHONPATH={r}/site ANSIBLE_HOME={r}/home ANSIBLE_LOCAL_TEMP={r}/tmp ANSIBLE_REMOTE_TMP={r}/tmp ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1"
        )
    }

    /// The ansible-playbook command.
    pub fn playbook(&self) -> String {
        format!("{} python3 -m ansible.cli.playbook", self.env())
    }

    /// The ansible-galaxy command.
    pub fn galaxy(&self) -> String {
        format!("{} python3 -m ansible.cli.galaxy", self.env())
    }
}
