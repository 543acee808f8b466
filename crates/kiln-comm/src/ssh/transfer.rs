//! File transfer: which way each operation goes. Files go by scp (or sftp); directories go
//! as one `tar` stream each way when the machine has tar, by `scp -r` (or sftp) otherwise.
//! Modes are kept both ways.

use super::{failed, scp, sftp, shell_quote, SshCommunicator};
use crate::files::{split_local_dir, split_remote, tree_size, Counted};
use crate::{CommError, Progress};
use russh::ChannelMsg;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncWriteExt};

/// `ssh_file_transfer_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// scp for files, tar streams (or scp -r) for directories (Packer's default).
    #[default]
    Scp,
    /// The SFTP subsystem for everything.
    Sftp,
}

/// Waits for the channel to end; returns its exit status and what it wrote to stderr.
pub(super) async fn finish(ch: &mut russh::Channel<russh::client::Msg>) -> (i32, String) {
    let mut code = -1;
    let mut stderr = Vec::new();
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::ExitStatus { exit_status } => code = exit_status as i32,
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            _ => {}
        }
    }
    (code, String::from_utf8_lossy(&stderr).trim().to_string())
}

/// Copies `data` into the channel in large chunks. (russh's own `data()` copies through an
/// 8 KiB buffer, which makes every SSH packet small and halves throughput.)
pub(super) async fn send_all(
    ch: &russh::Channel<russh::client::Msg>,
    mut data: impl AsyncRead + Unpin,
) -> Result<(), CommError> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = data.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        ch.data_bytes(buf[..n].to_vec())
            .await
            .map_err(|e| failed("sending data", e))?;
    }
}

/// Uploads a file (`remote` ending in `/` means into that directory, under its own name).
pub(super) async fn upload_file(
    comm: &SshCommunicator,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let (dir, name) = split_remote(remote, local);
    // `dir/` names a directory: make sure there is one (scp would write a file named dir).
    if remote.ends_with('/') && comm.method == Method::Scp {
        mkdir_p(comm, &dir).await?;
    }
    match comm.method {
        Method::Scp => scp::upload_file(comm, local, &dir, &name, progress).await,
        Method::Sftp => sftp::upload_file(comm, local, &dir, &name, progress).await,
    }
}

/// Uploads a directory (Packer's trailing-slash rules).
pub(super) async fn upload_dir(
    comm: &SshCommunicator,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let (base, entry) = split_local_dir(local)?;
    match comm.method {
        Method::Sftp => sftp::upload_dir(comm, &base, &entry, remote, progress).await,
        Method::Scp if comm.remote_has_tar().await? => {
            tar_upload(comm, &base, &entry, remote, progress).await
        }
        Method::Scp => {
            mkdir_p(comm, remote).await?;
            scp::upload_dir(comm, &base, &entry, remote, progress).await
        }
    }
}

/// Downloads a file.
pub(super) async fn download(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    match comm.method {
        Method::Scp => scp::download_file(comm, remote, local, progress).await,
        Method::Sftp => sftp::download_file(comm, remote, local, progress).await,
    }
}

/// Downloads a directory: `remote/` puts its contents into `local`, `remote` puts it at
/// `local/NAME`.
pub(super) async fn download_dir(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    match comm.method {
        Method::Sftp => sftp::download_dir(comm, remote, local, progress).await,
        Method::Scp if comm.remote_has_tar().await? => {
            tar_download(comm, remote, local, progress).await
        }
        Method::Scp => scp::download_dir(comm, remote, local, progress).await,
    }
}

/// `mkdir -p` on the machine.
async fn mkdir_p(comm: &SshCommunicator, remote: &str) -> Result<(), CommError> {
    let mut ch = comm.session().await?;
    ch.exec(true, format!("mkdir -p -- {}", shell_quote(remote)))
        .await
        .map_err(|e| failed("starting mkdir", e))?;
    let (code, stderr) = finish(&mut ch).await;
    if code != 0 {
        return Err(CommError::Failed(format!(
            "creating {remote} failed (exit {code}): {stderr}"
        )));
    }
    Ok(())
}

