//! The `ansible-local` provisioner: stage playbooks, roles and variables on the machine, run
//! ansible-playbook there against itself, and remove the staging directory afterwards (also
//! when a task fails).

use super::config::Config;
use super::runtime;
use crate::ansible::output::Watcher;
use crate::remote::{remove_staging, run_shown};
use async_trait::async_trait;
use kiln_comm::exec_quiet;
use kiln_comm::ssh::shell_quote;
use kiln_core::plugin::{PrepareCx, ProvisionCx, Provisioner};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use std::io::Write;
use std::path::Path;

/// The default staging parent, as Packer names it.
pub const STAGING_PARENT: &str = "/tmp/packer-provisioner-ansible-local";

/// Makes an `ansible-local` provisioner.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(AnsibleLocal { config: c }))
}

struct AnsibleLocal {
    config: Config,
}

fn base(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string())
}

impl AnsibleLocal {
    async fn upload_dir(&self, cx: &ProvisionCx<'_>, src: &str, dst: &str) -> Result<()> {
        cx.ui
            .message(&format!("Uploading directory {src} => {dst}"));
        let mut s = src.to_string();
        if !s.ends_with('/') {
            s.push('/');
        }
        cx.comm
            .upload_dir(Path::new(&s), dst, kiln_comm::no_progress())
            .await
            .map_err(Error::from)
    }

    async fn upload_file(&self, cx: &ProvisionCx<'_>, src: &Path, dst: &str) -> Result<()> {
        cx.ui
            .message(&format!("Uploading {} => {dst}", src.display()));
        cx.comm
            .upload(src, dst, kiln_comm::no_progress())
            .await
            .map_err(Error::from)
    }

