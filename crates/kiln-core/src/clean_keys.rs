//! Before a machine is captured, its builder's temporary SSH key leaves every authorized_keys
//! file it reached (the login user's and root's, where cloud-init writes it), and a second look
//! confirms it is gone: an image must not carry a key to its build. kiln does this unless
//! `ssh_clear_authorized_keys` is false; Packer only when it is true.

use crate::connect::ConnectState;
use crate::plugin::BuildCx;
use crate::step::{ProvisionState, Step};
use crate::{Error, Result};
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::ssh::shell_quote;

/// Removes the temporary key from authorized_keys and verifies it.
pub struct StepCleanupTempKeys {
    /// The communicator options (`ssh_clear_authorized_keys`).
    pub config: CommConfig,
}

/// A script that removes every line containing `$1` from each file named after it, keeping
/// the files' modes and owners, and fails if one still contains it.
const CLEAN: &str = r#"k=$1; shift; for f in "$@"; do
  [ -f "$f" ] || continue
  if grep -qF -- "$k" "$f"; then
    grep -vF -- "$k" "$f" > "$f.kiln-tmp" || true
    cat "$f.kiln-tmp" > "$f" && rm -f "$f.kiln-tmp"
  fi
  if grep -qF -- "$k" "$f"; then echo "still in $f" >&2; exit 3; fi
done"#;

fn script(key_body: &str) -> String {
    let clean = shell_quote(CLEAN);
    let key = shell_quote(key_body);
    // root's file needs root: directly, or through passwordless sudo when there is one.
    format!(
        "sh -c {clean} sh {key} \"$HOME/.ssh/authorized_keys\" || exit $?; \
         if [ \"$(id -u)\" = 0 ]; then sh -c {clean} sh {key} /root/.ssh/authorized_keys; \
         elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
           sudo -n sh -c {clean} sh {key} /root/.ssh/authorized_keys; \
         else echo 'kiln: no root access: /root/.ssh/authorized_keys not checked' >&2; fi"
    )
}

#[async_trait]
impl<S: ConnectState + ProvisionState> Step<S> for StepCleanupTempKeys {
    fn name(&self) -> &'static str {
        "StepCleanupTempKeys"
    }

    async fn run(&mut self, cx: &BuildCx, state: &mut S) -> Result<()> {
        if self.config.ssh_clear_authorized_keys == Some(false) {
            return Ok(());
        }
        let (Some(public), Some(comm)) = (state.temporary_public_key(), state.communicator())
        else {
            return Ok(());
        };
        let body = kiln_comm::keys::public_body(&public).to_string();
        if body.is_empty() || comm.kind() != "ssh" {
            return Ok(());
        }
        cx.ui
            .say("Removing the temporary SSH key from authorized_keys...");
        let notes = std::sync::Mutex::new(Vec::<String>::new());
        let code = comm
            .exec(kiln_comm::RemoteCommand {
                command: &script(&body),
                on_output: &|o| {
                    if let kiln_comm::Output::Stderr(l) = o {
                        notes.lock().expect("notes lock").push(l);
                    }
                },
                cancel: cx.cancel.clone(),
            })
            .await?;
        let notes = notes.into_inner().expect("notes lock");
        for n in notes.iter().filter(|n| n.starts_with("kiln:")) {
            cx.ui.message(n);
        }
        if code != 0 {
            return Err(Error::msg(format!(
                "the temporary SSH key could not be removed from authorized_keys (exit {code}): {}",
                notes.join("; ")
            )));
        }
        cx.ui
            .message("The temporary key is in no authorized_keys file (checked).");
        Ok(())
    }
}
