//! `shell-local` options, with Packer's names and defaults.

use kiln_template::Diagnostic;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `shell-local` configuration (provisioner and post-processor).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Deprecated single command; same as a one-line `inline`.
    #[serde(default)]
    pub command: String,
    /// Commands written to a temporary script.
    #[serde(default)]
    pub inline: Vec<String>,
    /// First line of the inline script.
    #[serde(default = "default_shebang")]
    pub inline_shebang: String,
    /// A script file to run.
    #[serde(default)]
    pub script: String,
    /// Script files to run in order.
    #[serde(default)]
    pub scripts: Vec<String>,
    /// `KEY=value` pairs for the scripts.
    #[serde(default)]
    pub environment_vars: Vec<String>,
    /// More environment, as a map.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How each pair is written into `{{.Vars}}`.
    #[serde(default = "default_env_var_format")]
    pub env_var_format: String,
    /// The command line, as an argv array of templates (`{{.Vars}}`, `{{.Script}}`).
    #[serde(default = "default_execute_command")]
    pub execute_command: Vec<String>,
    /// Run only on these operating systems (`linux`, `darwin`, `windows`).
    #[serde(default)]
    pub only_on: Vec<String>,
    /// Exit codes that count as success.
    #[serde(default = "default_exit_codes")]
    pub valid_exit_codes: Vec<i32>,
    /// Extension of the temporary inline script.
    #[serde(default)]
    pub tempfile_extension: String,
    /// Windows-only in Packer; accepted for compatibility.
    #[serde(default)]
    pub use_linux_pathing: bool,
}

fn default_shebang() -> String {
    "/bin/sh -e".into()
}

fn default_env_var_format() -> String {
    "%s='%s' ".into()
}

fn default_execute_command() -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        "{{.Vars}} {{.Script}}".into(),
    ]
}

fn default_exit_codes() -> Vec<i32> {
    vec![0]
}

impl Config {
    /// Checks the combinations Packer rejects.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        let sources = [
            !self.command.is_empty(),
            !self.inline.is_empty(),
            !self.script.is_empty(),
            !self.scripts.is_empty(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources == 0 {
            return Err(Diagnostic::new(
                "shell-local: one of command, inline, script or scripts must be specified",
            ));
        }
        if sources > 1 {
            return Err(Diagnostic::new(
                "shell-local: only one of command, inline, script or scripts can be specified",
            ));
        }
        for s in self.all_scripts() {
            if !std::path::Path::new(&s).is_file() {
                return Err(Diagnostic::new(format!(
                    "shell-local: script file not found: {s}"
                )));
            }
        }
        for kv in &self.environment_vars {
            if !kv.contains('=') || kv.starts_with('=') {
                return Err(Diagnostic::new(format!(
                    "shell-local: environment variable not in format 'key=value': {kv}"
                )));
            }
        }
        for os in &self.only_on {
            if ![
                "linux", "darwin", "windows", "freebsd", "openbsd", "netbsd", "solaris",
            ]
            .contains(&os.as_str())
            {
                return Err(Diagnostic::new(format!(
                    "shell-local: unknown only_on operating system \"{os}\""
                )));
            }
        }
        Ok(())
    }

    /// The script files to run (not the inline one).
    pub fn all_scripts(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.script.is_empty() {
            v.push(self.script.clone());
        }
        v.extend(self.scripts.iter().cloned());
        v
    }
}
