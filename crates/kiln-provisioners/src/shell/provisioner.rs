//! The `shell` provisioner: upload each script, run it with the build's variables, remove it
//! (also when it failed or was cancelled, unlike Packer 1.6.6), check its exit code.

use super::config::Config;
use crate::remote::single_quote;
use async_trait::async_trait;
use kiln_comm::ssh::shell_quote;
use kiln_comm::{exec_capture, exec_quiet, CommError, Communicator, Output, RemoteCommand};
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::interp::{render, TVal};
use kiln_template::{decode::decode, Diagnostic, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Makes a `shell` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(Shell { config: c }))
}

struct Shell {
    config: Config,
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

impl Shell {
    fn env(&self, cx: &ProvisionCx<'_>) -> Vec<(String, String)> {
        let mut env = cx.info.packer_env(cx.data);
        for kv in &self.config.environment_vars {
            let (k, v) = kv.split_once('=').expect("validated");
            env.push((k.to_string(), v.to_string()));
        }
        env.extend(self.config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    fn remote_path(&self) -> String {
        if !self.config.remote_path.is_empty() {
            return self.config.remote_path.clone();
        }
        let file = if self.config.remote_file.is_empty() {
            format!("script_{}.sh", random_suffix())
        } else {
            self.config.remote_file.clone()
        };
        format!("{}/{file}", self.config.remote_folder.trim_end_matches('/'))
    }

    /// Uploads, retrying until `start_retry_timeout` (the machine may still be coming up).
    async fn upload_with_retry(
        &self,
        comm: &dyn Communicator,
        local: &std::path::Path,
        remote: &str,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let budget = self
            .config
            .start_retry_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(300));
        let start = Instant::now();
        loop {
            match comm.upload(local, remote, kiln_comm::no_progress()).await {
                Ok(()) => return Ok(()),
                Err(CommError::Unsupported(m)) => return Err(Error::msg(m)),
                Err(e) if start.elapsed() + Duration::from_secs(2) < budget => {
                    kiln_core::log::log(format_args!(
                        "[WARN] upload of {remote} failed, retrying: {e}"
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = cancel.cancelled() => return Err(Error::Cancelled),
                    }
                }
                Err(e) => return Err(Error::msg(format!("uploading {remote}: {e}"))),
            }
        }
    }

    /// After an expected disconnect: reconnect, and wait (within `start_retry_timeout`) until the
    /// boot id differs from the one read before the script, which proves the machine rebooted.
    async fn wait_for_reboot(&self, cx: &ProvisionCx<'_>, before: Option<String>) -> Result<()> {
        let budget = self
            .config
            .start_retry_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(300));
        let start = Instant::now();
        loop {
            let now = boot_id(cx.comm.as_ref()).await;
            match (&before, &now) {
                (Some(b), Some(n)) if b != n => {
                    cx.ui.say(&format!(
                        "The machine is back after a reboot (boot id changed to {n})."
                    ));
                    return Ok(());
                }
                (None, Some(_)) => {
                    cx.ui
                        .say("Reconnected (the boot id could not be read before the script).");
                    return Ok(());
                }
                _ => {}
            }
            if start.elapsed() >= budget {
                cx.ui.error(&format!(
                    "The connection dropped but the machine did not reboot within {} (boot id unchanged); continuing.",
                    kiln_template::duration::format_go_duration(budget)
                ));
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
    }

    async fn run_script(
        &self,
        cx: &ProvisionCx<'_>,
        local: &std::path::Path,
        env: &[(String, String)],
    ) -> Result<()> {
        let comm = cx.comm.as_ref();
        let remote = self.remote_path();
        // Variables go through a 0600 file unless the template's execute_command needs {{.Vars}}.
        let custom_command = !self.config.execute_command.is_empty();
        let use_file = self.config.use_env_var_file || !custom_command;
        let mut env_remote = String::new();
        let mut uploaded: Vec<String> = Vec::new();
        let result = async {
            let env_file = if use_file {
                let mut f = tempfile::Builder::new().prefix("kiln-env").tempfile()?;
                for (k, v) in env {
                    writeln!(f, "export {k}={}", single_quote(v))?;
                }
                f.flush()?;
                env_remote = format!(
                    "{}/varfile_{}.sh",
                    self.config.remote_folder.trim_end_matches('/'),
                    random_suffix()
                );
                uploaded.push(env_remote.clone());
                Some(f)
            } else {
                None
            };
            uploaded.push(remote.clone());
            // Both files at once, each on its own channel: the machine's round trips and
            // process starts overlap. The script is staged with mode 0755, so it arrives
            // executable (Packer runs `chmod 0755` after).
            let env_upload = async {
                match &env_file {
                    Some(f) => {
                        self.upload_with_retry(comm, f.path(), &env_remote, &cx.cancel)
                            .await
                    }
                    None => Ok(()),
                }
            };
            tokio::try_join!(
                env_upload,
                self.upload_with_retry(comm, local, &remote, &cx.cancel)
            )?;
            let vars: String = env
                .iter()
                .map(|(k, v)| {
                    if self.config.env_var_format.is_empty() {
                        format!("{k}={} ", single_quote(v))
                    } else {
                        self.config.env_var_format.replacen("%s", k, 1).replacen(
                            "%s",
                            &v.replace('\'', "'\"'\"'"),
                            1,
                        )
                    }
                })
                .collect();
            let template = if custom_command {
                self.config.execute_command.clone()
            } else {
                "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}".to_string()
            };
            let data = cx.info.interp.with_data([
                ("Vars", TVal::Str(vars.trim_end().to_string())),
                ("Path", TVal::Str(remote.clone())),
                ("EnvVarFile", TVal::Str(env_remote.clone())),
            ]);
            let command = render(&template, &data)
                .map_err(|e| Error::msg(format!("execute_command: {e}")))?;
            let boot_before = if self.config.expect_disconnect { boot_id(comm).await } else { None };
            let ui = cx.ui.clone();
            let on_output = move |o: Output| match o {
                Output::Stdout(l) => ui.message(&l),
                Output::Stderr(l) => ui.error(&l),
            };
            let code = comm
                .exec(RemoteCommand {
                    command: &command,
                    on_output: &on_output,
                    cancel: cx.cancel.clone(),
                })
                .await
                ?;
            if code == -1 && self.config.expect_disconnect {
                cx.ui.say(
                    "Connection dropped, as expected (expect_disconnect); waiting for the machine to come back...",
                );
                return self.wait_for_reboot(cx, boot_before).await;
            }
            if !self.config.valid_exit_codes.contains(&code) {
                let allowed: Vec<String> = self
                    .config
                    .valid_exit_codes
                    .iter()
                    .map(i32::to_string)
                    .collect();
                return Err(Error::msg(format!(
                    "Script exited with non-zero exit status: {code}. Allowed exit codes are: [{}]",
                    allowed.join(" ")
                )));
            }
            Ok(())
        }
        .await;
        if !self.config.skip_clean && !uploaded.is_empty() {
            // Runs even after a failure or an interrupt, with its own short budget.
            let paths: Vec<String> = uploaded.iter().map(|p| shell_quote(p)).collect();
            let rm = format!("rm -f {}", paths.join(" "));
            let clean = tokio::time::timeout(
                Duration::from_secs(30),
                exec_quiet(comm, &rm, CancellationToken::new()),
            )
            .await;
            let cleaned = matches!(clean, Ok(Ok(0)));
            let rebooting = self.config.expect_disconnect && result.is_ok();
            if !cleaned && !rebooting {
                cx.ui.error(&format!(
                    "Could not remove {} from the machine",
                    uploaded.join(", ")
                ));
            }
        }
        result
    }
}

/// The machine's boot id (changes at every boot), if it can be read.
async fn boot_id(comm: &dyn Communicator) -> Option<String> {
    let (code, id) = exec_capture(
        comm,
        "cat /proc/sys/kernel/random/boot_id",
        CancellationToken::new(),
    )
    .await
    .ok()?;
    let id = id.trim().to_string();
    (code == 0 && !id.is_empty()).then_some(id)
}

/// The file to upload for the script at `path`: a copy with mode 0755, so it arrives
/// executable (uploads keep the local mode) and needs no `chmod` of its own on the machine,
/// with CRLF turned into LF unless `binary` (Packer's rule).
fn staged_script(path: &std::path::Path, binary: bool) -> Result<tempfile::TempPath> {
    use std::os::unix::fs::PermissionsExt;
    let data =
        std::fs::read(path).map_err(|e| Error::msg(format!("reading {}: {e}", path.display())))?;
    let data = if binary || !data.windows(2).any(|w| w == b"\r\n") {
        data
    } else {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            out.push(data[i]);
            i += 1;
        }
        out
    };
    let mut f = tempfile::Builder::new().prefix("kiln-script").tempfile()?;
    f.write_all(&data)?;
    f.flush()?;
    f.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    Ok(f.into_temp_path())
}

#[async_trait]
impl Provisioner for Shell {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        if cx.comm.kind() == "none" {
            return Err(Error::msg(
                "the shell provisioner needs a communicator; this build has \"communicator\": \"none\"",
            ));
        }
        let env = self.env(cx);
        let mut scripts: Vec<(std::path::PathBuf, String)> = self
            .config
            .local_scripts()
            .into_iter()
            .map(|s| (s.clone().into(), s))
            .collect();
        let mut _inline = None;
        if !self.config.inline.is_empty() {
            let mut f = tempfile::Builder::new().prefix("packer-shell").tempfile()?;
            writeln!(f, "#!{}", self.config.inline_shebang)?;
            for line in &self.config.inline {
                writeln!(f, "{line}")?;
            }
            f.flush()?;
            let path = f.into_temp_path();
            scripts.push((path.to_path_buf(), path.display().to_string()));
            _inline = Some(path);
        }
        for (local, name) in &scripts {
            cx.ui
                .say(&format!("Provisioning with shell script: {name}"));
            let staged = staged_script(local, self.config.binary)?;
            self.run_script(cx, &staged, &env).await?;
        }
        let pause = self.config.pause_after.0;
        kiln_core::step::pause(cx.ui, &cx.cancel, pause, "after this provisioner").await?;
        Ok(())
    }
}
