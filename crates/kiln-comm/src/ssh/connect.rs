//! Connecting: TCP, banner, key exchange, authentication, inside one time budget.

use super::SshCommunicator;
use crate::config::CommConfig;
use crate::CommError;
use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How to authenticate.
#[derive(Clone, Default)]
pub struct Auth {
    /// Private key (OpenSSH or PEM text).
    pub private_key: Option<String>,
    /// Where the key came from, for messages.
    pub key_source: String,
    /// Password.
    pub password: Option<String>,
}

/// Everything needed to reach one SSH server.
#[derive(Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User.
    pub username: String,
    /// Credentials.
    pub auth: Auth,
    /// Request a PTY for commands.
    pub pty: bool,
    /// The whole budget for connecting.
    pub timeout: Duration,
    /// Handshake/authentication attempts within the budget.
    pub handshake_attempts: u32,
    /// Keep-alive interval.
    pub keep_alive: Option<Duration>,
    /// Reach the target through this host.
    pub bastion: Option<Box<Target>>,
}

impl Target {
    /// `user@host:port`.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.username, self.host, self.port)
    }

    /// Builds the target from Packer options; `host` overrides `ssh_host` (builders that know
    /// the address), `key` is key material the builder generated.
    pub fn from_config(
        cfg: &CommConfig,
        host: &str,
        key: Option<(String, String)>,
    ) -> Result<Target, CommError> {
        let read_key = |path: &str| -> Result<Option<String>, CommError> {
            if path.is_empty() {
                return Ok(None);
            }
            std::fs::read_to_string(path)
                .map(Some)
                .map_err(|e| CommError::Failed(format!("reading private key {path}: {e}")))
        };
        let mut auth = Auth {
            password: (!cfg.ssh_password.is_empty()).then(|| cfg.ssh_password.clone()),
            ..Default::default()
        };
        if let Some(k) = read_key(&cfg.ssh_private_key_file)? {
            auth.private_key = Some(k);
            auth.key_source = cfg.ssh_private_key_file.clone();
        } else if let Some((k, source)) = key {
            auth.private_key = Some(k);
            auth.key_source = source;
        }
        let bastion = if cfg.ssh_bastion_host.is_empty() {
            None
        } else {
            Some(Box::new(Target {
                host: cfg.ssh_bastion_host.clone(),
                port: cfg.ssh_bastion_port.unwrap_or(22),
                username: cfg.ssh_bastion_username.clone(),
                auth: Auth {
                    private_key: read_key(&cfg.ssh_bastion_private_key_file)?,
                    key_source: cfg.ssh_bastion_private_key_file.clone(),
                    password: (!cfg.ssh_bastion_password.is_empty())
                        .then(|| cfg.ssh_bastion_password.clone()),
                },
                pty: false,
                timeout: cfg.timeout(),
                handshake_attempts: cfg.handshake_attempts(),
                keep_alive: cfg.keep_alive().ok().flatten(),
                bastion: None,
            }))
        };
        Ok(Target {
            host: if host.is_empty() {
                cfg.ssh_host.clone()
            } else {
                host.to_string()
            },
            port: cfg.port(),
            username: cfg.ssh_username.clone(),
            auth,
            pty: cfg.ssh_pty,
            timeout: cfg.timeout(),
            handshake_attempts: cfg.handshake_attempts(),
            keep_alive: cfg.keep_alive().ok().flatten(),
            bastion,
        })
    }
}

/// The connection phase a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the TCP connection (or the bastion's forwarded channel).
    TcpConnect,
    /// Waiting for the server's `SSH-2.0-…` identification.
    Banner,
    /// Negotiating algorithms and keys.
    KeyExchange,
    /// Logging in.
    Authentication,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::TcpConnect => "TCP connect",
            Phase::Banner => "SSH banner",
            Phase::KeyExchange => "key exchange",
            Phase::Authentication => "authentication",
        })
    }
}

struct AttemptError {
    phase: Phase,
    message: String,
}

