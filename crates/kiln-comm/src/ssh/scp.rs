//! The scp protocol, both ways, as OpenSSH's `scp -t` (sink) and `scp -f` (source) speak it,
//! always with `-p`: modes and times travel with the files and are applied exactly.
//!
//! Files are one exchange each; directories are used only when the machine has no `tar` (one
//! stream is much faster than a round trip per file).

use super::{failed, shell_quote, SshCommunicator};
use crate::files::Counted;
use crate::{CommError, Progress};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Reads scp's one-byte answer: 0 is yes, 1 (warning) and 2 (error) come with a message line.
async fn read_ack(r: &mut (impl AsyncRead + Unpin), what: &str) -> Result<(), CommError> {
    let mut b = [0u8; 1];
    if r.read_exact(&mut b).await.is_err() {
        return Err(CommError::Failed(format!(
            "scp {what}: the connection closed"
        )));
    }
    if b[0] == 0 {
        return Ok(());
    }
    let mut msg = Vec::new();
    loop {
        if r.read_exact(&mut b).await.is_err() || b[0] == b'\n' {
            break;
        }
        msg.push(b[0]);
    }
    Err(CommError::Failed(format!(
        "scp refused {what}: {}",
        String::from_utf8_lossy(&msg).trim()
    )))
}

/// One line to the peer, then its answer.
async fn send_line<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    line: &str,
    what: &str,
) -> Result<(), CommError> {
    s.write_all(line.as_bytes())
        .await
        .map_err(|e| failed(&format!("scp {what}"), e))?;
    s.flush()
        .await
        .map_err(|e| failed(&format!("scp {what}"), e))?;
    read_ack(s, what).await
}

/// The `T` line that makes `scp -p` set a file's times.
fn times_line(meta: &std::fs::Metadata) -> String {
    format!("T{} 0 {} 0\n", meta.mtime().max(0), meta.atime().max(0))
}

/// Starts `scp ARGS` on the machine and returns the channel as a byte stream.
async fn start(
    comm: &SshCommunicator,
    args: &str,
) -> Result<russh::ChannelStream<russh::client::Msg>, CommError> {
    let ch = comm.session().await?;
    ch.exec(true, format!("scp {args}"))
        .await
        .map_err(|e| failed("starting scp", e))?;
    Ok(ch.into_stream())
}

/// Sends one file (its `T` and `C` lines, its bytes, the closing NUL) to a sink.
async fn send_file<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    local: &Path,
    name: &str,
    progress: &mut Counted<'_, ()>,
) -> Result<(), CommError> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| failed(&format!("opening {}", local.display()), e))?;
    let meta = file.metadata().await?;
    let mode = meta.permissions().mode() & 0o7777;
    send_line(s, &times_line(&meta), name).await?;
    send_line(s, &format!("C{mode:04o} {} {name}\n", meta.len()), name).await?;
    let counted = Counted {
        inner: file,
        done: progress.done,
        total: progress.total,
        progress: progress.progress,
    };
    let sent = copy_counted(counted, s).await?;
    progress.done = sent;
    s.write_all(&[0]).await?;
    s.flush().await?;
    read_ack(s, &format!("{name} after sending it")).await
}

/// Copies a counted reader into the stream; returns the new running total.
async fn copy_counted<R: AsyncRead + Unpin, S: AsyncWrite + Unpin>(
    mut from: Counted<'_, R>,
    to: &mut S,
) -> Result<u64, CommError> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(from.done);
        }
        to.write_all(&buf[..n])
            .await
            .map_err(|e| failed("sending data", e))?;
    }
}

/// Uploads one file to `dir/name` with `scp -t -p`, so its mode is the local one exactly.
pub(super) async fn upload_file(
    comm: &SshCommunicator,
    local: &Path,
    dir: &str,
    name: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let total = std::fs::metadata(local)?.len();
    let mut s = start(comm, &format!("-t -p -- {}", shell_quote(dir))).await?;
    read_ack(&mut s, "the upload").await?;
    let mut counter = Counted::totals(total, progress);
    let r = send_file(&mut s, local, name, &mut counter).await;
    let _ = s.shutdown().await;
    r
}

