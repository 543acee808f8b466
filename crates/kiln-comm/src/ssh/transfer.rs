//! File transfer: which way each operation goes. Files go by scp (or sftp); directories go
//! as one `tar` stream each way when the machine has tar, by `scp -r` (or sftp) otherwise.
//! Modes are kept both ways.

use super::{failed, scp, sftp, shell_quote, SshCommunicator};
use crate::{CommError, Progress};
use russh::ChannelMsg;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

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

/// Splits a remote path into directory and file name, as scp wants them.
pub(super) fn split_remote(remote: &str, local: &Path) -> (String, String) {
    if remote.ends_with('/') {
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return (
            remote.trim_end_matches('/').to_string().max("/".into()),
            name,
        );
    }
    match remote.rsplit_once('/') {
        Some(("", name)) => ("/".into(), name.into()),
        Some((dir, name)) => (dir.into(), name.into()),
        None => (".".into(), remote.into()),
    }
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

/// Counts bytes read through it and reports them.
pub(super) struct Counted<'a, R> {
    /// What is read.
    pub inner: R,
    /// Bytes so far (of the whole operation).
    pub done: u64,
    /// Bytes in all (0 when unknown).
    pub total: u64,
    /// Where to report.
    pub progress: Progress<'a>,
}

impl<'a> Counted<'a, ()> {
    /// A running count for an operation of `total` bytes, reading nothing itself.
    pub fn totals(total: u64, progress: Progress<'a>) -> Counted<'a, ()> {
        Counted {
            inner: (),
            done: 0,
            total,
            progress,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.done += n;
            (self.progress)(self.done, self.total);
        }
        r
    }
}

/// The bytes of every regular file under `dir`, for progress totals.
pub(super) fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
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

/// Packer's rules: `src/` uploads the contents of src into `remote`; `src` uploads the
/// directory itself, as `remote/src`.
fn split_local_dir(local: &Path) -> Result<(std::path::PathBuf, String), CommError> {
    if local.to_string_lossy().ends_with('/') {
        return Ok((local.to_path_buf(), ".".to_string()));
    }
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CommError::Failed(format!("cannot upload {}", local.display())))?;
    let parent = local
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((parent.to_path_buf(), name))
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
async fn tar_upload(
    comm: &SshCommunicator,
    base: &Path,
    entry: &str,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let dest = shell_quote(remote);
    let mut ch = comm.session().await?;
    ch.exec(true, format!("mkdir -p -- {dest} && tar -C {dest} -xpf -"))
        .await
        .map_err(|e| failed("starting tar", e))?;
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(base)
        .args(["-cf", "-", "--", entry])
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

#[cfg(test)]
mod tests {
    use super::split_remote;
    use std::path::Path;

    #[test]
    fn remote_paths_split_like_scp() {
        let l = Path::new("/x/local.txt");
        assert_eq!(split_remote("/tmp/a.sh", l), ("/tmp".into(), "a.sh".into()));
        assert_eq!(
            split_remote("/tmp/", l),
            ("/tmp".into(), "local.txt".into())
        );
        assert_eq!(split_remote("a.sh", l), (".".into(), "a.sh".into()));
        assert_eq!(split_remote("/a.sh", l), ("/".into(), "a.sh".into()));
    }
}