/// The russh event handler: accepts the host key (as Packer does) and records when the key
/// exchange completed, to tell key-exchange failures from authentication failures.
pub struct Client {
    kex_done: Arc<AtomicBool>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        _names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.kex_done.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// How long one handshake may take before the attempt counts as failed.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(20);

/// Connects and authenticates within `target.timeout`, retrying with backoff. Cancelling
/// stops at once.
pub async fn connect(
    target: &Target,
    cancel: &CancellationToken,
) -> Result<SshCommunicator, CommError> {
    let start = Instant::now();
    let deadline = start + target.timeout;
    let bastion = match &target.bastion {
        Some(b) => Some(Box::pin(connect(b, cancel)).await.map_err(|e| {
            CommError::Failed(format!("connecting to bastion {}: {e}", b.describe()))
        })?),
        None => None,
    };
    let mut handshake_failures = 0;
    let mut delay = Duration::from_millis(200);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = attempt(target, bastion.as_ref(), remaining);
        let result = tokio::select! {
            r = attempt => r,
            _ = cancel.cancelled() => return Err(CommError::Cancelled),
        };
        let err = match result {
            Ok(handle) => {
                return Ok(SshCommunicator {
                    handle,
                    _bastion: bastion.map(Box::new),
                    target: target.describe(),
                    pty: target.pty,
                })
            }
            Err(e) => e,
        };
        if err.phase != Phase::TcpConnect {
            handshake_failures += 1;
        }
        // TCP failures are retried until the budget runs out (the machine may still be
        // booting); handshake and authentication failures at most `handshake_attempts` times.
        let give_up = handshake_failures >= target.handshake_attempts.max(1);
        let now = Instant::now();
        if give_up || now + delay >= deadline {
            return Err(CommError::Failed(format!(
                "SSH to {} failed in phase \"{}\" after {:.1}s ({} attempt(s) beyond TCP): {}",
                target.describe(),
                err.phase,
                now.duration_since(start).as_secs_f64(),
                handshake_failures,
                err.message
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(CommError::Cancelled),
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn client_config(target: &Target) -> Arc<client::Config> {
    Arc::new(client::Config {
        keepalive_interval: target.keep_alive,
        keepalive_max: 6,
        nodelay: true,
        window_size: 16 * 1024 * 1024,
        ..Default::default()
    })
}

async fn attempt(
    target: &Target,
    bastion: Option<&SshCommunicator>,
    remaining: Duration,
) -> Result<Handle<Client>, AttemptError> {
    let fail = |phase, message: String| AttemptError { phase, message };
    let limit = remaining
        .min(HANDSHAKE_LIMIT)
        .max(Duration::from_millis(100));
    let kex_done = Arc::new(AtomicBool::new(false));
    let handler = Client {
        kex_done: kex_done.clone(),
    };
    let config = client_config(target);
    let mut handle = match bastion {
        None => {
            let mut stream = tokio::time::timeout(
                limit,
                TcpStream::connect((target.host.as_str(), target.port)),
            )
            .await
            .map_err(|_| fail(Phase::TcpConnect, format!("no answer within {limit:?}")))?
            .map_err(|e| fail(Phase::TcpConnect, e.to_string()))?;
            let _ = stream.set_nodelay(true);
            wait_for_banner(&mut stream, limit).await?;
            tokio::time::timeout(limit, client::connect_stream(config, stream, handler))
                .await
                .map_err(|_| fail(Phase::KeyExchange, "timed out".into()))?
                .map_err(|e| fail(Phase::KeyExchange, e.to_string()))?
        }
        Some(b) => {
            let channel = b
                .handle
                .channel_open_direct_tcpip(target.host.clone(), target.port as u32, "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    fail(
                        Phase::TcpConnect,
                        format!("through bastion {}: {e}", b.target),
                    )
                })?;
            tokio::time::timeout(
                limit,
                client::connect_stream(config, channel.into_stream(), handler),
            )
            .await
            .map_err(|_| fail(Phase::Banner, "timed out".into()))?
            .map_err(|e| fail(Phase::KeyExchange, e.to_string()))?
        }
    };
    let phase_of = |kex: &AtomicBool| {
        if kex.load(Ordering::SeqCst) {
            Phase::Authentication
        } else {
            Phase::KeyExchange
        }
    };
    let mut tried = Vec::new();
    if let Some(pem) = &target.auth.private_key {
        let key = PrivateKey::from_openssh(pem)
            .or_else(|_| russh::keys::decode_secret_key(pem, None))
            .map_err(|e| {
                fail(
                    Phase::Authentication,
                    format!("cannot read private key {}: {e}", target.auth.key_source),
                )
            })?;
        let hash = tokio::time::timeout(limit, handle.best_supported_rsa_hash())
            .await
            .map_err(|_| fail(phase_of(&kex_done), "timed out".into()))?
            .map_err(|e| fail(phase_of(&kex_done), e.to_string()))?
            .flatten();
        let r = tokio::time::timeout(
            limit,
            handle.authenticate_publickey(
                target.username.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            ),
        )
        .await
        .map_err(|_| fail(phase_of(&kex_done), "timed out".into()))?
        .map_err(|e| fail(phase_of(&kex_done), e.to_string()))?;
        if r.success() {
            return Ok(handle);
        }
        tried.push(format!("publickey ({})", target.auth.key_source));
    }
    if let Some(pw) = &target.auth.password {
        let r = tokio::time::timeout(
            limit,
            handle.authenticate_password(target.username.clone(), pw.clone()),
        )
        .await
        .map_err(|_| fail(phase_of(&kex_done), "timed out".into()))?
        .map_err(|e| fail(phase_of(&kex_done), e.to_string()))?;
        if r.success() {
            return Ok(handle);
        }
        tried.push("password".into());
    }
    if tried.is_empty() {
        return Err(fail(
            Phase::Authentication,
            "no credentials: set ssh_private_key_file or ssh_password".into(),
        ));
    }
    Err(fail(
        Phase::Authentication,
        format!(
            "the server refused {} for user \"{}\"",
            tried.join(" and "),
            target.username
        ),
    ))
}

/// Waits until the server has sent its identification line (without consuming it).
async fn wait_for_banner(stream: &mut TcpStream, limit: Duration) -> Result<(), AttemptError> {
    let mut buf = [0u8; 256];
    let fail = |m: String| AttemptError {
        phase: Phase::Banner,
        message: m,
    };
    let seen = tokio::time::timeout(limit, async {
        loop {
            let n = stream.peek(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the server identified itself",
                ));
            }
            if buf[..n].contains(&b'\n') || n == buf.len() {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|_| fail(format!("no SSH identification within {limit:?}")))?
    .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&buf[..seen]);
    if !text.lines().any(|l| l.starts_with("SSH-")) {
        return Err(fail(format!(
            "the server did not identify as SSH (sent {:?})",
            text.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}
