//! The `docker` communicator: commands through `docker exec`, files through `docker cp` with a
//! tar stream each way (a directory is one stream, not a copy per file), as Packer's docker
//! builder does, with two differences: a cancelled command is killed inside the container
//! (Packer leaves it running there), and directories download too.

use crate::{CommError, Output, Progress, RemoteCommand};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The variable every command runs with, holding a value of its own, so that the processes it
/// started can be found and killed when it is cancelled.
const MARKER_VAR: &str = "KILN_EXEC";

/// Talks to one container through the docker CLI (which follows `DOCKER_HOST` and
/// `DOCKER_CONTEXT`).
pub struct DockerCommunicator {
    /// The container's id.
    pub container: String,
    /// `exec_user`: who runs commands (empty: the container's own user).
    pub exec_user: String,
    /// `pty`: commands get a terminal.
    pub pty: bool,
    /// `fix_upload_owner`: uploads are handed to the container's user (Packer's default).
    pub fix_upload_owner: bool,
    /// The container's configured user (`docker inspect`'s `.Config.User`; empty: root).
    pub container_user: String,
}

/// The variables that choose the Docker daemon the CLI talks to: a journal records them, so
/// that `kiln cleanup` reaches the daemon the build used.
pub const DAEMON_VARS: [&str; 2] = ["DOCKER_HOST", "DOCKER_CONTEXT"];

/// A `docker …` command with its output captured.
pub async fn docker(args: &[&str]) -> Result<String, CommError> {
    docker_at(&[], args).await
}

