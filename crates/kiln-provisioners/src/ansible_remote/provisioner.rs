//! The `ansible` provisioner: a generated inventory pointing at the machine (address, port,
//! user, and a 0600 copy of the key in a private temporary directory), then ansible-playbook run
//! locally with its output streamed and followed.

use super::config::Config;
use crate::ansible::output::Watcher;
use async_trait::async_trait;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::process::run_streamed_with;
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

/// Makes an `ansible` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(AnsibleRemote { config: c }))
}

struct AnsibleRemote {
    config: Config,
}

/// Quotes an inventory variable value.
fn inv(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Where ansible-playbook connects: the machine itself, or a local port forwarded through
/// kiln's own connection to it.
struct Endpoint {
    host: String,
    port: String,
    _forward: Option<kiln_comm::Forward>,
}

impl AnsibleRemote {
    /// Direct when the machine's address answers from here and `use_proxy` is not true;
    /// otherwise (a bastion, a private address, or `use_proxy: true`) a local port tunnelled
    /// to the machine's sshd through the build's SSH connection, which serves what Packer's
    /// proxy adapter does.
    async fn endpoint(&self, cx: &ProvisionCx<'_>) -> Result<Endpoint> {
        let d = cx.data;
        let host = d
            .get("Host")
            .filter(|h| !h.is_empty() && !kiln_core::plugin::is_placeholder(h))
            .ok_or_else(|| {
                Error::msg("ansible: the builder did not report the machine's address (is the communicator ssh?)")
            })?
            .clone();
        let port = d.get("Port").cloned().unwrap_or_else(|| "22".into());
        let direct = self.config.use_proxy != Some(true)
            && tokio::time::timeout(
                std::time::Duration::from_secs(2),
                tokio::net::TcpStream::connect((host.as_str(), port.parse().unwrap_or(22))),
            )
            .await
            .is_ok_and(|r| r.is_ok());
        if direct {
            return Ok(Endpoint {
                host,
                port,
                _forward: None,
            });
        }
        let forward =
            kiln_comm::forward_local(cx.comm.clone(), "127.0.0.1", port.parse().unwrap_or(22))
                .await?;
        cx.ui.message(&format!(
            "ansible connects through the build's SSH connection (local port {})",
            forward.port
        ));
        Ok(Endpoint {
            host: "127.0.0.1".into(),
            port: forward.port.to_string(),
            _forward: Some(forward),
        })
    }

    /// A 0600 copy of the build's private key in `dir`, when it logs in with one.
    fn key_file(cx: &ProvisionCx<'_>, dir: &std::path::Path) -> Result<Option<std::path::PathBuf>> {
        let Some(key) = cx.data.get("SSHPrivateKey").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        let path = dir.join("key");
        let mut f = std::fs::File::create(&path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(key.as_bytes())?;
        if !key.ends_with('\n') {
            f.write_all(b"\n")?;
        }
        Ok(Some(path))
    }

    /// The generated inventory: the machine's line (`inventory_file_template` rendered with
    /// the build's data, or Packer's default line), then under each group the same again, then
    /// the empty groups.
    fn inventory(
        &self,
        cx: &ProvisionCx<'_>,
        dir: &std::path::Path,
        at: &Endpoint,
        key: Option<&std::path::Path>,
    ) -> Result<std::path::PathBuf> {
        let c = &self.config;
        let d = cx.data;
        let alias = if c.host_alias.is_empty() {
            "default"
        } else {
            &c.host_alias
        };
        let user = if c.user.is_empty() {
            d.get("User").cloned().unwrap_or_default()
        } else {
            c.user.clone()
        };
        let host = if c.inventory_file_template.is_empty() {
            let mut line = format!(
                "{alias} ansible_host={} ansible_port={} ansible_user={}",
                inv(&at.host),
                at.port,
                inv(&user)
            );
            match (key, d.get("Password").filter(|p| !p.is_empty())) {
                (Some(_), _) => {}
                (None, Some(pw)) => line.push_str(&format!(" ansible_password={}", inv(pw))),
                (None, None) => {
                    return Err(Error::msg(
                        "ansible: the communicator has neither a key nor a password",
                    ))
                }
            }
            format!("{line}\n")
        } else {
            // As Packer: the build's data, with the alias, the user, and where ansible connects.
            let mut data: std::collections::BTreeMap<String, kiln_template::interp::TVal> = d
                .iter()
                .map(|(k, v)| (k.clone(), kiln_template::interp::TVal::Str(v.clone())))
                .collect();
            for (k, v) in [
                ("HostAlias", alias.to_string()),
                ("User", user),
                ("Host", at.host.clone()),
                ("Port", at.port.clone()),
            ] {
                data.insert(k.into(), kiln_template::interp::TVal::Str(v));
            }
            kiln_template::interp::render(
                &c.inventory_file_template,
                &cx.info.interp.with_data(data),
            )
            .map_err(|e| Error::msg(format!("ansible: inventory_file_template: {e}")))?
        };
        let mut text = host.clone();
        for g in &c.groups {
            text.push_str(&format!("[{g}]\n{host}"));
        }
        for g in &c.empty_groups {
            text.push_str(&format!("[{g}]\n"));
        }
        let path = dir.join("inventory");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn command(&self, program_default: &str, custom: &str) -> tokio::process::Command {
        let program = if custom.is_empty() {
            program_default
        } else {
            custom
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_FORCE_COLOR", "1")
            .env("PYTHONUNBUFFERED", "1");
        if !self.config.roles_path.is_empty() {
            cmd.env("ANSIBLE_ROLES_PATH", &self.config.roles_path);
        }
        if !self.config.collections_path.is_empty() {
            cmd.env("ANSIBLE_COLLECTIONS_PATHS", &self.config.collections_path);
        }
        if self.config.use_sftp {
            cmd.env("ANSIBLE_SCP_IF_SSH", "False");
        }
        for kv in &self.config.ansible_env_vars {
            let (k, v) = kv.split_once('=').expect("validated");
            cmd.env(k, v);
        }
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        cmd
    }
}

#[async_trait]
impl Provisioner for AnsibleRemote {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        let c = &self.config;
        cx.ui.say("Provisioning with Ansible...");
        // Private: holds the key copy and the generated inventory.
        let dir = match (c.keep_inventory_file, c.inventory_directory.is_empty()) {
            (_, false) => tempfile::Builder::new()
                .prefix("kiln-ansible")
                .tempdir_in(&c.inventory_directory)?,
            _ => tempfile::Builder::new().prefix("kiln-ansible").tempdir()?,
        };
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        // Kept alive (with its forward, if any) until ansible-playbook is done.
        let key = Self::key_file(cx, dir.path())?;
        let _endpoint;
        let inventory = if c.inventory_file.is_empty() {
            _endpoint = self.endpoint(cx).await?;
            self.inventory(cx, dir.path(), &_endpoint, key.as_deref())?
        } else {
            c.inventory_file.clone().into()
        };
        if !c.galaxy_file.is_empty() {
            cx.ui.say("Executing Ansible Galaxy");
            let (has_roles, has_collections) = crate::ansible::galaxy_wants(&c.galaxy_file)?;
            for (kind, wanted, path) in [
                ("role", has_roles, &c.roles_path),
                ("collection", has_collections, &c.collections_path),
            ] {
                if !wanted {
                    continue;
                }
                let mut cmd = self.command("ansible-galaxy", &c.galaxy_command);
                cmd.args([kind, "install", "-r", &c.galaxy_file]);
                if !path.is_empty() {
                    cmd.args(["-p", path]);
                }
                if c.galaxy_force_install {
                    cmd.arg("--force");
                }
                let code =
                    run_streamed_with(cmd, cx.ui, &cx.cancel, Arc::new(|_: &str| {})).await?;
                if code != 0 {
                    return Err(Error::msg(format!(
                        "ansible-galaxy {kind} install failed with exit code {code}"
                    )));
                }
            }
        }
        let mut cmd = self.command("ansible-playbook", &c.command);
        let http = cx.data.get("PackerHTTPAddr").cloned().unwrap_or_default();
        cmd.arg(&c.playbook_file)
            .args(["-e", &format!("packer_build_name={}", cx.info.name)])
            .args([
                "-e",
                &format!("packer_builder_type={}", cx.info.builder_type),
            ])
            .args(["-e", &format!("packer_http_addr={http}")]);
        let mut ssh_extra = vec!["-o IdentitiesOnly=yes".to_string()];
        ssh_extra.extend(c.ansible_ssh_extra_args.iter().cloned());
        cmd.arg(format!("--ssh-extra-args={}", ssh_extra.join(" ")));
        cmd.args(&c.extra_arguments);
        // As Packer, the key goes as an extra variable (it outranks the inventory's), also with
        // the template's own inventory, unless the arguments log in with a password.
        if let Some(key) = &key {
            if !c
                .extra_arguments
                .iter()
                .any(|a| a.contains("ansible_password"))
            {
                // (In JSON: a path with spaces stays one value.)
                let var = serde_json::json!({"ansible_ssh_private_key_file": key});
                cmd.arg("-e").arg(var.to_string());
            }
        }
        cmd.arg("-i").arg(&inventory);
        cx.ui
            .say(&format!("Executing Ansible: {}", c.playbook_file));
        let watcher = Arc::new(Mutex::new(Watcher::default()));
        let w = watcher.clone();
        let code = run_streamed_with(cmd, cx.ui, &cx.cancel, Arc::new(move |l: &str| w.lock().expect("watcher").line(l)))
            .await
            .map_err(|e| match e {
                Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => Error::msg(
                    "ansible: ansible-playbook was not found on this machine (install ansible-core, e.g. pip install ansible-core)",
                ),
                other => other,
            })?;
        if c.keep_inventory_file && c.inventory_file.is_empty() {
            // The inventory stays for inspection; the key copy never does.
            let _ = std::fs::remove_file(dir.path().join("key"));
            let kept = dir.keep();
            cx.ui
                .message(&format!("Kept the inventory in {}", kept.display()));
        }
        if code != 0 {
            let w = watcher.lock().expect("watcher");
            return Err(Error::msg(w.explain(code)));
        }
        Ok(())
    }
}