    async fn stage_and_run(&self, cx: &ProvisionCx<'_>, staging: &str) -> Result<()> {
        let c = &self.config;
        let q = shell_quote(staging);
        if exec_quiet(
            cx.comm.as_ref(),
            &format!("mkdir -p {q}"),
            cx.cancel.clone(),
        )
        .await?
            != 0
        {
            return Err(Error::msg(format!(
                "could not create the staging directory {staging}"
            )));
        }
        let runtime = if c.runtime == "managed" {
            Some(
                runtime::install(
                    cx.comm.as_ref(),
                    staging,
                    &c.runtime_wheelhouse,
                    &c.runtime_version,
                    cx.ui,
                    &cx.cancel,
                )
                .await?,
            )
        } else {
            None
        };
        if !c.playbook_dir.is_empty() {
            self.upload_dir(cx, &c.playbook_dir, staging).await?;
        }
        let mut playbooks = Vec::new();
        for p in c.playbooks() {
            let remote = if !c.playbook_dir.is_empty() && Path::new(&p).starts_with(&c.playbook_dir)
            {
                let rel = Path::new(&p)
                    .strip_prefix(&c.playbook_dir)
                    .expect("checked prefix");
                format!("{staging}/{}", rel.display())
            } else {
                let r = format!("{staging}/{}", base(&p));
                self.upload_file(cx, Path::new(&p), &r).await?;
                r
            };
            playbooks.push(remote);
        }
        // As Packer: playbook_paths go under staging/playbooks/.
        for p in &c.playbook_paths {
            self.upload_dir(cx, p, &format!("{staging}/playbooks/{}", base(p)))
                .await?;
        }
        for r in &c.role_paths {
            self.upload_dir(cx, r, &format!("{staging}/roles/{}", base(r)))
                .await?;
        }
        if !c.group_vars.is_empty() {
            self.upload_dir(cx, &c.group_vars, &format!("{staging}/group_vars"))
                .await?;
        }
        if !c.host_vars.is_empty() {
            self.upload_dir(cx, &c.host_vars, &format!("{staging}/host_vars"))
                .await?;
        }
        let inventory = if c.inventory_file.is_empty() {
            let mut f = tempfile::Builder::new()
                .prefix("kiln-inventory")
                .tempfile()?;
            if c.inventory_groups.is_empty() {
                writeln!(f, "127.0.0.1")?;
            } else {
                for g in &c.inventory_groups {
                    writeln!(f, "[{g}]\n127.0.0.1")?;
                }
            }
            f.flush()?;
            let remote = format!("{staging}/packer-provisioner-ansible-local.inventory");
            self.upload_file(cx, f.path(), &remote).await?;
            remote
        } else {
            let remote = format!("{staging}/{}", base(&c.inventory_file));
            self.upload_file(cx, Path::new(&c.inventory_file), &remote)
                .await?;
            remote
        };

        let galaxy_roles = if c.galaxy_roles_path.is_empty() {
            format!("{staging}/galaxy_roles")
        } else {
            c.galaxy_roles_path.clone()
        };
        let galaxy_collections = if c.galaxy_collections_path.is_empty() {
            format!("{staging}/galaxy_collections")
        } else {
            c.galaxy_collections_path.clone()
        };
        // Uploaded roles and galaxy roles are both on the roles path (Packer forgets the latter),
        // and galaxy collections on the collections path.
        let roles_path = format!(
            "ANSIBLE_ROLES_PATH={} ANSIBLE_COLLECTIONS_PATH={}",
            shell_quote(&format!("{staging}/roles:{galaxy_roles}")),
            shell_quote(&galaxy_collections)
        );
        if !c.galaxy_file.is_empty() {
            let remote = format!("{staging}/{}", base(&c.galaxy_file));
            self.upload_file(cx, Path::new(&c.galaxy_file), &remote)
                .await?;
            let galaxy = match &runtime {
                Some(rt) => rt.galaxy(),
                None if c.galaxy_command.is_empty() => "ansible-galaxy".to_string(),
                None => c.galaxy_command.clone(),
            };
            let (has_roles, has_collections) = crate::ansible::galaxy_wants(&c.galaxy_file)?;
            let force = if c.galaxy_force_install {
                " --force"
            } else {
                ""
            };
            let mut steps = Vec::new();
            if has_roles {
                steps.push(format!(
                    "{galaxy} role install -r {} -p {}{force}",
                    shell_quote(&remote),
                    shell_quote(&galaxy_roles)
                ));
            }
            if has_collections {
                steps.push(format!(
                    "{galaxy} collection install -r {} -p {}{force}",
                    shell_quote(&remote),
                    shell_quote(&galaxy_collections)
                ));
            }
            cx.ui.say("Executing Ansible Galaxy");
            for step in steps {
                let code = run_shown(cx, &format!("cd {q} && {step}"), &|_| {}).await?;
                if code != 0 {
                    return Err(Error::msg(format!(
                        "ansible-galaxy failed with exit code {code}: {step}"
                    )));
                }
            }
        }

        let command = match &runtime {
            Some(rt) => rt.playbook(),
            None if c.command.is_empty() => {
                "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook".to_string()
            }
            None => c.command.clone(),
        };
        let http = cx.data.get("PackerHTTPAddr").cloned().unwrap_or_default();
        let extra_vars = format!(
            "packer_build_name={} packer_builder_type={} packer_http_addr={http}",
            cx.info.name, cx.info.builder_type
        );
        let extra: Vec<String> = c.extra_arguments.iter().map(|a| shell_quote(a)).collect();
        for book in &playbooks {
            cx.ui.say(&format!("Executing Ansible: {}", base(book)));
            let cmd = format!(
                "cd {q} && {roles_path} {command} {} --extra-vars {} {} -c local -i {}",
                shell_quote(book),
                shell_quote(&extra_vars),
                extra.join(" "),
                shell_quote(&inventory)
            );
            let watcher = std::sync::Mutex::new(Watcher::default());
            let code = run_shown(cx, &cmd, &|line| {
                watcher.lock().expect("watcher lock").line(line)
            })
            .await?;
            if code != 0 {
                let w = watcher.into_inner().expect("watcher lock");
                return Err(Error::msg(w.explain(code)));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Provisioner for AnsibleLocal {
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()> {
        if cx.comm.kind() == "none" {
            return Err(Error::msg(
                "ansible-local needs a communicator; this build has \"communicator\": \"none\"",
            ));
        }
        cx.ui.say("Provisioning with Ansible...");
        let staging = if self.config.staging_directory.is_empty() {
            format!("{STAGING_PARENT}/{}", uuid::Uuid::new_v4())
        } else {
            self.config.staging_directory.clone()
        };
        let result = self.stage_and_run(cx, &staging).await;
        if self.config.clean_staging_directory != Some(false) {
            cx.ui.say(&format!("Removing staging directory {staging}"));
            // The default parent directory goes too when nothing else is in it.
            let mut cmd = format!("rm -rf {}", shell_quote(&staging));
            if self.config.staging_directory.is_empty() {
                cmd.push_str(&format!("; rmdir {STAGING_PARENT} 2>/dev/null; true"));
            }
            remove_staging(cx, &cmd, &staging).await;
        }
        result
    }
}
