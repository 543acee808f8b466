//! `docker pull` of the image (unless `pull` is false), logged in to `login_server` first
//! when `login` is set and logged out after, as Packer does. The password goes to
//! `docker login` on its standard input, never on a command line.

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Pulls the image.
pub struct StepPull;

/// `docker login`, the password on stdin.
async fn login(server: &str, user: &str, password: &str) -> Result<()> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.arg("login");
    if !user.is_empty() {
        cmd.args(["-u", user]);
    }
    if !password.is_empty() {
        cmd.arg("--password-stdin");
    }
    if !server.is_empty() {
        cmd.arg(server);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::msg(format!("Error logging in: cannot run docker: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    // A login that fails before reading the password closes the pipe: its own words say why.
    let _ = stdin.write_all(password.as_bytes()).await;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "Error logging in: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[async_trait]
impl Step<State> for StepPull {
    fn name(&self) -> &'static str {
        "StepPull"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.config;
        if !c.pull {
            kiln_core::log::log(format_args!("[INFO] Pull disabled, won't docker pull"));
            return Ok(());
        }
        cx.ui.say(&format!("Pulling Docker image: {}", c.image));
        if c.login {
            cx.ui.message("Logging in...");
            login(&c.login_server, &c.login_username, &c.login_password).await?;
        }
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["pull", &c.image]);
        let pulled = kiln_core::process::run_streamed(cmd, &cx.ui, &cx.cancel).await;
        if c.login {
            cx.ui.message("Logging out...");
            let mut args = vec!["logout"];
            if !c.login_server.is_empty() {
                args.push(&c.login_server);
            }
            if let Err(e) = kiln_comm::docker::docker(&args).await {
                cx.ui.error(&format!("Error logging out: {e}"));
            }
        }
        match pulled {
            Ok(0) => Ok(()),
            Ok(code) => Err(Error::msg(format!(
                "Error pulling Docker image: docker pull {} exited with status {code}",
                c.image
            ))),
            Err(Error::Cancelled) => Err(Error::Cancelled),
            Err(e) => Err(Error::msg(format!("Error pulling Docker image: {e}"))),
        }
    }
}