/// Sends a directory tree to a sink: `D` and `E` around each directory.
async fn send_tree<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    dir: &Path,
    name: &str,
    progress: &mut Counted<'_, ()>,
) -> Result<(), CommError> {
    let meta = std::fs::metadata(dir)?;
    let mode = meta.permissions().mode() & 0o7777;
    send_line(s, &times_line(&meta), name).await?;
    send_line(s, &format!("D{mode:04o} 0 {name}\n"), name).await?;
    send_children(s, dir, progress).await?;
    send_line(s, "E\n", name).await
}

/// Sends every entry of `dir` to a sink, sorted by name.
async fn send_children<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    dir: &Path,
    progress: &mut Counted<'_, ()>,
) -> Result<(), CommError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            Box::pin(send_tree(s, &path, &name, progress)).await?;
        } else if path.is_file() {
            send_file(s, &path, &name, progress).await?;
        }
    }
    Ok(())
}

/// Uploads a directory with `scp -r -t -p`: `entry` "." sends the contents of `base` into
/// `remote`, a name sends `base/name` as `remote/name`.
pub(super) async fn upload_dir(
    comm: &SshCommunicator,
    base: &Path,
    entry: &str,
    remote: &str,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let root = base.join(entry);
    let mut counter = Counted::totals(crate::files::tree_size(&root), progress);
    let mut s = start(comm, &format!("-r -t -p -- {}", shell_quote(remote))).await?;
    read_ack(&mut s, "the upload").await?;
    let r = if entry == "." {
        send_children(&mut s, &root, &mut counter).await
    } else {
        send_tree(&mut s, &root, entry, &mut counter).await
    };
    let _ = s.shutdown().await;
    r
}

/// One control line from a source.
enum Control {
    /// `T` times for the next entry.
    Times(i64, i64),
    /// `C` a file: mode, size, name.
    File(u32, u64, String),
    /// `D` a directory: mode, name.
    Dir(u32, String),
    /// `E` the end of a directory.
    End,
}

async fn read_control<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    what: &str,
) -> Result<Option<Control>, CommError> {
    let mut line = Vec::new();
    let n = r
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| failed(&format!("scp {what}"), e))?;
    if n == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line[1..]).trim_end().to_string();
    let bad = || CommError::Failed(format!("scp {what}: unexpected line {text:?}"));
    let mut fields = text.splitn(3, ' ');
    let mut next = || fields.next().ok_or_else(bad);
    Ok(Some(match line[0] {
        b'T' => {
            let mtime = next()?.parse().map_err(|_| bad())?;
            let _ = next()?;
            let atime = next()?
                .split(' ')
                .next()
                .unwrap_or("0")
                .parse()
                .map_err(|_| bad())?;
            Control::Times(mtime, atime)
        }
        b'C' | b'D' => {
            let mode = u32::from_str_radix(next()?, 8).map_err(|_| bad())?;
            let size: u64 = next()?.parse().map_err(|_| bad())?;
            let name = next()?.to_string();
            if name.contains('/') || name == ".." || name == "." {
                return Err(bad());
            }
            if line[0] == b'C' {
                Control::File(mode, size, name)
            } else {
                Control::Dir(mode, name)
            }
        }
        b'E' => Control::End,
        1 | 2 => {
            return Err(CommError::Failed(format!(
                "scp {what}: {}",
                String::from_utf8_lossy(&line[1..]).trim()
            )))
        }
        _ => return Err(bad()),
    }))
}

fn set_times(path: &Path, times: Option<(i64, i64)>) {
    if let Some((mtime, atime)) = times {
        let to = |secs: i64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        if let Ok(f) = std::fs::File::options().write(true).open(path) {
            let _ = f.set_times(
                std::fs::FileTimes::new()
                    .set_modified(to(mtime))
                    .set_accessed(to(atime)),
            );
        }
    }
}

/// Says yes to the source.
async fn ack(s: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
    s.write_all(&[0]).await?;
    s.flush().await
}

