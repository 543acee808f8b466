//! `puppet-masterless`: uploads a manifest (and modules, a manifest directory, a hiera
//! configuration) to the machine and runs `puppet apply` there, as Packer's provisioner does:
//! the same options, staging layout, command template and exit codes (0 and 2, Puppet's
//! `--detailed-exitcodes` for "applied, nothing to do" and "applied changes", are success).

use crate::remote::{remove_staging, run_shown, single_quote};
use async_trait::async_trait;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::interp::{render, TVal};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Where files go on the machine unless `staging_directory` says otherwise.
pub const STAGING: &str = "/tmp/packer-puppet-masterless";

/// Packer's command for a Unix guest.
const EXECUTE_COMMAND: &str = concat!(
    "cd {{.WorkingDir}} && ",
    "{{if ne .FacterVars \"\"}}{{.FacterVars}} {{end}}",
    "{{if .Sudo}}sudo -E {{end}}",
    "{{if ne .PuppetBinDir \"\"}}{{.PuppetBinDir}}/{{end}}",
    "puppet apply --detailed-exitcodes ",
    "{{if .Debug}}--debug {{end}}",
    "{{if ne .ModulePath \"\"}}--modulepath='{{.ModulePath}}' {{end}}",
    "{{if ne .HieraConfigPath \"\"}}--hiera_config='{{.HieraConfigPath}}' {{end}}",
    "{{if ne .ManifestDir \"\"}}--manifestdir='{{.ManifestDir}}' {{end}}",
    "{{if ne .ExtraArguments \"\"}}{{.ExtraArguments}} {{end}}",
    "{{.ManifestFile}}",
);

/// `puppet-masterless` configuration, with Packer's names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Remove the staging directory afterwards. Packer's default is false; kiln removes it
    /// unless this is explicitly false (as for `ansible-local`).
    #[serde(default)]
    pub clean_staging_directory: Option<bool>,
    /// `unix` (default). Packer's `windows` needs WinRM, which kiln does not have.
    #[serde(default)]
    pub guest_os_type: String,
    /// The command that runs Puppet (a template over the fields Packer gives it).
    #[serde(default)]
    pub execute_command: String,
    /// Arguments added to the command line, joined by spaces.
    #[serde(default)]
    pub extra_arguments: Vec<String>,
    /// Facts, given to Puppet as `FACTER_name` variables.
    #[serde(default)]
    pub facter: BTreeMap<String, String>,
    /// A hiera configuration file to upload and use.
    #[serde(default)]
    pub hiera_config_path: String,
    /// Any exit code of Puppet's is a success.
    #[serde(default)]
    pub ignore_exit_codes: bool,
    /// Local module directories to upload.
    #[serde(default)]
    pub module_paths: Vec<String>,
    /// The manifest to apply: a file, or a directory of them.
    #[serde(default)]
    pub manifest_file: String,
    /// A directory of manifests uploaded as well.
    #[serde(default)]
    pub manifest_dir: String,
    /// Run Puppet without sudo.
    #[serde(default)]
    pub prevent_sudo: bool,
    /// The directory holding the `puppet` binary, when it is not on the PATH.
    #[serde(default)]
    pub puppet_bin_dir: String,
    /// Where files are uploaded.
    #[serde(default)]
    pub staging_directory: String,
    /// The directory Puppet runs in (default: the staging directory).
    #[serde(default)]
    pub working_directory: String,
    /// Windows only in Packer.
    #[serde(default)]
    pub elevated_user: String,
    /// Windows only in Packer.
    #[serde(default)]
    pub elevated_password: String,
}

