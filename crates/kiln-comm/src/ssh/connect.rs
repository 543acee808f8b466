//! Connecting: TCP, banner, key exchange, authentication, inside one time budget.

use super::idle::IdleLimit;
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
    /// Try the keys of the ssh-agent at `SSH_AUTH_SOCK`.
    pub agent: bool,
    /// OpenSSH certificate file for the private key.
    pub certificate_file: Option<String>,
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
    /// Allowed ciphers, most preferred first (empty: russh's defaults).
    pub ciphers: Vec<String>,
    /// Allowed key exchange algorithms (empty: russh's defaults).
    pub kex: Vec<String>,
    /// How files move.
    pub transfer: super::Method,
    /// A read or write stalled this long means the connection is dead.
    pub read_write_timeout: Option<Duration>,
    /// Forward the local ssh-agent to commands (Packer's default, unless
    /// `ssh_disable_agent_forwarding`).
    pub agent_forwarding: bool,
    /// Set when the read/write limit ended the connection.
    pub tripped: super::idle::Tripped,
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
            agent: cfg.ssh_agent_auth,
            certificate_file: (!cfg.ssh_certificate_file.is_empty())
                .then(|| cfg.ssh_certificate_file.clone()),
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
                    agent: cfg.ssh_bastion_agent_auth,
                    certificate_file: (!cfg.ssh_bastion_certificate_file.is_empty())
                        .then(|| cfg.ssh_bastion_certificate_file.clone()),
                },
                pty: false,
                timeout: cfg.timeout(),
                handshake_attempts: cfg.handshake_attempts(),
                keep_alive: cfg.keep_alive().ok().flatten(),
                bastion: None,
                ciphers: vec![],
                kex: vec![],
                transfer: super::Method::Scp,
                read_write_timeout: Some(cfg.ssh_read_write_timeout.0).filter(|d| !d.is_zero()),
                agent_forwarding: false,
                tripped: Default::default(),
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
            ciphers: cfg.ssh_ciphers.clone(),
            kex: cfg.ssh_key_exchange_algorithms.clone(),
            read_write_timeout: Some(cfg.ssh_read_write_timeout.0).filter(|d| !d.is_zero()),
            agent_forwarding: !cfg.ssh_disable_agent_forwarding,
            tripped: Default::default(),
            transfer: if cfg.ssh_file_transfer_method == "sftp" {
                super::Method::Sftp
            } else {
                super::Method::Scp
            },
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

/// The russh event handler: accepts the host key (as Packer does), records when the key
/// exchange completed (to tell key-exchange failures from authentication failures), and
/// serves forwarded agent channels from the local agent.
pub struct Client {
    kex_done: Arc<AtomicBool>,
    /// The local agent's socket, when agent forwarding is on.
    agent: Option<std::path::PathBuf>,
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

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let Some(socket) = self.agent.clone() else {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        // Each forwarded channel is one agent conversation, relayed to the local agent.
        tokio::spawn(async move {
            if let Ok(mut agent) = tokio::net::UnixStream::connect(socket).await {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
            }
        });
        Ok(())
    }
}

/// The local agent to forward to the machine: `SSH_AUTH_SOCK`, unless forwarding is off.
pub(super) fn forwarded_agent(target: &Target) -> Option<std::path::PathBuf> {
    if !target.agent_forwarding {
        return None;
    }
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from)
}

/// How long one handshake may take before the attempt counts as failed.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(20);

/// How long one TCP connect may wait for an answer. A machine that is still booting drops
/// the SYNs, and the kernel sends its next one 1, 3, 7, 15 s after the first: a fresh
/// attempt every 2 s reaches sshd about a second after it listens.
const TCP_CONNECT_LIMIT: Duration = Duration::from_secs(2);

/// The pause after a failed attempt before the next: 200 ms at first, doubling up to 1 s.
/// Only SSH's own attempts wait it (no API is asked), so the cap is what a booting machine's
/// sshd waits for kiln, at most, once it listens; Packer waits 5 s between attempts.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(200)
        .saturating_mul(1 << attempt.min(8))
        .min(Duration::from_secs(1))
}

/// Connects and authenticates within `target.timeout`, retrying with backoff. Cancelling
/// stops at once.
pub async fn connect(
    target: &Target,
    cancel: &CancellationToken,
) -> Result<SshCommunicator, CommError> {
    connect_by(target, Instant::now() + target.timeout, cancel).await
}

