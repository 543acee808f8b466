//! `shell` options, with Packer's names and defaults.

use kiln_template::duration::GoDuration;
use kiln_template::Diagnostic;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `shell` configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Commands, written to one script.
    #[serde(default)]
    pub inline: Vec<String>,
    /// First line of the inline script.
    #[serde(default = "default_shebang")]
    pub inline_shebang: String,
    /// A local script to upload and run.
    #[serde(default)]
    pub script: String,
    /// Local scripts, in order.
    #[serde(default)]
    pub scripts: Vec<String>,
    /// `KEY=value` pairs.
    #[serde(default)]
    pub environment_vars: Vec<String>,
    /// More environment, as a map.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How each pair is written into `{{.Vars}}`.
    #[serde(default)]
    pub env_var_format: String,
    /// The remote command line (`{{.Vars}}`, `{{.Path}}`, `{{.EnvVarFile}}`).
    #[serde(default)]
    pub execute_command: String,
    /// Remote directory for uploaded scripts.
    #[serde(default = "default_remote_folder")]
    pub remote_folder: String,
    /// Remote file name of the script.
    #[serde(default)]
    pub remote_file: String,
    /// Full remote path (overrides folder and file).
    #[serde(default)]
    pub remote_path: String,
    /// The script may drop the connection (a reboot).
    #[serde(default)]
    pub expect_disconnect: bool,
    /// How long to keep retrying the upload/start (5m).
    #[serde(default)]
    pub start_retry_timeout: Option<GoDuration>,
    /// Leave the uploaded scripts on the machine.
    #[serde(default)]
    pub skip_clean: bool,
    /// Exit codes that count as success.
    #[serde(default = "default_exit_codes")]
    pub valid_exit_codes: Vec<i32>,
    /// Pass variables through a file instead of the command line.
    #[serde(default)]
    pub use_env_var_file: bool,
    /// Do not touch line endings of scripts.
    #[serde(default)]
    pub binary: bool,
    /// Wait after the scripts ran.
    #[serde(default)]
    pub pause_after: GoDuration,
}

fn default_shebang() -> String {
    "/bin/sh -e".into()
}

fn default_remote_folder() -> String {
    "/tmp".into()
}

fn default_exit_codes() -> Vec<i32> {
    vec![0]
}

impl Config {
    /// Checks the combinations Packer rejects.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        let sources = [
            !self.inline.is_empty(),
            !self.script.is_empty(),
            !self.scripts.is_empty(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources == 0 {
            return Err(Diagnostic::new(
                "shell: either a script file or inline script must be specified",
            ));
        }
        if sources > 1 {
            return Err(Diagnostic::new(
                "shell: only one of script, scripts or inline can be specified",
            ));
        }
        for s in self.local_scripts() {
            if !std::path::Path::new(&s).is_file() {
                return Err(Diagnostic::new(format!(
                    "shell: script file not found: {s}"
                )));
            }
        }
        for kv in &self.environment_vars {
            if !kv.contains('=') || kv.starts_with('=') {
                return Err(Diagnostic::new(format!(
                    "shell: environment variable not in format 'key=value': {kv}"
                )));
            }
        }
        Ok(())
    }

    /// The local script files.
    pub fn local_scripts(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.script.is_empty() {
            v.push(self.script.clone());
        }
        v.extend(self.scripts.iter().cloned());
        v
    }
}
