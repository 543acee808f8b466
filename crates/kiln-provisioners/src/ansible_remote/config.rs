//! `ansible` options, with Packer's names. kiln connects ansible straight to the machine with a
//! generated inventory, or through a tunnel in the build's own SSH connection when the machine
//! is not reachable from here or `use_proxy` is true.

use kiln_template::Diagnostic;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `ansible` configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The command (default `ansible-playbook`).
    #[serde(default)]
    pub command: String,
    /// Extra arguments, each passed as one argument.
    #[serde(default)]
    pub extra_arguments: Vec<String>,
    /// `KEY=value` environment for ansible.
    #[serde(default)]
    pub ansible_env_vars: Vec<String>,
    /// Extra arguments for ssh (`--ssh-extra-args`).
    #[serde(default)]
    pub ansible_ssh_extra_args: Vec<String>,
    /// Inventory groups for the machine.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Groups with no hosts.
    #[serde(default)]
    pub empty_groups: Vec<String>,
    /// The machine's name in the inventory (`default`).
    #[serde(default)]
    pub host_alias: String,
    /// User ansible logs in as (default: the communicator's).
    #[serde(default)]
    pub user: String,
    /// Where the generated inventory goes.
    #[serde(default)]
    pub inventory_directory: String,
    /// A user-supplied inventory file.
    #[serde(default)]
    pub inventory_file: String,
    /// The generated inventory's machine line, a template of the build's data with
    /// `HostAlias`, `Host`, `Port` and `User` (Packer's default:
    /// `{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}`).
    #[serde(default)]
    pub inventory_file_template: String,
    /// Keep the generated inventory.
    #[serde(default)]
    pub keep_inventory_file: bool,
    /// The playbook.
    pub playbook_file: String,
    /// A galaxy requirements file.
    #[serde(default)]
    pub galaxy_file: String,
    /// The galaxy command.
    #[serde(default)]
    pub galaxy_command: String,
    /// Re-install galaxy roles.
    #[serde(default)]
    pub galaxy_force_install: bool,
    /// Where galaxy roles go (and roles are looked up).
    #[serde(default)]
    pub roles_path: String,
    /// Where galaxy collections go.
    #[serde(default)]
    pub collections_path: String,
    /// `true`: ansible connects through a tunnel in the build's SSH connection (what Packer's
    /// proxy adapter is for); otherwise directly when the machine answers from here.
    #[serde(default)]
    pub use_proxy: Option<bool>,
    /// Accepted for compatibility; kiln does not run a proxy, so there is no local port.
    #[serde(default)]
    pub local_port: Option<u16>,
    /// Accepted for compatibility (proxy host key).
    #[serde(default)]
    pub ssh_host_key_file: String,
    /// Accepted for compatibility (proxy authorized key).
    #[serde(default)]
    pub ssh_authorized_key_file: String,
    /// Skip `ansible --version`.
    #[serde(default)]
    pub skip_version_check: bool,
    /// Use SFTP for ansible's transfers.
    #[serde(default)]
    pub use_sftp: bool,
    /// Accepted for compatibility (proxy sftp command).
    #[serde(default)]
    pub sftp_command: String,
    /// Extra environment as a map (kiln).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Config {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        if !Path::new(&self.playbook_file).is_file() {
            return Err(Diagnostic::new(format!(
                "ansible: playbook_file: {} is invalid: no such file",
                self.playbook_file
            )));
        }
        for kv in &self.ansible_env_vars {
            if !kv.contains('=') {
                return Err(Diagnostic::new(format!(
                    "ansible: ansible_env_vars entry not in KEY=value form: {kv}"
                )));
            }
        }
        if !self.inventory_file.is_empty() && !Path::new(&self.inventory_file).is_file() {
            return Err(Diagnostic::new(format!(
                "ansible: inventory_file: {} does not exist",
                self.inventory_file
            )));
        }
        if !self.galaxy_file.is_empty() && !Path::new(&self.galaxy_file).is_file() {
            return Err(Diagnostic::new(format!(
                "ansible: galaxy_file: {} does not exist",
                self.galaxy_file
            )));
        }
        Ok(())
    }
}