impl Config {
    /// Checks what Packer checks, in its words.
    pub fn validate(&self) -> Result<(), Diagnostic> {
        let mut errs = vec![];
        match self.guest_os_type.to_lowercase().as_str() {
            "" | "unix" => {}
            "windows" => errs.push(
                "guest_os_type \"windows\" needs a WinRM communicator, which kiln does not have"
                    .to_string(),
            ),
            other => errs.push(format!("Invalid guest_os_type: \"{other}\"")),
        }
        if !self.elevated_user.is_empty() {
            errs.push(
                "elevated_user runs Puppet as a Windows scheduled task: it needs a Windows guest"
                    .into(),
            );
        }
        let stat = |p: &str| std::fs::metadata(p).map_err(|e| e.to_string());
        if !self.hiera_config_path.is_empty() {
            match stat(&self.hiera_config_path) {
                Err(e) => errs.push(format!("hiera_config_path is invalid: {e}")),
                Ok(m) if m.is_dir() => errs.push("hiera_config_path must point to a file".into()),
                Ok(_) => {}
            }
        }
        if !self.manifest_dir.is_empty() {
            match stat(&self.manifest_dir) {
                Err(e) => errs.push(format!("manifest_dir is invalid: {e}")),
                Ok(m) if !m.is_dir() => errs.push("manifest_dir must point to a directory".into()),
                Ok(_) => {}
            }
        }
        if self.manifest_file.is_empty() {
            errs.push("A manifest_file must be specified.".into());
        } else if let Err(e) = stat(&self.manifest_file) {
            errs.push(format!("manifest_file is invalid: {e}"));
        }
        for (i, p) in self.module_paths.iter().enumerate() {
            match stat(p) {
                Err(e) => errs.push(format!("module_path[{i}] is invalid: {e}")),
                Ok(m) if !m.is_dir() => {
                    errs.push(format!("module_path[{i}] must point to a directory"))
                }
                Ok(_) => {}
            }
        }
        match errs.is_empty() {
            true => Ok(()),
            false => Err(Diagnostic::new(format!(
                "puppet-masterless: {}",
                errs.join("; ")
            ))),
        }
    }
}

/// Makes a `puppet-masterless` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    for (what, t) in [
        ("execute_command", c.execute_command.clone()),
        ("extra_arguments", c.extra_arguments.join(" ")),
    ] {
        kiln_template::interp::check(&t)
            .map_err(|e| Diagnostic::new(format!("puppet-masterless: {what}: {e}")))?;
    }
    Ok(Box::new(PuppetMasterless { config: c }))
}

struct PuppetMasterless {
    config: Config,
}

impl PuppetMasterless {
    fn sudo(&self, command: String) -> String {
        if self.config.prevent_sudo {
            command
        } else {
            format!("sudo {command}")
        }
    }

    /// Packer's createDir: made (with sudo unless prevented) and opened to everyone, so the
    /// login user can upload into it.
    async fn create_dir(&self, cx: &ProvisionCx<'_>, dir: &str) -> Result<()> {
        cx.ui.message(&format!("Creating directory: {dir}"));
        for command in [
            self.sudo(format!("mkdir -p {}", single_quote(dir))),
            self.sudo(format!("chmod 0777 {}", single_quote(dir))),
        ] {
            let code = run_shown(cx, &command, &|_| {}).await?;
            if code != 0 {
                return Err(Error::msg(format!(
                    "could not create {dir}: `{command}` exited with status {code}"
                )));
            }
        }
        Ok(())
    }

    async fn upload_dir(&self, cx: &ProvisionCx<'_>, src: &str, dst: &str) -> Result<()> {
        self.create_dir(cx, dst).await?;
        // A trailing slash: the directory's contents go into dst.
        let mut s = src.to_string();
        if !s.ends_with('/') {
            s.push('/');
        }
        cx.comm
            .upload_dir(Path::new(&s), dst, kiln_comm::no_progress())
            .await
            .map_err(Error::from)
    }

    async fn upload_file(&self, cx: &ProvisionCx<'_>, src: &str, dst: &str) -> Result<()> {
        cx.comm
            .upload(Path::new(src), dst, kiln_comm::no_progress())
            .await
            .map_err(Error::from)
    }

