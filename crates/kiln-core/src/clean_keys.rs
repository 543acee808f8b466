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

/// A script that removes every line containing `$1` from each file named after it, in
/// place (the files keep their modes and owners), then reads each again: exit 3 if one still
/// contains it. Shell builtins only: it runs once per build on every machine, and a process
/// per line of work is most of its time.
const CLEAN: &str = r#"k=$1; shift; for f in "$@"; do
  [ -f "$f" ] || continue
  kept=; found=
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in *"$k"*) found=1 ;; *) kept="$kept$l
" ;; esac
  done < "$f"
  if [ -n "$found" ]; then
    printf '%s' "$kept" > "$f" || { echo "cannot rewrite $f" >&2; exit 3; }
  fi
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in *"$k"*) echo "still in $f" >&2; exit 3 ;; esac
  done < "$f"
done"#;

/// The command that cleans the login user's file and root's (`root`: its home), where
/// cloud-init writes the key too: directly when the user may write there (root), else
/// through passwordless sudo when there is one, else it says root's file was not checked.
fn script(key_body: &str, root: &str) -> String {
    let clean = shell_quote(CLEAN);
    let key = shell_quote(key_body);
    let root_dir = shell_quote(root);
    let root_file = shell_quote(&format!("{root}/.ssh/authorized_keys"));
    format!(
        "if [ -w {root_dir} ]; then exec sh -c {clean} sh {key} \"$HOME/.ssh/authorized_keys\" {root_file}; fi; \
         sh -c {clean} sh {key} \"$HOME/.ssh/authorized_keys\" || exit $?; \
         if command -v sudo >/dev/null 2>&1; then \
           sudo -n sh -c {clean} sh {key} {root_file} 2>/dev/null; r=$?; \
           if [ $r = 0 ]; then exit 0; fi; \
           if [ $r = 3 ]; then echo \"still in \"{root_file} >&2; exit 3; fi; \
         fi; \
         echo 'kiln: no root access: '{root_file}' not checked' >&2"
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
                command: &script(&body, "/root"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, home: &std::path::Path) -> (i32, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("HOME", home)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn removes_only_the_key_lines_from_both_files_and_keeps_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIKilnTemporaryKeyBody+/=";
        let mut files = vec![];
        for dir in [home.path(), root.path()] {
            std::fs::create_dir_all(dir.join(".ssh")).unwrap();
            let f = dir.join(".ssh/authorized_keys");
            // Leading blanks, a backslash, a glob character and a last line without a
            // newline survive; both lines with the key go.
            std::fs::write(
                &f,
                format!(
                    "ssh-ed25519 AAAAown own@host\nssh-ed25519 {key} packer_1\n  # a \\ comment *\nfrom=\"*\" ssh-ed25519 {key} again\nssh-rsa AAAAlast last"
                ),
            )
            .unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            files.push(f);
        }
        let (code, err) = run(&script(key, root.path().to_str().unwrap()), home.path());
        assert_eq!(code, 0, "{err}");
        for f in &files {
            assert_eq!(
                std::fs::read_to_string(f).unwrap(),
                "ssh-ed25519 AAAAown own@host\n  # a \\ comment *\nssh-rsa AAAAlast last\n"
            );
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Nothing to remove: the files are left as they are, and that is success too.
        let before = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
        let (code, err) = run(&script(key, root.path().to_str().unwrap()), home.path());
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
            before
        );
    }

    #[test]
    fn a_file_that_cannot_be_rewritten_fails_with_its_name() {
        // /proc/version reads as a regular file that nobody, root included, may write.
        let version = std::fs::read_to_string("/proc/version").unwrap();
        let word = version.split_whitespace().next().unwrap();
        let home = tempfile::tempdir().unwrap();
        let (code, err) = run(
            &format!("sh -c {} sh {word} /proc/version", shell_quote(CLEAN)),
            home.path(),
        );
        // The write fails (EIO), or a shell whose printf does not say so: the second read
        // finds the line still there. Either way the file is named and the exit is 3.
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("cannot rewrite /proc/version") || err.contains("still in /proc/version"),
            "{err}"
        );
    }
}