/// One tar stream from a local `tar -c` into `tar -x` on the machine (`-p`: modes exactly).
/// A directory's contents (`entry` "."), as with scp, go in as its entries, so that the
/// destination directory itself keeps its owner, mode and times: one made by another user
/// (a provisioner's `sudo mkdir`, opened to all) takes uploads as scp does.
async fn tar_upload(
    comm: &SshCommunicator,
    base: &Path,
    entry: &str,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let dest = shell_quote(remote);
    let entries: Vec<String> = if entry == "." {
        let mut names = std::fs::read_dir(base)?
            .map(|e| e.map(|e| format!("./{}", e.file_name().to_string_lossy())))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        names
    } else {
        vec![entry.to_string()]
    };
    if entries.is_empty() {
        return mkdir_p(comm, remote).await;
    }
    let mut ch = comm.session().await?;
    ch.exec(true, format!("mkdir -p -- {dest} && tar -C {dest} -xpf -"))
        .await
        .map_err(|e| failed("starting tar", e))?;
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(base)
        .args(["-cf", "-", "--"])
        .args(&entries)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("running local tar", e))?;
    let stdout = tar.stdout.take().expect("piped");
    let counted = Counted {
        inner: stdout,
        done: 0,
        total: tree_size(&base.join(entry)),
        progress,
    };
    let send = send_all(&ch, counted).await;
    let local_status = tar.wait_with_output().await?;
    ch.eof()
        .await
        .map_err(|e| failed("closing the tar stream", e))?;
    let (code, stderr) = finish(&mut ch).await;
    send?;
    if !local_status.status.success() {
        return Err(CommError::Failed(format!(
            "local tar of {} failed: {}",
            base.join(entry).display(),
            String::from_utf8_lossy(&local_status.stderr).trim()
        )));
    }
    if code != 0 {
        return Err(CommError::Failed(format!(
            "unpacking into {remote} failed (exit {code}): {stderr}"
        )));
    }
    Ok(())
}

/// One tar stream from `tar -c` on the machine into a local `tar -x` (modes kept, owners not).
async fn tar_download(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let trimmed = remote.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let (dir, entry) = if remote.ends_with('/') {
        (trimmed.to_string(), ".".to_string())
    } else {
        match trimmed.rsplit_once('/') {
            Some(("", name)) => ("/".to_string(), name.to_string()),
            Some((d, name)) => (d.to_string(), name.to_string()),
            None => (".".to_string(), trimmed.to_string()),
        }
    };
    std::fs::create_dir_all(local)?;
    let mut ch = comm.session().await?;
    ch.exec(
        true,
        format!(
            "tar -C {} -cf - -- {}",
            shell_quote(&dir),
            shell_quote(&entry)
        ),
    )
    .await
    .map_err(|e| failed("starting tar", e))?;
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(local)
        .args(["-xpf", "-", "--no-same-owner"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("running local tar", e))?;
    let mut stdin = tar.stdin.take().expect("piped");
    let mut code = -1;
    let mut stderr = Vec::new();
    let mut done = 0u64;
    let mut write_err = None;
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                if write_err.is_none() {
                    if let Err(e) = stdin.write_all(&data).await {
                        write_err = Some(e);
                    }
                }
                done += data.len() as u64;
                progress(done, 0);
            }
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => code = exit_status as i32,
            _ => {}
        }
    }
    drop(stdin);
    let local_status = tar.wait_with_output().await?;
    if code != 0 {
        return Err(CommError::Failed(format!(
            "downloading {remote} failed (exit {code}): {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    if !local_status.status.success() || write_err.is_some() {
        return Err(CommError::Failed(format!(
            "unpacking {remote} into {} failed: {}",
            local.display(),
            String::from_utf8_lossy(&local_status.stderr).trim()
        )));
    }
    Ok(())
}
