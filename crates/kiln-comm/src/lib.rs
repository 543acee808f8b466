//! Communicators: how provisioners reach the machine being built.
//!
//! A [`Communicator`] runs commands and moves files. Builders create one (`ssh`, `docker`, or
//! [`NoneCommunicator`] when the template says `"communicator": "none"`) and hand it to the
//! provisioning hook.

pub mod config;
pub mod docker;
pub mod files;
pub mod keys;
mod lines;
pub mod ssh;

use async_trait::async_trait;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// Why a communicator operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CommError {
    /// The communicator cannot do this at all (e.g. `none`).
    #[error("{0}")]
    Unsupported(String),
    /// Transport or remote failure.
    #[error("{0}")]
    Failed(String),
    /// Local I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The operation was cancelled; remote processes it started were killed.
    #[error("cancelled")]
    Cancelled,
}

/// A line of output from a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// From standard output.
    Stdout(String),
    /// From standard error.
    Stderr(String),
}

/// A command to run on the machine.
pub struct RemoteCommand<'a> {
    /// The shell command line.
    pub command: &'a str,
    /// Called with every line of output as it arrives.
    pub on_output: &'a (dyn Fn(Output) + Send + Sync),
    /// Cancelling it kills the remote command (and its process group).
    pub cancel: CancellationToken,
}

/// Called as a transfer moves bytes: `(bytes done, bytes in total)`.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// A [`Progress`] that ignores the reports.
pub fn no_progress() -> Progress<'static> {
    &|_, _| {}
}

/// A byte stream to a service, opened through a communicator.
pub trait Tunnel: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Tunnel for T {}

/// How a build talks to its machine.
#[async_trait]
pub trait Communicator: Send + Sync {
    /// The communicator's type name (`ssh`, `docker`, `none`).
    fn kind(&self) -> &str;
    /// Runs a command; returns its exit status (-1 when killed by a signal or the connection
    /// dropped before a status arrived).
    async fn exec(&self, cmd: RemoteCommand<'_>) -> Result<i32, CommError>;
    /// Uploads a local file to `remote`, reporting progress.
    async fn upload(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError>;
    /// Uploads a local directory (Packer's trailing-slash rules apply to `local`: `dir/`
    /// uploads its contents into `remote`, `dir` uploads it as `remote/dir`).
    async fn upload_dir(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError>;
    /// Downloads a remote directory into the local directory `local` (`dir/`: its contents,
    /// `dir`: as `local/dir`).
    async fn download_dir(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError>;
    /// Opens a stream to `host:port` as the machine sees it (SSH's direct-tcpip), for tools
    /// that must reach a service on it through this connection.
    async fn tunnel(&self, _host: &str, _port: u16) -> Result<Box<dyn Tunnel>, CommError> {
        Err(CommError::Unsupported(format!(
            "the {} communicator cannot open tunnels",
            self.kind()
        )))
    }
    /// Downloads `remote` to a local file, reporting progress (total 0 when unknown).
    async fn download(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError>;
}

/// Runs a command without showing its output; returns the exit status.
pub async fn exec_quiet(
    comm: &dyn Communicator,
    command: &str,
    cancel: CancellationToken,
) -> Result<i32, CommError> {
    comm.exec(RemoteCommand {
        command,
        on_output: &|_| {},
        cancel,
    })
    .await
}

/// Runs a command and returns its exit status and standard output (lines joined by `\n`).
pub async fn exec_capture(
    comm: &dyn Communicator,
    command: &str,
    cancel: CancellationToken,
) -> Result<(i32, String), CommError> {
    let out = std::sync::Mutex::new(Vec::<String>::new());
    let capture = |o: Output| {
        if let Output::Stdout(l) = o {
            out.lock().expect("capture lock").push(l);
        }
    };
    let code = comm
        .exec(RemoteCommand {
            command,
            on_output: &capture,
            cancel,
        })
        .await?;
    Ok((code, out.into_inner().expect("capture lock").join("\n")))
}

/// The `none` communicator: the build has no machine to talk to.
pub struct NoneCommunicator;

fn none_error() -> CommError {
    CommError::Unsupported(
        "this build has \"communicator\": \"none\": there is no machine to run commands on or copy files to".into(),
    )
}

#[async_trait]
impl Communicator for NoneCommunicator {
    fn kind(&self) -> &str {
        "none"
    }
    async fn exec(&self, _cmd: RemoteCommand<'_>) -> Result<i32, CommError> {
        Err(none_error())
    }
    async fn upload(
        &self,
        _local: &Path,
        _remote: &str,
        _progress: Progress<'_>,
    ) -> Result<(), CommError> {
        Err(none_error())
    }
    async fn upload_dir(
        &self,
        _local: &Path,
        _remote: &str,
        _progress: Progress<'_>,
    ) -> Result<(), CommError> {
        Err(none_error())
    }
    async fn download_dir(
        &self,
        _remote: &str,
        _local: &Path,
        _progress: Progress<'_>,
    ) -> Result<(), CommError> {
        Err(none_error())
    }
    async fn download(
        &self,
        _remote: &str,
        _local: &Path,
        _progress: Progress<'_>,
    ) -> Result<(), CommError> {
        Err(none_error())
    }
}

/// A local port forwarded through a communicator's tunnels; closed when dropped.
pub struct Forward {
    /// The local port (on 127.0.0.1).
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on a free port of 127.0.0.1 and relays every connection to `host:port` as the
/// machine sees it, through `comm`.
pub async fn forward_local(
    comm: std::sync::Arc<dyn Communicator>,
    host: &str,
    port: u16,
) -> Result<Forward, CommError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let local = listener.local_addr()?.port();
    let host = host.to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let comm = comm.clone();
            let host = host.clone();
            tokio::spawn(async move {
                if let Ok(mut remote) = comm.tunnel(&host, port).await {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut remote).await;
                }
            });
        }
    });
    Ok(Forward { port: local, task })
}