/// How [`receive`] places what arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// One file, written to `local` itself.
    File,
    /// Entries inside `local`.
    Dir,
    /// The top directory's contents inside `local` (its own name dropped).
    Contents,
}

/// Receives from `scp -f -p` (`-r` for a directory) into `local`.
async fn receive(
    comm: &SshCommunicator,
    args: &str,
    local: &Path,
    into: Placement,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    let single = into == Placement::File;
    let what = "download";
    let s = start(comm, args).await?;
    let mut s = BufReader::new(s);
    ack(s.get_mut()).await?;
    // The directories being filled, each with the mode to give it once complete (it stays
    // writable until then).
    let mut dirs: Vec<(PathBuf, Option<u32>)> = vec![(local.to_path_buf(), None)];
    let mut times = None;
    let mut done = 0u64;
    let mut received_any = false;
    while let Some(ctl) = read_control(&mut s, what).await? {
        match ctl {
            Control::Times(m, a) => times = Some((m, a)),
            Control::Dir(_, _)
                if into == Placement::Contents && dirs.len() == 1 && !received_any =>
            {
                // The top directory itself: its entries go straight into `local`.
                dirs.push((local.to_path_buf(), None));
                received_any = true;
                times = None;
            }
            Control::Dir(mode, name) => {
                let dir = dirs.last().expect("a directory").0.join(&name);
                std::fs::create_dir_all(&dir)?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o700))?;
                dirs.push((dir, Some(mode)));
                times = None;
            }
            Control::End => {
                if let Some((d, Some(mode))) = dirs.pop() {
                    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))?;
                }
                if dirs.is_empty() {
                    dirs.push((local.to_path_buf(), None));
                }
            }
            Control::File(mode, size, name) => {
                let path = if single && dirs.len() == 1 {
                    local.to_path_buf()
                } else {
                    dirs.last().expect("a directory").0.join(&name)
                };
                ack(s.get_mut()).await?;
                let tmp = path.with_extension("kiln-part");
                let mut file = tokio::fs::File::create(&tmp)
                    .await
                    .map_err(|e| failed(&format!("creating {}", path.display()), e))?;
                let mut left = size;
                let mut buf = vec![0u8; 1 << 20];
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    let n = s.read(&mut buf[..want]).await?;
                    if n == 0 {
                        let _ = tokio::fs::remove_file(&tmp).await;
                        return Err(CommError::Failed(format!(
                            "scp {what}: the connection closed inside {name}"
                        )));
                    }
                    file.write_all(&buf[..n]).await?;
                    left -= n as u64;
                    done += n as u64;
                    progress(done, if single { size } else { 0 });
                }
                file.flush().await?;
                drop(file);
                read_ack(&mut s, &name).await?;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
                tokio::fs::rename(&tmp, &path).await?;
                set_times(&path, times.take());
                received_any = true;
            }
        }
        ack(s.get_mut()).await?;
    }
    if !received_any && single {
        return Err(CommError::Failed(format!("scp {what}: nothing was sent")));
    }
    Ok(())
}

/// Downloads one file with `scp -f -p`: its mode and times come with it, and its size, so the
/// progress has a total.
pub(super) async fn download_file(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    receive(
        comm,
        &format!("-f -p -- {}", shell_quote(remote)),
        local,
        Placement::File,
        progress,
    )
    .await
    .map_err(|e| match e {
        CommError::Failed(m) => CommError::Failed(format!("downloading {remote} failed: {m}")),
        other => other,
    })
}

/// Downloads a directory with `scp -r -f -p` into `local` (as `local/NAME`, or its contents
/// into `local` when `remote` ends with `/`).
pub(super) async fn download_dir(
    comm: &SshCommunicator,
    remote: &str,
    local: &Path,
    progress: Progress<'_>,
) -> Result<(), CommError> {
    std::fs::create_dir_all(local)?;
    let into = if remote.ends_with('/') {
        Placement::Contents
    } else {
        Placement::Dir
    };
    let path = remote.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    receive(
        comm,
        &format!("-r -f -p -- {}", shell_quote(path)),
        local,
        into,
        progress,
    )
    .await
}