/// [`docker`] with `env` set for it (a daemon's [`DAEMON_VARS`]).
pub async fn docker_at(env: &[(String, String)], args: &[&str]) -> Result<String, CommError> {
    let out = Command::new("docker")
        .args(args)
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(cannot_run)?;
    if !out.status.success() {
        // The command's name: its words before the first flag (`docker image inspect`).
        let name: Vec<&str> = args
            .iter()
            .take_while(|a| !a.starts_with('-'))
            .take(2)
            .copied()
            .collect();
        return Err(CommError::Failed(format!(
            "docker {} failed: {}",
            name.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A `docker login` in force; [`Login::logout`] ends it. The CLI keeps one set of
/// credentials per server for every process of the user, so logins are taken one at a time
/// (Packer's driver does the same): a second build's login waits for the first's logout.
pub struct Login {
    server: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Logs in to `server` (empty: Docker Hub), the password on standard input, never on a
/// command line.
pub async fn login(server: &str, user: &str, password: &str) -> Result<Login, CommError> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let mut args = vec!["login"];
    if !user.is_empty() {
        args.extend(["-u", user]);
    }
    if !password.is_empty() {
        args.push("--password-stdin");
    }
    if !server.is_empty() {
        args.push(server);
    }
    let mut child = spawn(&args, Stdio::piped(), Stdio::piped())?;
    let mut stdin = child.stdin.take().expect("piped");
    // A login that fails before reading the password closes the pipe: its own words say why.
    let _ = stdin.write_all(password.as_bytes()).await;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(CommError::Failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(Login {
        server: server.to_string(),
        _turn: turn,
    })
}

impl Login {
    /// `docker logout` of the server logged in to.
    pub async fn logout(self) -> Result<(), CommError> {
        let mut args = vec!["logout"];
        if !self.server.is_empty() {
            args.push(&self.server);
        }
        docker(&args).await.map(drop)
    }
}

/// Writes what `docker ARGS` prints (`export`, `save`: a tar stream) to `dest`, through a file
/// beside it that is renamed onto it when the command succeeds: a failed or cancelled one
/// leaves no partial file under the destination's name.
pub async fn docker_to_file(
    args: &[&str],
    dest: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), CommError> {
    let partial = dest.with_file_name(format!(
        ".{}.kiln-partial",
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    let file = std::fs::File::create(&partial)?;
    let result = async {
        let child = spawn(args, Stdio::null(), Stdio::from(file))?;
        let out = tokio::select! {
            out = child.wait_with_output() => out?,
            _ = cancel.cancelled() => return Err(CommError::Cancelled),
        };
        if !out.status.success() {
            return Err(CommError::Failed(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        std::fs::rename(&partial, dest)?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Starts `docker ARGS` with its stderr piped (for its error), killed if dropped.
fn spawn(args: &[&str], stdin: Stdio, stdout: Stdio) -> Result<tokio::process::Child, CommError> {
    Command::new("docker")
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(cannot_run)
}

/// The error for a docker CLI that could not be started.
fn cannot_run(e: std::io::Error) -> CommError {
    if e.kind() == std::io::ErrorKind::NotFound {
        CommError::Failed("the docker command was not found: install Docker's CLI".into())
    } else {
        CommError::Failed(format!("cannot run docker: {e}"))
    }
}

impl DockerCommunicator {
    /// `docker exec` arguments for a command run as `user` (empty: the container's user).
    fn exec_args(&self, user: &str, marker: Option<&str>, command: &str) -> Vec<String> {
        let mut a = vec!["exec".to_string(), "-i".to_string()];
        if self.pty {
            a.push("-t".into());
        }
        if !user.is_empty() {
            a.extend(["-u".into(), user.to_string()]);
        }
        if let Some(m) = marker {
            a.extend(["-e".into(), format!("{MARKER_VAR}={m}")]);
        }
        a.extend([
            self.container.clone(),
            "/bin/sh".into(),
            "-c".into(),
            command.to_string(),
        ]);
        a
    }

    /// Runs a helper command as root in the container (mkdir, chown, the killer); its stderr
    /// on failure.
    async fn root_sh(&self, what: &str, command: &str) -> Result<(), CommError> {
        docker(&[
            "exec",
            "-u",
            "root",
            &self.container,
            "/bin/sh",
            "-c",
            command,
        ])
        .await
        .map(drop)
        .map_err(|e| CommError::Failed(format!("{what}: {e}")))
    }

    /// Kills, inside the container, every process a cancelled command started (they carry
    /// its marker in their environment).
    async fn kill_marked(&self, marker: &str) {
        let script = format!(
            "for p in /proc/[0-9]*; do grep -qa '{MARKER_VAR}={marker}' \"$p/environ\" 2>/dev/null && kill -9 \"${{p#/proc/}}\" 2>/dev/null; done; true"
        );
        let _ = self.root_sh("killing the cancelled command", &script).await;
    }

    /// Packer's `fix_upload_owner`: what was uploaded goes to the container's user.
    async fn fix_owner(&self, remote: &str) -> Result<(), CommError> {
        if !self.fix_upload_owner {
            return Ok(());
        }
        let owner = if self.container_user.is_empty() {
            "root"
        } else {
            self.container_user.as_str()
        };
        self.root_sh(
            "setting the owner of the upload",
            &format!(
                "chown -R {} {}",
                crate::ssh::shell_quote(owner),
                crate::ssh::shell_quote(remote)
            ),
        )
        .await
    }

    /// `mkdir -p` in the container.
    async fn mkdir_p(&self, dir: &str) -> Result<(), CommError> {
        self.root_sh(
            &format!("creating {dir}"),
            &format!("mkdir -p -- {}", crate::ssh::shell_quote(dir)),
        )
        .await
    }

    /// `docker cp - CONTAINER:dir` fed from `tar`: the archive unpacks into `dir`.
    async fn cp_in(
        &self,
        dir: &str,
        tar: impl AsyncRead + Unpin,
        total: u64,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        let target = format!("{}:{dir}", self.container);
        let mut child = spawn(&["cp", "-", &target], Stdio::piped(), Stdio::null())?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut counted = crate::files::Counted {
            inner: tar,
            done: 0,
            total,
            progress,
        };
        let sent = tokio::io::copy(&mut counted, &mut stdin).await;
        drop(stdin);
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            return Err(CommError::Failed(format!(
                "copying into {}:{dir} failed: {}",
                self.container,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        sent?;
        Ok(())
    }

    /// `docker cp CONTAINER:remote -` into a local `tar -x` in `into` (`strip`: drop the
    /// archive's top directory, to take a directory's contents).
    async fn cp_out(
        &self,
        remote: &str,
        into: &Path,
        strip: bool,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        std::fs::create_dir_all(into)?;
        let source = format!("{}:{remote}", self.container);
        let mut cp = spawn(&["cp", &source, "-"], Stdio::null(), Stdio::piped())?;
        let mut tar = Command::new("tar");
        tar.arg("-C")
            .arg(into)
            .args(["-xpf", "-", "--no-same-owner"]);
        if strip {
            tar.arg("--strip-components=1");
        }
        let mut tar = tar
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CommError::Failed(format!("running local tar: {e}")))?;
        let mut from = cp.stdout.take().expect("piped");
        let mut to = tar.stdin.take().expect("piped");
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        let mut write_err = None;
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if write_err.is_none() {
                write_err = to.write_all(&buf[..n]).await.err();
            }
            done += n as u64;
            progress(done, 0);
        }
        drop(to);
        let cp_out = cp.wait_with_output().await?;
        let tar_out = tar.wait_with_output().await?;
        if !cp_out.status.success() {
            return Err(CommError::Failed(format!(
                "copying {}:{remote} failed: {}",
                self.container,
                String::from_utf8_lossy(&cp_out.stderr).trim()
            )));
        }
        if !tar_out.status.success() || write_err.is_some() {
            return Err(CommError::Failed(format!(
                "unpacking {remote} into {} failed: {}",
                into.display(),
                String::from_utf8_lossy(&tar_out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// The tar header (with a GNU long-name entry before it when the name needs one) for one
/// regular file of `size` bytes and `mode`, named `name`.
fn file_header(name: &str, size: u64, mode: u32, mtime: u64) -> Result<Vec<u8>, CommError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode & 0o7777);
    h.set_mtime(mtime);
    let mut b = tar::Builder::new(Vec::new());
    // No data: the content is streamed after the header, and padded by `upload`.
    b.append_data(&mut h, name, std::io::empty())?;
    // into_inner ends the archive with its two zero blocks: the stream ends it later.
    let mut bytes = b.into_inner()?;
    bytes.truncate(bytes.len() - 1024);
    Ok(bytes)
}

#[async_trait]
impl crate::Communicator for DockerCommunicator {
    fn kind(&self) -> &str {
        "docker"
    }

    async fn exec(&self, cmd: RemoteCommand<'_>) -> Result<i32, CommError> {
        let marker = uuid::Uuid::new_v4().simple().to_string();
        // Packer's form: the command in a subshell of /bin/sh -c.
        let args = self.exec_args(
            &self.exec_user,
            Some(&marker),
            &format!("({})", cmd.command),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = spawn(&args, Stdio::null(), Stdio::piped())?;
        let out = crate::lines::each_line(child.stdout.take().expect("piped"), |l| {
            (cmd.on_output)(Output::Stdout(l))
        });
        let err = crate::lines::each_line(child.stderr.take().expect("piped"), |l| {
            (cmd.on_output)(Output::Stderr(l))
        });
        let run = async {
            let (_, _, status) = tokio::join!(out, err, child.wait());
            status
        };
        tokio::select! {
            status = run => Ok(status?.code().unwrap_or(-1)),
            _ = cmd.cancel.cancelled() => {
                self.kill_marked(&marker).await;
                Err(CommError::Cancelled)
            }
        }
    }

    async fn upload(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        let (dir, name) = crate::files::split_remote(remote, local);
        if remote.ends_with('/') {
            self.mkdir_p(&dir).await?;
        }
        let file = tokio::fs::File::open(local).await?;
        let meta = file.metadata().await?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        use std::os::unix::fs::PermissionsExt;
        let header = file_header(&name, meta.len(), meta.permissions().mode(), mtime)?;
        let pad = (512 - meta.len() % 512) % 512;
        let trailer = vec![0u8; pad as usize + 1024];
        let stream = std::io::Cursor::new(header)
            .chain(file.take(meta.len()))
            .chain(std::io::Cursor::new(trailer));
        self.cp_in(&dir, stream, meta.len(), progress).await?;
        let full = if dir.ends_with('/') {
            format!("{dir}{name}")
        } else {
            format!("{dir}/{name}")
        };
        self.fix_owner(&full).await
    }

    async fn upload_dir(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        let (base, entry) = crate::files::split_local_dir(local)?;
        self.mkdir_p(remote).await?;
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&base)
            .args(["-cf", "-", "--", &entry])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CommError::Failed(format!("running local tar: {e}")))?;
        let stdout = tar.stdout.take().expect("piped");
        let total = crate::files::tree_size(&base.join(&entry));
        let sent = self.cp_in(remote, stdout, total, progress).await;
        let local_status = tar.wait_with_output().await?;
        if !local_status.status.success() {
            return Err(CommError::Failed(format!(
                "local tar of {} failed: {}",
                base.join(&entry).display(),
                String::from_utf8_lossy(&local_status.stderr).trim()
            )));
        }
        sent?;
        self.fix_owner(remote).await
    }

    async fn download_dir(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        let trimmed = remote.trim_end_matches('/');
        let source = if trimmed.is_empty() { "/" } else { trimmed };
        self.cp_out(source, local, remote.ends_with('/'), progress)
            .await
    }

    async fn download(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        // Unpacked beside the destination, then renamed onto it: a failed copy leaves no
        // partial file under the destination's name.
        let parent = match local.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)?;
        let staging = parent.join(format!(".kiln-download-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            self.cp_out(remote, &staging, false, progress).await?;
            let name = Path::new(remote.trim_end_matches('/'))
                .file_name()
                .ok_or_else(|| CommError::Failed(format!("cannot download {remote}")))?;
            let got = staging.join(name);
            if !got.is_file() {
                return Err(CommError::Failed(format!(
                    "{remote} in the container is not a file"
                )));
            }
            std::fs::rename(&got, local)?;
            Ok(())
        }
        .await;
        let _ = std::fs::remove_dir_all(&staging);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_arguments_are_packers() {
        let c = DockerCommunicator {
            container: "abc".into(),
            exec_user: String::new(),
            pty: false,
            fix_upload_owner: true,
            container_user: String::new(),
        };
        assert_eq!(
            c.exec_args("", None, "(echo hi)"),
            ["exec", "-i", "abc", "/bin/sh", "-c", "(echo hi)"]
        );
        let c = DockerCommunicator { pty: true, ..c };
        assert_eq!(
            c.exec_args("app", Some("m"), "(x)"),
            [
                "exec",
                "-i",
                "-t",
                "-u",
                "app",
                "-e",
                "KILN_EXEC=m",
                "abc",
                "/bin/sh",
                "-c",
                "(x)"
            ]
        );
    }

    #[test]
    fn file_headers_carry_long_names() {
        let long = "d".repeat(150);
        let h = file_header(&long, 10, 0o755, 0).unwrap();
        // A GNU long-name entry (header + name padded to a block), then the file's header.
        assert_eq!(h.len(), 512 * 3);
        let mut a = tar::Archive::new(
            [h, b"0123456789".to_vec(), vec![0u8; 502 + 1024]]
                .concat()
                .as_slice(),
        )
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mode().unwrap(),
                e.size(),
            )
        })
        .collect::<Vec<_>>();
        assert_eq!(a.pop(), Some((long, 0o755, 10)));
        assert!(a.is_empty());
    }
}
