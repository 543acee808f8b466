//! File transfer: `scp -t` for a file, one `tar` stream for a directory, `cat` to download.

use super::{failed, shell_quote, SshCommunicator};
use crate::{CommError, Progress};
use russh::ChannelMsg;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncRead, ReadBuf};

/// Waits for scp's one-byte acknowledgement. Text on stderr (sshd may print debug lines there)
/// does not fail the transfer; it is quoted if scp then refuses.
async fn read_ack(
    ch: &mut russh::Channel<russh::client::Msg>,
    what: &str,
) -> Result<(), CommError> {
    let mut stderr = Vec::new();
    loop {
        match ch.wait().await {
            Some(ChannelMsg::Data { data }) => {
                return match data.first() {
                    Some(0) => Ok(()),
                    _ => Err(CommError::Failed(format!(
                        "scp refused {what}: {}{}",
                        String::from_utf8_lossy(data.get(1..).unwrap_or_default()).trim(),
                        String::from_utf8_lossy(&stderr).trim()
                    ))),
                };
            }
            Some(ChannelMsg::ExtendedData { data, .. }) => stderr.extend_from_slice(&data),
            Some(ChannelMsg::ExitStatus { exit_status }) if exit_status != 0 => {
                return Err(CommError::Failed(format!(
                    "scp {what}: exit status {exit_status}: {}",
                    String::from_utf8_lossy(&stderr).trim()
                )))
            }
            Some(_) => {}
            None => {
                return Err(CommError::Failed(format!(
                    "scp {what}: channel closed: {}",
                    String::from_utf8_lossy(&stderr).trim()
                )))
            }
        }
    }
}

/// Waits for the channel to end; returns its exit status and what it wrote to stderr.
async fn finish(ch: &mut russh::Channel<russh::client::Msg>) -> (i32, String) {
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
fn split_remote(remote: &str, local: &Path) -> (String, String) {
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
async fn send_all(
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
struct Counted<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    progress: Progress<'a>,
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

pub(super) async fn upload_file(
    comm: &SshCommunicator,
    local: &Path,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| failed(&format!("opening {}", local.display()), e))?;
    let meta = file.metadata().await?;
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    let (dir, name) = split_remote(remote, local);
    let counted = Counted {
        inner: file,
        done: 0,
        total: meta.len(),
        progress,
    };
    let mut ch = comm.session().await?;
    let header = format!("C{mode:04o} {} {name}\n", meta.len());
    let result = scp_send(&mut ch, &dir, &header, counted, remote).await;
    // Close the channel on every path: leaked channels count against the server's MaxSessions.
    let _ = ch.close().await;
    result
}

/// The scp sink protocol for one file: start `scp -t DIR`, send the `C` header, the bytes and
/// a NUL, each acknowledged.
async fn scp_send(
    ch: &mut russh::Channel<russh::client::Msg>,
    dir: &str,
    header: &str,
    data: impl AsyncRead + Unpin,
    remote: &str,
) -> Result<(), CommError> {
    ch.exec(true, format!("scp -t -- {}", shell_quote(dir)))
        .await
        .map_err(|e| failed("starting scp", e))?;
    read_ack(ch, "the upload").await?;
    ch.data(header.as_bytes())
        .await
        .map_err(|e| failed("sending the file header", e))?;
    read_ack(ch, remote).await?;
    send_all(ch, data).await?;
    ch.data(&[0u8][..])
        .await
        .map_err(|e| failed("ending the file", e))?;
    read_ack(ch, &format!("{remote} after sending it")).await?;
    ch.eof().await.map_err(|e| failed("closing scp", e))?;
    let (code, stderr) = finish(ch).await;
    if code > 0 {
        return Err(CommError::Failed(format!(
            "scp upload of {remote} exited {code}: {stderr}"
        )));
    }
    Ok(())
}

/// Packer's rules: `src/` uploads the contents of src into `remote`; `src` uploads the
/// directory itself, as `remote/src`.
pub(super) async fn upload_dir(
    comm: &SshCommunicator,
    local: &Path,
    remote: &str,
) -> Result<(), CommError> {
    let local_str = local.to_string_lossy();
    let (base, entry) = if local_str.ends_with('/') {
        (local.to_path_buf(), ".".to_string())
    } else {
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| CommError::Failed(format!("cannot upload {}", local.display())))?;
        let parent = local
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), name)
    };
    let dest = shell_quote(remote);
    let mut ch = comm.session().await?;
    ch.exec(
        true,
        format!("command -v tar >/dev/null || {{ echo 'tar is not installed on the machine' >&2; exit 127; }}; mkdir -p -- {dest} && tar -C {dest} -xf -"),
    )
    .await
    .map_err(|e| failed("starting tar", e))?;
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(&base)
        .args(["-cf", "-", "--", &entry])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed("running local tar", e))?;
    let stdout = tar.stdout.take().expect("piped");
    let send = send_all(&ch, stdout).await;
    let local_status = tar.wait_with_output().await?;
    ch.eof()
        .await
        .map_err(|e| failed("closing the tar stream", e))?;
    let (code, stderr) = finish(&mut ch).await;
    send?;
    if !local_status.status.success() {
        return Err(CommError::Failed(format!(
            "local tar of {} failed: {}",
            local.display(),
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

pub(super) async fn download(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let mut ch = comm.session().await?;
    ch.exec(true, format!("cat -- {}", shell_quote(remote)))
        .await
        .map_err(|e| failed("starting the download", e))?;
    let tmp = local.with_extension("kiln-part");
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| failed(&format!("creating {}", local.display()), e))?;
    let mut code = -1;
    let mut stderr = Vec::new();
    let mut done = 0u64;
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                file.write_all(&data).await?;
                done += data.len() as u64;
                progress(done, 0);
            }
            ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => code = exit_status as i32,
            _ => {}
        }
    }
    file.flush().await?;
    drop(file);
    if code != 0 {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(CommError::Failed(format!(
            "downloading {remote} failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    tokio::fs::rename(&tmp, local).await?;
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
