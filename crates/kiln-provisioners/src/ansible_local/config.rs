//! `ansible-local` options, with Packer's names and defaults, plus kiln's managed runtime.

use kiln_template::Diagnostic;
use serde::Deserialize;
use std::path::Path;

/// `ansible-local` configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The command that runs playbooks.
    #[serde(default)]
    pub command: String,
    /// Extra arguments, each passed as one argument.
    #[serde(default)]
    pub extra_arguments: Vec<String>,
    /// Inventory groups the machine is put in.
    #[serde(default)]
    pub inventory_groups: Vec<String>,
    /// A local inventory file to use instead of the generated one.
    #[serde(default)]
    pub inventory_file: String,
    /// The playbook to run.
    #[serde(default)]
    pub playbook_file: String,
    /// Several playbooks, run in order.
    #[serde(default)]
    pub playbook_files: Vec<String>,
    /// A directory uploaded whole (playbooks, roles, vars).
    #[serde(default)]
    pub playbook_dir: String,
    /// Directories of playbooks uploaded next to the playbook.
    #[serde(default)]
    pub playbook_paths: Vec<String>,
    /// Role directories, uploaded to `roles/<name>`.
    #[serde(default)]
    pub role_paths: Vec<String>,
    /// `group_vars` directory.
    #[serde(default)]
    pub group_vars: String,
    /// `host_vars` directory.
    #[serde(default)]
    pub host_vars: String,
    /// Where things go on the machine.
    #[serde(default)]
    pub staging_directory: String,
    /// Remove the staging directory afterwards. Packer's default is false; kiln removes it
    /// unless this is explicitly false.
    #[serde(default)]
    pub clean_staging_directory: Option<bool>,
    /// A galaxy requirements file.
    #[serde(default)]
    pub galaxy_file: String,
    /// The galaxy command.
    #[serde(default)]
    pub galaxy_command: String,
    /// Where galaxy roles are installed.
    #[serde(default)]
    pub galaxy_roles_path: String,
    /// Where galaxy collections are installed.
    #[serde(default)]
    pub galaxy_collections_path: String,
    /// Re-install galaxy roles that are present.
    #[serde(default)]
    pub galaxy_force_install: bool,
    /// kiln: `"managed"` brings a self-contained ansible-core to the machine for this run and
    /// removes it afterwards; `""` (default) uses the ansible installed on the machine.
    #[serde(default)]
    pub runtime: String,
    /// kiln: ansible-core version for the managed runtime (a pip specifier).
    #[serde(default)]
    pub runtime_version: String,
    /// kiln: a directory of wheels for the managed runtime (default: downloaded with pip).
    #[serde(default)]
    pub runtime_wheelhouse: String,
}

impl Config {
    /// The playbooks, in order.
    pub fn playbooks(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.playbook_file.is_empty() {
            v.push(self.playbook_file.clone());
        }
        v.extend(self.playbook_files.iter().cloned());
        v
    }

    /// Checks the options Packer checks.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        let books = self.playbooks();
        if books.is_empty() {
            return Err(Diagnostic::new(
                "ansible-local: playbook_file or playbook_files must be specified",
            ));
        }
        if !self.playbook_file.is_empty() && !self.playbook_files.is_empty() {
            return Err(Diagnostic::new(
                "ansible-local: only one of playbook_file or playbook_files may be set",
            ));
        }
        let file = |what: &str, p: &str| -> Result<(), Diagnostic> {
            if !Path::new(p).is_file() {
                return Err(Diagnostic::new(format!(
                    "ansible-local: {what}: {p} is invalid: no such file"
                )));
            }
            Ok(())
        };
        let dir = |what: &str, p: &str| -> Result<(), Diagnostic> {
            if !Path::new(p).is_dir() {
                return Err(Diagnostic::new(format!(
                    "ansible-local: {what}: {p} is invalid: not a directory"
                )));
            }
            Ok(())
        };
        for b in &books {
            file("playbook_file", b)?;
        }
        if !self.playbook_dir.is_empty() {
            dir("playbook_dir", &self.playbook_dir)?;
        }
        for p in &self.playbook_paths {
            dir("playbook_paths", p)?;
        }
        for p in &self.role_paths {
            dir("role_paths", p)?;
        }
        if !self.group_vars.is_empty() {
            dir("group_vars", &self.group_vars)?;
        }
        if !self.host_vars.is_empty() {
            dir("host_vars", &self.host_vars)?;
        }
        if !self.inventory_file.is_empty() {
            file("inventory_file", &self.inventory_file)?;
        }
        if !self.galaxy_file.is_empty() {
            file("galaxy_file", &self.galaxy_file)?;
        }
        match self.runtime.as_str() {
            "" | "machine" => {}
            "managed" => {
                if !self.command.is_empty() {
                    return Err(Diagnostic::new(
                        "ansible-local: command cannot be combined with runtime \"managed\"",
                    ));
                }
                if !self.runtime_wheelhouse.is_empty() {
                    dir("runtime_wheelhouse", &self.runtime_wheelhouse)?;
                }
            }
            other => {
                return Err(Diagnostic::new(format!(
                    "ansible-local: runtime must be \"managed\" or \"machine\", not \"{other}\""
                )))
            }
        }
        Ok(())
    }
}