    async fn stage_and_apply(&self, cx: &ProvisionCx<'_>, staging: &str) -> Result<()> {
        let c = &self.config;
        cx.ui.message("Creating Puppet staging directory...");
        self.create_dir(cx, staging)
            .await
            .map_err(|e| Error::msg(format!("Error creating staging directory: {e}")))?;
        let mut hiera = String::new();
        if !c.hiera_config_path.is_empty() {
            cx.ui.message("Uploading hiera configuration...");
            hiera = format!("{staging}/hiera.yaml");
            self.upload_file(cx, &c.hiera_config_path, &hiera)
                .await
                .map_err(|e| Error::msg(format!("Error uploading hiera config: {e}")))?;
        }
        let manifests = format!("{staging}/manifests");
        let mut manifest_dir = String::new();
        if !c.manifest_dir.is_empty() {
            cx.ui.message(&format!(
                "Uploading manifest directory from: {}",
                c.manifest_dir
            ));
            manifest_dir = manifests.clone();
            self.upload_dir(cx, &c.manifest_dir, &manifest_dir)
                .await
                .map_err(|e| Error::msg(format!("Error uploading manifest dir: {e}")))?;
        }
        let mut modules = vec![];
        for (i, path) in c.module_paths.iter().enumerate() {
            cx.ui
                .message(&format!("Uploading local modules from: {path}"));
            let target = format!("{staging}/module-{i}");
            self.upload_dir(cx, path, &target)
                .await
                .map_err(|e| Error::msg(format!("Error uploading modules: {e}")))?;
            modules.push(target);
        }
        cx.ui.message("Uploading manifests...");
        self.create_dir(cx, &manifests).await.map_err(|e| {
            Error::msg(format!(
                "Error uploading manifests: Error creating manifests directory: {e}"
            ))
        })?;
        let manifest = if Path::new(&c.manifest_file).is_dir() {
            cx.ui.message(&format!(
                "Uploading manifest directory from: {}",
                c.manifest_file
            ));
            self.upload_dir(cx, &c.manifest_file, &manifests)
                .await
                .map_err(|e| {
                    Error::msg(format!(
                        "Error uploading manifests: Error uploading manifest dir: {e}"
                    ))
                })?;
            manifests.clone()
        } else {
            cx.ui.message(&format!(
                "Uploading manifest file from: {}",
                c.manifest_file
            ));
            let name = Path::new(&c.manifest_file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let remote = format!("{manifests}/{name}");
            self.upload_file(cx, &c.manifest_file, &remote)
                .await
                .map_err(|e| Error::msg(format!("Error uploading manifests: {e}")))?;
            remote
        };

        let mut facts = c.facter.clone();
        facts.insert("packer_build_name".into(), cx.info.name.clone());
        facts.insert("packer_builder_type".into(), cx.info.builder_type.clone());
        let facts: Vec<String> = facts
            .iter()
            .map(|(k, v)| format!("FACTER_{k}={}", single_quote(v)))
            .collect();
        let working = if c.working_directory.is_empty() {
            staging.to_string()
        } else {
            c.working_directory.clone()
        };
        let mut data = BTreeMap::from([
            ("Debug".to_string(), TVal::Bool(false)),
            ("ExtraArguments".to_string(), TVal::Str(String::new())),
            ("FacterVars".to_string(), TVal::Str(facts.join(" "))),
            ("HieraConfigPath".to_string(), TVal::Str(hiera)),
            ("ManifestDir".to_string(), TVal::Str(manifest_dir)),
            ("ManifestFile".to_string(), TVal::Str(manifest)),
            ("ModulePath".to_string(), TVal::Str(modules.join(":"))),
            ("ModulePathJoiner".to_string(), TVal::Str(":".into())),
            (
                "PuppetBinDir".to_string(),
                TVal::Str(c.puppet_bin_dir.clone()),
            ),
            ("Sudo".to_string(), TVal::Bool(!c.prevent_sudo)),
            ("WorkingDir".to_string(), TVal::Str(working)),
        ]);
        let extra = render(
            &c.extra_arguments.join(" "),
            &cx.info.interp.with_data(data.clone()),
        )
        .map_err(|e| Error::msg(format!("extra_arguments: {e}")))?;
        data.insert("ExtraArguments".into(), TVal::Str(extra));
        let template = if c.execute_command.is_empty() {
            EXECUTE_COMMAND
        } else {
            &c.execute_command
        };
        let command = render(template, &cx.info.interp.with_data(data))
            .map_err(|e| Error::msg(format!("execute_command: {e}")))?;
        cx.ui.message(&format!("Running Puppet: {command}"));
        let code = run_shown(cx, &command, &|_| {}).await?;
        if code != 0 && code != 2 && !c.ignore_exit_codes {
            return Err(Error::msg(format!(
                "Puppet exited with a non-zero exit status: {code}"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Provisioner for PuppetMasterless {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        if cx.comm.kind() == "none" {
            return Err(Error::msg(
                "puppet-masterless needs a communicator; this build has \"communicator\": \"none\"",
            ));
        }
        cx.ui.say("Provisioning with Puppet...");
        let staging = if self.config.staging_directory.is_empty() {
            STAGING.to_string()
        } else {
            self.config.staging_directory.clone()
        };
        let result = self.stage_and_apply(cx, &staging).await;
        if self.config.clean_staging_directory != Some(false) {
            let command = self.sudo(format!("rm -rf {}", single_quote(&staging)));
            remove_staging(cx, &command, &staging).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: serde_json::Value) -> Config {
        decode(&Value::from_json(&v)).unwrap()
    }

    #[test]
    fn packers_checks_in_packers_words() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("site.pp");
        std::fs::write(&file, "notice('x')\n").unwrap();
        let d = dir.path().display().to_string();
        let f = file.display().to_string();
        assert!(config(serde_json::json!({"manifest_file": f}))
            .validate()
            .is_ok());
        let e = config(serde_json::json!({})).validate().unwrap_err();
        assert_eq!(
            e.message,
            "puppet-masterless: A manifest_file must be specified."
        );
        let e = config(serde_json::json!({
            "manifest_file": f, "hiera_config_path": d, "manifest_dir": f,
            "module_paths": [f, "/nonexistent"], "guest_os_type": "plan9"}))
        .validate()
        .unwrap_err();
        for said in [
            "Invalid guest_os_type: \"plan9\"",
            "hiera_config_path must point to a file",
            "manifest_dir must point to a directory",
            "module_path[0] must point to a directory",
            "module_path[1] is invalid: No such file or directory",
        ] {
            assert!(e.message.contains(said), "{said}: {}", e.message);
        }
    }

    #[test]
    fn the_default_command_is_packers() {
        let data = |facts: &str, sudo: bool, modules: &str, extra: &str| {
            kiln_template::interp::Context::new(chrono::Utc::now()).with_data([
                ("Debug", TVal::Bool(false)),
                ("ExtraArguments", TVal::Str(extra.into())),
                ("FacterVars", TVal::Str(facts.into())),
                ("HieraConfigPath", TVal::Str(String::new())),
                ("ManifestDir", TVal::Str(String::new())),
                ("ManifestFile", TVal::Str("/s/manifests/site.pp".into())),
                ("ModulePath", TVal::Str(modules.into())),
                ("PuppetBinDir", TVal::Str(String::new())),
                ("Sudo", TVal::Bool(sudo)),
                ("WorkingDir", TVal::Str("/s".into())),
            ])
        };
        assert_eq!(
            render(EXECUTE_COMMAND, &data("FACTER_a='1'", true, "/s/module-0", "--noop")).unwrap(),
            "cd /s && FACTER_a='1' sudo -E puppet apply --detailed-exitcodes --modulepath='/s/module-0' --noop /s/manifests/site.pp"
        );
        assert_eq!(
            render(EXECUTE_COMMAND, &data("", false, "", "")).unwrap(),
            "cd /s && puppet apply --detailed-exitcodes /s/manifests/site.pp"
        );
    }
}
