//! Follows ansible-playbook's output line by line to explain a failure: which task, which host,
//! and ansible's own message.

/// What went wrong, as far as the output tells.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The task that failed (`TASK [role : name]`).
    pub task: Option<String>,
    /// The host it failed on.
    pub host: Option<String>,
    /// Ansible's message for it.
    pub message: Option<String>,
}

/// Watches the output stream.
#[derive(Debug, Default)]
pub struct Watcher {
    current_task: Option<String>,
    /// The first failure seen.
    pub failure: Option<Failure>,
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Watcher {
    /// Feeds one line of output.
    pub fn line(&mut self, raw: &str) {
        let line = strip_ansi(raw);
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("TASK [") {
            self.current_task = rest.split_once(']').map(|(t, _)| t.to_string());
            return;
        }
        for marker in ["fatal: [", "failed: ["] {
            if let Some(rest) = line.strip_prefix(marker) {
                if self.failure.is_some() {
                    return;
                }
                let (host, detail) = rest.split_once(']').unwrap_or((rest, ""));
                let message = detail
                    .split_once("\"msg\": \"")
                    .and_then(|(_, m)| m.split_once('"').map(|(m, _)| m.to_string()))
                    .or_else(|| {
                        let d = detail.trim_start_matches(':').trim();
                        (!d.is_empty()).then(|| d.chars().take(300).collect())
                    });
                self.failure = Some(Failure {
                    task: self.current_task.clone(),
                    host: Some(host.split(" -> ").next().unwrap_or(host).to_string()),
                    message,
                });
            }
        }
    }

    /// A sentence for the build error, given the exit code.
    pub fn explain(&self, code: i32) -> String {
        match &self.failure {
            Some(f) => format!(
                "ansible-playbook failed (exit {code}): task \"{}\" failed on host {}: {}",
                f.task.as_deref().unwrap_or("?"),
                f.host.as_deref().unwrap_or("?"),
                f.message.as_deref().unwrap_or("see the output above")
            ),
            None => format!("ansible-playbook exited with status {code}; see the output above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_task_host_and_message() {
        let mut w = Watcher::default();
        for l in [
            "PLAY [all] *****",
            "TASK [Gathering Facts] *****",
            "ok: [127.0.0.1]",
            "TASK [sudo : Install the ops sudoers rule] ******",
            "\u{1b}[0;31mfatal: [127.0.0.1]: FAILED! => {\"changed\": false, \"msg\": \"failed to validate\"}\u{1b}[0m",
        ] {
            w.line(l);
        }
        assert_eq!(
            w.explain(2),
            "ansible-playbook failed (exit 2): task \"sudo : Install the ops sudoers rule\" failed on host 127.0.0.1: failed to validate"
        );
        assert_eq!(
            Watcher::default().explain(4),
            "ansible-playbook exited with status 4; see the output above"
        );
    }
}
