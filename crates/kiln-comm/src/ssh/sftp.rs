//! `ssh_file_transfer_method: sftp`: files and directories over the SFTP subsystem, with
//! their modes.

use super::{failed, SshCommunicator};
use crate::files::{tree_size, Counted};
use crate::{CommError, Progress};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::FileAttributes;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sftp_err(what: &str, e: impl std::fmt::Display) -> CommError {
    CommError::Failed(format!("sftp: {what}: {e}"))
}

/// Opens an SFTP session on a new channel.
async fn open(comm: &SshCommunicator) -> Result<SftpSession, CommError> {
    let ch = comm.session().await?;
    ch.request_subsystem(true, "sftp")
        .await
        .map_err(|e| failed("starting the sftp subsystem", e))?;
    SftpSession::new(ch.into_stream())
        .await
        .map_err(|e| sftp_err(&format!("opening a session on {}", comm.target), e))
}

fn mode_attrs(mode: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(mode & 0o7777),
        ..FileAttributes::empty()
    }
}

/// Gives `remote` the permission bits of `mode`.
async fn set_mode(s: &SftpSession, remote: &str, mode: u32) -> Result<(), CommError> {
    s.set_metadata(remote, mode_attrs(mode))
        .await
        .map_err(|e| sftp_err(&format!("setting the mode of {remote}"), e))
}

/// Copies one local file to `remote`, then gives it the local mode.
async fn put(
    s: &SftpSession,
    local: &Path,
    remote: &str,
    progress: &mut Counted<'_, ()>,
) -> Result<(), CommError> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| failed(&format!("opening {}", local.display()), e))?;
    let mode = file.metadata().await?.permissions().mode();
    let mut out = s
        .create(remote)
        .await
        .map_err(|e| sftp_err(&format!("creating {remote}"), e))?;
    let mut counted = Counted {
        inner: file,
        done: progress.done,
        total: progress.total,
        progress: progress.progress,
    };
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = counted.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .await
            .map_err(|e| sftp_err(&format!("writing {remote}"), e))?;
    }
    progress.done = counted.done;
    out.shutdown()
        .await
        .map_err(|e| sftp_err(&format!("closing {remote}"), e))?;
    set_mode(s, remote, mode).await
}

/// Uploads one file to `dir/name`.
pub(super) async fn upload_file(
    comm: &SshCommunicator,
    local: &Path,
    dir: &str,
    name: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let s = open(comm).await?;
    let mut counter = Counted::totals(std::fs::metadata(local)?.len(), progress);
    let r = match mkdir_p(&s, dir).await {
        Ok(()) => put(&s, local, &join(dir, name), &mut counter).await,
        Err(e) => Err(e),
    };
    let _ = s.close().await;
    r
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Creates `remote` (and its parents) unless it exists.
async fn mkdir_p(s: &SftpSession, remote: &str) -> Result<(), CommError> {
    let mut path = String::new();
    for part in remote.split('/') {
        if part.is_empty() {
            if path.is_empty() {
                path.push('/');
            }
            continue;
        }
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
        if !s
            .try_exists(path.as_str())
            .await
            .map_err(|e| sftp_err(&format!("checking {path}"), e))?
        {
            s.create_dir(path.as_str())
                .await
                .map_err(|e| sftp_err(&format!("creating {path}"), e))?;
        }
    }
    Ok(())
}

/// Sends `local` (a directory) as `remote`, recursively.
/// Copies the tree `local` to `remote`, with modes; `remote` itself gets the mode of `local`
/// only when `own_mode` (not for a directory's contents put into `remote`, which, as with scp,
/// keeps its owner's mode: it may be one another user made and opened to all).
async fn put_tree(
    s: &SftpSession,
    local: &Path,
    remote: &str,
    own_mode: bool,
    progress: &mut Counted<'_, ()>,
) -> Result<(), CommError> {
    mkdir_p(s, remote).await?;
    let mut entries: Vec<_> = std::fs::read_dir(local)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let target = join(remote, &e.file_name().to_string_lossy());
        if path.is_dir() {
            Box::pin(put_tree(s, &path, &target, true, progress)).await?;
        } else if path.is_file() {
            put(s, &path, &target, progress).await?;
        }
    }
    if !own_mode {
        return Ok(());
    }
    let mode = std::fs::metadata(local)?.permissions().mode();
    set_mode(s, remote, mode).await
}

/// Uploads a directory: `entry` "." puts the contents of `base` into `remote`, a name puts
/// `base/name` at `remote/name`.
pub(super) async fn upload_dir(
    comm: &SshCommunicator,
    base: &Path,
    entry: &str,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let root = base.join(entry);
    let mut counter = Counted::totals(tree_size(&root), progress);
    let s = open(comm).await?;
    let target = if entry == "." {
        remote.to_string()
    } else {
        join(remote, entry)
    };
    let r = put_tree(&s, &root, &target, entry != ".", &mut counter).await;
    let _ = s.close().await;
    r
}

/// Copies `remote` to the local file `local`, with its mode.
async fn get(
    s: &SftpSession,
    remote: &str,
    local: &Path,
    done: &mut u64,
    total: u64,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let meta = s
        .metadata(remote)
        .await
        .map_err(|e| sftp_err(&format!("reading {remote}"), e))?;
    let mut file = s
        .open(remote)
        .await
        .map_err(|e| sftp_err(&format!("opening {remote}"), e))?;
    let tmp = local.with_extension("kiln-part");
    let mut out = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| failed(&format!("creating {}", local.display()), e))?;
    let mut buf = vec![0u8; 256 << 10];
    let total = if total == 0 { meta.len() } else { total };
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| sftp_err(&format!("reading {remote}"), e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).await?;
        *done += n as u64;
        progress(*done, total);
    }
    out.flush().await?;
    drop(out);
    if let Some(mode) = meta.permissions {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    tokio::fs::rename(&tmp, local).await?;
    Ok(())
}

/// Downloads one file.
pub(super) async fn download_file(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let s = open(comm).await?;
    let r = get(&s, remote, local, &mut 0, 0, progress).await;
    let _ = s.close().await;
    r
}

/// Receives the directory `remote` into the local directory `local`, recursively.
async fn get_tree(
    s: &SftpSession,
    remote: &str,
    local: &Path,
    done: &mut u64,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    std::fs::create_dir_all(local)?;
    let entries = s
        .read_dir(remote)
        .await
        .map_err(|e| sftp_err(&format!("listing {remote}"), e))?;
    for e in entries {
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let meta = e.metadata();
        let from = join(remote, &name);
        let to = local.join(&name);
        if meta.is_dir() {
            Box::pin(get_tree(s, &from, &to, done, progress)).await?;
        } else if meta.is_regular() {
            get(s, &from, &to, done, 0, progress).await?;
        }
    }
    if let Some(mode) = s
        .metadata(remote)
        .await
        .map_err(|e| sftp_err(&format!("reading {remote}"), e))?
        .permissions
    {
        std::fs::set_permissions(local, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    Ok(())
}

/// Downloads a directory into `local` (as `local/NAME`, or its contents into `local` when
/// `remote` ends with `/`).
pub(super) async fn download_dir(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let s = open(comm).await?;
    let trimmed = remote.trim_end_matches('/');
    let target = if remote.ends_with('/') {
        local.to_path_buf()
    } else {
        let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
        local.join(name)
    };
    let from = if trimmed.is_empty() { "/" } else { trimmed };
    let r = get_tree(&s, from, &target, &mut 0, progress).await;
    let _ = s.close().await;
    r
}
