//! Communicator options as Packer names them. Builders decode these next to their own options
//! (see `kiln_template::decode::decode_split`).

use kiln_template::duration::GoDuration;
use kiln_template::Diagnostic;
use serde::Deserialize;
use std::time::Duration;

/// Which communicator a build uses and how to reach the machine (SSH options with Packer's
/// names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommConfig {
    /// `ssh` (default), `none` (or `winrm`, not available yet).
    #[serde(default = "default_communicator")]
    pub communicator: String,
    /// Wait this long before the first connection attempt.
    #[serde(default)]
    pub pause_before_connecting: GoDuration,
    /// Address to connect to (builders fill it in when they know it).
    #[serde(default)]
    pub ssh_host: String,
    /// Port (22).
    #[serde(default)]
    pub ssh_port: Option<u16>,
    /// User to log in as.
    #[serde(default)]
    pub ssh_username: String,
    /// Password authentication.
    #[serde(default)]
    pub ssh_password: String,
    /// Private key file for public key authentication.
    #[serde(default)]
    pub ssh_private_key_file: String,
    /// OpenSSH certificate for the key.
    #[serde(default)]
    pub ssh_certificate_file: String,
    /// Authenticate with the keys of the local ssh-agent.
    #[serde(default)]
    pub ssh_agent_auth: bool,
    /// Name of an existing cloud key pair.
    #[serde(default)]
    pub ssh_keypair_name: String,
    /// The whole connection budget (5m).
    #[serde(default)]
    pub ssh_timeout: Option<GoDuration>,
    /// Old name of `ssh_timeout`.
    #[serde(default)]
    pub ssh_wait_timeout: Option<GoDuration>,
    /// Handshake attempts within the budget (10). Unlike Packer, never extends the budget.
    #[serde(default)]
    pub ssh_handshake_attempts: Option<u32>,
    /// Request a PTY for commands.
    #[serde(default)]
    pub ssh_pty: bool,
    /// Keep-alive interval (5s); "-1s" disables.
    #[serde(default)]
    pub ssh_keep_alive_interval: Option<String>,
    /// Per-operation I/O timeout (0: none).
    #[serde(default)]
    pub ssh_read_write_timeout: GoDuration,
    /// Bastion (jump) host.
    #[serde(default)]
    pub ssh_bastion_host: String,
    /// Bastion port (22).
    #[serde(default)]
    pub ssh_bastion_port: Option<u16>,
    /// Bastion user.
    #[serde(default)]
    pub ssh_bastion_username: String,
    /// Bastion password.
    #[serde(default)]
    pub ssh_bastion_password: String,
    /// Bastion private key file.
    #[serde(default)]
    pub ssh_bastion_private_key_file: String,
    /// Bastion certificate file.
    #[serde(default)]
    pub ssh_bastion_certificate_file: String,
    /// Bastion via ssh-agent.
    #[serde(default)]
    pub ssh_bastion_agent_auth: bool,
    /// Bastion keyboard-interactive authentication.
    #[serde(default)]
    pub ssh_bastion_interactive: bool,
    /// `scp` (default) or `sftp`.
    #[serde(default)]
    pub ssh_file_transfer_method: String,
    /// Do not forward the local agent.
    #[serde(default)]
    pub ssh_disable_agent_forwarding: bool,
    /// Allowed ciphers.
    #[serde(default)]
    pub ssh_ciphers: Vec<String>,
    /// Allowed key exchange algorithms.
    #[serde(default)]
    pub ssh_key_exchange_algorithms: Vec<String>,
    /// Remove the build's temporary key from authorized_keys before capture. kiln does it
    /// (and checks it) unless this is set to false; Packer only when it is true.
    #[serde(default)]
    pub ssh_clear_authorized_keys: Option<bool>,
    /// Temporary key pair type (kiln default: ed25519).
    #[serde(default)]
    pub temporary_key_pair_type: String,
    /// Temporary RSA key size.
    #[serde(default)]
    pub temporary_key_pair_bits: Option<u32>,
    /// The temporary key pair's name in the cloud (default `packer_<UUID>`).
    #[serde(default)]
    pub temporary_key_pair_name: String,
    /// Packer's WinRM options, accepted so that a WinRM template hears that the communicator
    /// is not available rather than that its keys are unknown; ignored with `ssh`, as in
    /// Packer.
    #[serde(default)]
    pub winrm_username: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_password`.
    #[serde(default)]
    pub winrm_password: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_host`.
    #[serde(default)]
    pub winrm_host: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_no_proxy`.
    #[serde(default)]
    pub winrm_no_proxy: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_port`.
    #[serde(default)]
    pub winrm_port: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_timeout`.
    #[serde(default)]
    pub winrm_timeout: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_use_ssl`.
    #[serde(default)]
    pub winrm_use_ssl: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_insecure`.
    #[serde(default)]
    pub winrm_insecure: Option<serde::de::IgnoredAny>,
    /// WinRM: `winrm_use_ntlm`.
    #[serde(default)]
    pub winrm_use_ntlm: Option<serde::de::IgnoredAny>,
    /// Which address of the instance to use (cloud builders).
    #[serde(default)]
    pub ssh_interface: String,
    /// SOCKS proxy host (not supported yet).
    #[serde(default)]
    pub ssh_proxy_host: String,
    /// SOCKS proxy port.
    #[serde(default)]
    pub ssh_proxy_port: Option<u16>,
    /// SOCKS proxy user.
    #[serde(default)]
    pub ssh_proxy_username: String,
    /// SOCKS proxy password.
    #[serde(default)]
    pub ssh_proxy_password: String,
    /// Local port forwards (not supported yet).
    #[serde(default)]
    pub ssh_local_tunnels: Vec<String>,
    /// Remote port forwards (not supported yet).
    #[serde(default)]
    pub ssh_remote_tunnels: Vec<String>,
    /// Skip NAT port mapping (virtualbox); accepted.
    #[serde(default)]
    pub ssh_skip_nat_mapping: bool,
}

fn default_communicator() -> String {
    "ssh".into()
}

impl CommConfig {
    /// The port, defaulting to 22.
    pub fn port(&self) -> u16 {
        self.ssh_port.unwrap_or(22)
    }

    /// The connection budget (`ssh_timeout`, else `ssh_wait_timeout`, else 5m).
    pub fn timeout(&self) -> Duration {
        self.ssh_timeout
            .or(self.ssh_wait_timeout)
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(300))
    }

    /// Handshake attempts (10).
    pub fn handshake_attempts(&self) -> u32 {
        self.ssh_handshake_attempts.filter(|n| *n > 0).unwrap_or(10)
    }

    /// Keep-alive interval; None when disabled.
    pub fn keep_alive(&self) -> Result<Option<Duration>, Diagnostic> {
        match self.ssh_keep_alive_interval.as_deref() {
            None | Some("") => Ok(Some(Duration::from_secs(5))),
            Some(s) if s.starts_with('-') => Ok(None),
            Some(s) => kiln_template::duration::parse_go_duration(s)
                .map(|d| (!d.is_zero()).then_some(d))
                .map_err(|e| Diagnostic::new(format!("ssh_keep_alive_interval: {e}"))),
        }
    }
}

impl CommConfig {
    /// Checks the options; `host_required` when the builder does not fill in `ssh_host`.
    pub fn validate(&self, host_required: bool) -> Result<(), Diagnostic> {
        match self.communicator.as_str() {
            "none" => return Ok(()),
            "ssh" => {}
            "winrm" => {
                return Err(Diagnostic::new(
                    "the winrm communicator is not available in kiln yet",
                ))
            }
            other => {
                return Err(Diagnostic::new(format!(
                    "communicator must be \"ssh\", \"winrm\" or \"none\", not \"{other}\""
                )))
            }
        }
        if host_required && self.ssh_host.is_empty() {
            return Err(Diagnostic::new("ssh_host must be specified"));
        }
        if self.ssh_username.is_empty() {
            return Err(Diagnostic::new("ssh_username must be specified"));
        }
        if !self.ssh_private_key_file.is_empty()
            && !std::path::Path::new(&self.ssh_private_key_file).is_file()
        {
            return Err(Diagnostic::new(format!(
                "ssh_private_key_file: file not found: {}",
                self.ssh_private_key_file
            )));
        }
        match self.ssh_file_transfer_method.as_str() {
            "" | "scp" | "sftp" => {}
            other => {
                return Err(Diagnostic::new(format!(
                    "ssh_file_transfer_method must be \"scp\" or \"sftp\", not \"{other}\""
                )))
            }
        }
        if !self.ssh_proxy_host.is_empty()
            || !self.ssh_local_tunnels.is_empty()
            || !self.ssh_remote_tunnels.is_empty()
        {
            return Err(Diagnostic::new(
                "ssh_proxy_host, ssh_local_tunnels and ssh_remote_tunnels are not supported by kiln yet",
            ));
        }
        for c in &self.ssh_ciphers {
            if crate::ssh::cipher_name(c).is_none() {
                return Err(Diagnostic::new(format!("ssh_ciphers: unsupported cipher \"{c}\"")).with_hint(
                    "supported: chacha20-poly1305@openssh.com, aes256-gcm@openssh.com, aes128-gcm@openssh.com, aes256-ctr, aes192-ctr, aes128-ctr",
                ));
            }
        }
        for k in &self.ssh_key_exchange_algorithms {
            if crate::ssh::kex_name(k).is_none() {
                return Err(Diagnostic::new(format!("ssh_key_exchange_algorithms: unsupported algorithm \"{k}\"")).with_hint(
                    "supported: curve25519-sha256, curve25519-sha256@libssh.org, ecdh-sha2-nistp256/384/521, diffie-hellman-group14-sha256, diffie-hellman-group16-sha512, diffie-hellman-group-exchange-sha256",
                ));
            }
        }
        if !self.ssh_certificate_file.is_empty() && self.ssh_private_key_file.is_empty() {
            return Err(Diagnostic::new(
                "ssh_certificate_file needs ssh_private_key_file (the certificate's key)",
            ));
        }
        self.keep_alive()?;
        Ok(())
    }
}