/// [`connect`] with the budget ending at `deadline`: the bastion and the target share one
/// budget, so a slow bastion leaves less time for the target, never more in all.
async fn connect_by(
    target: &Target,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<SshCommunicator, CommError> {
    let bastion = match &target.bastion {
        Some(b) => Some(
            Box::pin(connect_by(b, deadline, cancel))
                .await
                .map_err(|e| {
                    CommError::Failed(format!("connecting to bastion {}: {e}", b.describe()))
                })?,
        ),
        None => None,
    };
    let handle = establish_by(target, bastion.as_ref(), deadline, cancel).await?;
    Ok(SshCommunicator {
        handle: tokio::sync::Mutex::new(Arc::new(handle)),
        bastion: bastion.map(Box::new),
        config: target.clone(),
        cancel: cancel.clone(),
        target: target.describe(),
        pty: target.pty,
        method: target.transfer,
        has_tar: tokio::sync::OnceCell::new(),
    })
}

/// The retry loop: one authenticated connection within a fresh budget (reconnections).
pub(super) async fn establish(
    target: &Target,
    bastion: Option<&SshCommunicator>,
    cancel: &CancellationToken,
) -> Result<Handle<Client>, CommError> {
    establish_by(target, bastion, Instant::now() + target.timeout, cancel).await
}

/// The retry loop: one authenticated connection before `deadline`.
async fn establish_by(
    target: &Target,
    bastion: Option<&SshCommunicator>,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Handle<Client>, CommError> {
    let start = Instant::now();
    let mut handshake_failures = 0;
    let mut failures = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = attempt(target, bastion, remaining);
        let result = tokio::select! {
            r = attempt => r,
            _ = cancel.cancelled() => return Err(CommError::Cancelled),
        };
        let err = match result {
            Ok(handle) => return Ok(handle),
            Err(e) => e,
        };
        if err.phase != Phase::TcpConnect {
            handshake_failures += 1;
        }
        // TCP failures are retried until the budget runs out (the machine may still be
        // booting); handshake and authentication failures at most `handshake_attempts` times.
        let give_up = handshake_failures >= target.handshake_attempts.max(1);
        let now = Instant::now();
        let delay = retry_delay(failures);
        failures += 1;
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
    }
}

/// The russh cipher for an OpenSSH name.
pub fn cipher_name(name: &str) -> Option<russh::cipher::Name> {
    russh::cipher::Name::try_from(name).ok()
}

/// The russh key exchange algorithm for an OpenSSH name.
pub fn kex_name(name: &str) -> Option<russh::kex::Name> {
    russh::kex::Name::try_from(name).ok()
}

fn client_config(target: &Target) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    // AES-GCM first: with AES instructions it is several times faster than ChaCha20 for bulk
    // transfers; every OpenSSH since 6.2 offers it.
    let mut ciphers: Vec<russh::cipher::Name> =
        vec![russh::cipher::AES_128_GCM, russh::cipher::AES_256_GCM];
    ciphers.extend(
        preferred
            .cipher
            .iter()
            .filter(|c| !ciphers.contains(c))
            .cloned()
            .collect::<Vec<_>>(),
    );
    preferred.cipher = ciphers.into();
    if !target.ciphers.is_empty() {
        let list: Vec<_> = target
            .ciphers
            .iter()
            .filter_map(|c| cipher_name(c))
            .collect();
        preferred.cipher = list.into();
    }
    if !target.kex.is_empty() {
        let mut list: Vec<_> = target.kex.iter().filter_map(|k| kex_name(k)).collect();
        // The extension-negotiation marker keeps rsa-sha2 signatures working.
        list.push(russh::kex::EXTENSION_SUPPORT_AS_CLIENT);
        preferred.kex = list.into();
    }
    Arc::new(client::Config {
        keepalive_interval: target.keep_alive,
        keepalive_max: 6,
        nodelay: true,
        window_size: 16 * 1024 * 1024,
        maximum_packet_size: 65535,
        preferred,
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
        agent: forwarded_agent(target),
    };
    let config = client_config(target);
    let mut handle = match bastion {
        None => {
            let connect_limit = limit.min(TCP_CONNECT_LIMIT);
            let mut stream = tokio::time::timeout(
                connect_limit,
                TcpStream::connect((target.host.as_str(), target.port)),
            )
            .await
            .map_err(|_| {
                fail(
                    Phase::TcpConnect,
                    format!("no answer within {connect_limit:?}"),
                )
            })?
            .map_err(|e| fail(Phase::TcpConnect, e.to_string()))?;
            let _ = stream.set_nodelay(true);
            wait_for_banner(&mut stream, limit).await?;
            let handshake = match target.read_write_timeout {
                Some(idle) => {
                    tokio::time::timeout(
                        limit,
                        client::connect_stream(
                            config,
                            IdleLimit::new(stream, idle, target.tripped.clone()),
                            handler,
                        ),
                    )
                    .await
                }
                None => {
                    tokio::time::timeout(limit, client::connect_stream(config, stream, handler))
                        .await
                }
            };
            handshake
                .map_err(|_| fail(Phase::KeyExchange, "timed out".into()))?
                .map_err(|e| fail(Phase::KeyExchange, e.to_string()))?
        }
        Some(b) => {
            let bastion_handle = b
                .current()
                .await
                .map_err(|e| fail(Phase::TcpConnect, e.to_string()))?;
            let channel = tokio::time::timeout(
                limit,
                bastion_handle.channel_open_direct_tcpip(
                    target.host.clone(),
                    target.port as u32,
                    "127.0.0.1",
                    0,
                ),
            )
            .await
            .map_err(|_| {
                fail(
                    Phase::TcpConnect,
                    format!("through bastion {}: no answer within {limit:?}", b.target),
                )
            })?
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
    let timed =
        |what: &'static str| move |_| fail(Phase::Authentication, format!("{what} timed out"));
    if let (Some(pem), Some(cert_file)) = (&target.auth.private_key, &target.auth.certificate_file)
    {
        let key =
            parse_key(pem, &target.auth.key_source).map_err(|m| fail(Phase::Authentication, m))?;
        let cert = russh::keys::load_openssh_certificate(cert_file).map_err(|e| {
            fail(
                Phase::Authentication,
                format!("cannot read certificate {cert_file}: {e}"),
            )
        })?;
        let r = tokio::time::timeout(
            limit,
            handle.authenticate_openssh_cert(target.username.clone(), Arc::new(key), cert),
        )
        .await
        .map_err(timed("certificate authentication"))?
        .map_err(|e| fail(phase_of(&kex_done), e.to_string()))?;
        if r.success() {
            return Ok(handle);
        }
        tried.push(format!("certificate ({cert_file})"));
    } else if let Some(pem) = &target.auth.private_key {
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
    if target.auth.agent {
        let mut agent = russh::keys::agent::client::AgentClient::connect_env()
            .await
            .map_err(|e| {
                fail(
                    Phase::Authentication,
                    format!("ssh_agent_auth: cannot reach the agent (SSH_AUTH_SOCK): {e}"),
                )
            })?;
        let ids = agent.request_identities().await.map_err(|e| {
            fail(
                Phase::Authentication,
                format!("listing the agent's keys: {e}"),
            )
        })?;
        for id in &ids {
            let key = id.public_key().into_owned();
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten()
            } else {
                None
            };
            let r = tokio::time::timeout(
                limit,
                handle.authenticate_publickey_with(target.username.clone(), key, hash, &mut agent),
            )
            .await
            .map_err(timed("agent authentication"))?;
            if r.is_ok_and(|r| r.success()) {
                return Ok(handle);
            }
        }
        tried.push(format!("the agent's {} key(s)", ids.len()));
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
            "no credentials: set ssh_private_key_file, ssh_password or ssh_agent_auth".into(),
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

fn parse_key(pem: &str, source: &str) -> Result<PrivateKey, String> {
    PrivateKey::from_openssh(pem)
        .or_else(|_| russh::keys::decode_secret_key(pem, None))
        .map_err(|e| format!("cannot read private key {source}: {e}"))
}

/// Waits until the server has sent its identification line (without consuming it). A
/// connection closed (or reset) before the server sent anything counts as a failed TCP
/// connect, not a handshake: that is what a forwarded port answers while nothing listens
/// behind it yet (QEMU's user network, a NAT), and the machine may still be booting.
async fn wait_for_banner(stream: &mut TcpStream, limit: Duration) -> Result<(), AttemptError> {
    let mut buf = [0u8; 256];
    let fail = |m: String| AttemptError {
        phase: Phase::Banner,
        message: m,
    };
    let seen = tokio::time::timeout(limit, async {
        loop {
            let n = match stream.peek(&mut buf).await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(None);
            }
            if buf[..n].contains(&b'\n') || n == buf.len() {
                return Ok(Some(n));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|_| fail(format!("no SSH identification within {limit:?}")))?
    .map_err(|e| fail(e.to_string()))?;
    let Some(seen) = seen else {
        return Err(AttemptError {
            phase: Phase::TcpConnect,
            message:
                "the connection closed before the server identified itself (nothing listening yet?)"
                    .into(),
        });
    };
    let text = String::from_utf8_lossy(&buf[..seen]);
    if !text.lines().any(|l| l.starts_with("SSH-")) {
        return Err(fail(format!(
            "the server did not identify as SSH (sent {:?})",
            text.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_fast_and_never_pause_more_than_a_second() {
        let ms: Vec<u128> = [0, 1, 2, 3, 4, 9, 40, u32::MAX]
            .into_iter()
            .map(|i| retry_delay(i).as_millis())
            .collect();
        assert_eq!(ms, [200, 400, 800, 1000, 1000, 1000, 1000, 1000]);
    }

    /// What `wait_for_banner` makes of a server that answers `reply` and closes (or, with
    /// `None`, closes at once).
    async fn banner_from(reply: Option<&'static [u8]>) -> Result<(), AttemptError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            if let Some(r) = reply {
                tokio::io::AsyncWriteExt::write_all(&mut s, r)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let r = wait_for_banner(&mut stream, Duration::from_secs(5)).await;
        server.await.unwrap();
        r
    }

    #[tokio::test]
    async fn a_port_that_closes_before_saying_anything_is_not_up_yet() {
        let Err(e) = banner_from(None).await else {
            panic!("a closed connection taken for a banner");
        };
        assert_eq!(e.phase, Phase::TcpConnect, "{}", e.message);
        assert!(e.message.contains("nothing listening yet"), "{}", e.message);
        let Err(e) = banner_from(Some(b"HTTP/1.1 400 Bad Request\r\n")).await else {
            panic!("an HTTP answer taken for a banner");
        };
        assert_eq!(e.phase, Phase::Banner, "{}", e.message);
        assert!(banner_from(Some(b"SSH-2.0-OpenSSH_9.2\r\n")).await.is_ok());
    }
}
