//! What every communicator's file transfer shares: Packer's path rules for uploads and
//! downloads, and progress counting.

use crate::{CommError, Progress};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Splits a remote path into directory and file name, as scp wants them.
pub fn split_remote(remote: &str, local: &Path) -> (String, String) {
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

/// Counts bytes read through it and reports them.
pub struct Counted<'a, R> {
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
pub fn tree_size(dir: &Path) -> u64 {
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

/// Packer's rules: `src/` uploads the contents of src into `remote`; `src` uploads the
/// directory itself, as `remote/src`.
pub fn split_local_dir(local: &Path) -> Result<(std::path::PathBuf, String), CommError> {
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
