//! The `ssh` communicator on russh: one connection per build, a channel per operation.
//!
//! Connecting is one time budget (`ssh_timeout`) with retries; a failure names the phase
//! (TCP connect, banner, key exchange, authentication) and `user@host:port`. Commands stream
//! their output line by line and are killed, with their process group, on cancellation.
//! Directories are uploaded as one tar stream.

mod connect;
mod exec;
mod transfer;

pub use connect::{cipher_name, connect, kex_name, Auth, Phase, Target};

use crate::{CommError, Communicator, RemoteCommand};
use async_trait::async_trait;
use russh::client::Handle;
use std::path::Path;

/// An authenticated SSH connection.
pub struct SshCommunicator {
    handle: Handle<connect::Client>,
    /// Keeps the bastion connection alive while this one is in use.
    _bastion: Option<Box<SshCommunicator>>,
    /// `user@host:port`, for messages.
    pub target: String,
    pty: bool,
}

impl SshCommunicator {
    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self
            .handle
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

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), CommError> {
        transfer::upload_file(self, local, remote).await
    }

    async fn upload_dir(&self, local: &Path, remote: &str) -> Result<(), CommError> {
        transfer::upload_dir(self, local, remote).await
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<(), CommError> {
        transfer::download(self, remote, local).await
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
