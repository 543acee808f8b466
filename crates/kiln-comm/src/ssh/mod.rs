//! The `ssh` communicator on russh: one connection per build, a channel per operation.
//!
//! Connecting is one time budget (`ssh_timeout`) with retries; a failure names the phase
//! (TCP connect, banner, key exchange, authentication) and `user@host:port`. Commands stream
//! their output line by line and are killed, with their process group, on cancellation.
//! Files go by scp (or sftp) with their modes; directories as one tar stream each way.

mod connect;
mod exec;
mod idle;
mod scp;
mod sftp;
mod transfer;

pub use connect::{cipher_name, connect, kex_name, Auth, Phase, Target};
pub use transfer::Method;

use crate::{CommError, Communicator, Progress, RemoteCommand};
use async_trait::async_trait;
use russh::client::Handle;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// An authenticated SSH connection. When the connection drops (a reboot), the next operation
/// reconnects within the same budget as the first connection.
pub struct SshCommunicator {
    handle: tokio::sync::Mutex<Arc<Handle<connect::Client>>>,
    /// The bastion this connection goes through.
    bastion: Option<Box<SshCommunicator>>,
    config: Target,
    cancel: CancellationToken,
    /// `user@host:port`, for messages.
    pub target: String,
    pty: bool,
    /// scp or sftp.
    method: Method,
    /// Whether the machine has `tar` (asked once).
    has_tar: tokio::sync::OnceCell<bool>,
}

impl SshCommunicator {
    /// Whether the machine has `tar`, for one-stream directory transfers.
    pub(crate) async fn remote_has_tar(&self) -> Result<bool, CommError> {
        self.has_tar
            .get_or_try_init(|| async {
                let mut ch = self.session().await?;
                ch.exec(true, "command -v tar >/dev/null 2>&1")
                    .await
                    .map_err(|e| failed("looking for tar", e))?;
                let (code, _) = transfer::finish(&mut ch).await;
                Ok(code == 0)
            })
            .await
            .copied()
    }

    /// The live connection, reconnecting first if it dropped.
    pub(crate) async fn current(&self) -> Result<Arc<Handle<connect::Client>>, CommError> {
        let mut h = self.handle.lock().await;
        if h.is_closed() {
            let again = Box::pin(connect::establish(
                &self.config,
                self.bastion.as_deref(),
                &self.cancel,
            ));
            *h = Arc::new(again.await?);
        }
        Ok(h.clone())
    }

    /// Opens a session channel on the live connection.
    pub(crate) async fn session(&self) -> Result<russh::Channel<russh::client::Msg>, CommError> {
        let h = self.current().await?;
        match h.channel_open_session().await {
            Ok(ch) => Ok(ch),
            Err(_) if h.is_closed() => self
                .current()
                .await?
                .channel_open_session()
                .await
                .map_err(|e| failed(&format!("opening a session on {}", self.target), e)),
            Err(e) => Err(failed(&format!("opening a session on {}", self.target), e)),
        }
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let h = self.handle.lock().await.clone();
        let _ = h
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

#[async_trait]
impl Communicator for SshCommunicator {
    fn kind(&self) -> &str {
        "ssh"
    }

    async fn exec(&self, cmd: RemoteCommand<'_>) -> Result<i32, CommError> {
        exec::run(self, cmd).await
    }

    async fn upload(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        transfer::upload_file(self, local, remote, progress).await
    }

    async fn upload_dir(
        &self,
        local: &Path,
        remote: &str,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        transfer::upload_dir(self, local, remote, progress).await
    }

    async fn download_dir(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        transfer::download_dir(self, remote, local, progress).await
    }

    async fn tunnel(&self, host: &str, port: u16) -> Result<Box<dyn crate::Tunnel>, CommError> {
        let ch = self
            .current()
            .await?
            .channel_open_direct_tcpip(host.to_string(), port as u32, "127.0.0.1", 0)
            .await
            .map_err(|e| {
                failed(
                    &format!("tunnel to {host}:{port} through {}", self.target),
                    e,
                )
            })?;
        Ok(Box::new(ch.into_stream()))
    }

    async fn download(
        &self,
        remote: &str,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<(), CommError> {
        transfer::download(self, remote, local, progress).await
    }
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn failed(what: &str, e: impl std::fmt::Display) -> CommError {
    CommError::Failed(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(shell_quote("/tmp/a-b_c.sh"), "/tmp/a-b_c.sh");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(shell_quote(""), "''");
    }
}
