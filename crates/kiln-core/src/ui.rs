//! Everything a user sees: human output (a colour per build), Packer's `-machine-readable`
//! CSV lines, or kiln's JSON-lines event stream. Every line goes through the [`Redactor`].

use crate::redact::Redactor;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// How output is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human text; `color` adds a colour per build, `timestamps` prefixes each line.
    Human {
        /// ANSI colours on.
        color: bool,
        /// RFC 3339 time before each line (`-timestamp-ui`).
        timestamps: bool,
    },
    /// Packer's `timestamp,target,type,args...` lines.
    MachineReadable,
    /// One JSON object per line.
    Json,
}

/// The kinds of human lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Say,
    Message,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Say => "say",
            Level::Message => "message",
            Level::Error => "error",
        }
    }
}

/// Packer's per-build colours, in the order builds are assigned them (sorted by name).
const COLORS: [u8; 5] = [32, 36, 35, 33, 34];

struct Inner {
    format: Format,
    out: Mutex<Box<dyn Write + Send>>,
    redactor: Mutex<Redactor>,
}

/// The output sink shared by every build. Cheap to clone.
#[derive(Clone)]
pub struct Ui {
    inner: Arc<Inner>,
}

impl Ui {
    /// A UI writing to `out`.
    pub fn new(format: Format, out: Box<dyn Write + Send>) -> Ui {
        Ui {
            inner: Arc::new(Inner {
                format,
                out: Mutex::new(out),
                redactor: Mutex::new(Redactor::default()),
            }),
        }
    }

    /// The output format.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// Sets the secrets to mask from now on.
    pub fn set_redactor(&self, r: Redactor) {
        *self.inner.redactor.lock().expect("ui lock") = r;
    }

    /// Masks secrets in a string (for text that leaves through another path, e.g. files):
    /// the run's and those learned while it runs ([`crate::redact::hide`]).
    pub fn redact(&self, text: &str) -> String {
        let text = self.inner.redactor.lock().expect("ui lock").redact(text);
        crate::redact::redact_learned(&text)
    }

    fn write_raw(&self, line: &str) {
        let mut out = self.inner.out.lock().expect("ui lock");
        // Output errors (a closed pipe) must not abort a build that is creating resources.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    fn color(&self) -> bool {
        matches!(self.inner.format, Format::Human { color: true, .. })
    }

    fn emit(&self, level: Level, build: Option<&str>, color: Option<u8>, text: &str) {
        let text = self.redact(text);
        match self.inner.format {
            Format::Human {
                color: use_color,
                timestamps,
            } => {
                let code = match (level, color) {
                    (Level::Error, _) => Some((1, 31)),
                    (Level::Say, Some(c)) => Some((1, c)),
                    (Level::Message, Some(c)) => Some((0, c)),
                    _ => None,
                };
                let text = match code {
                    Some((b, c)) if use_color => format!("\x1b[{b};{c}m{text}\x1b[0m"),
                    _ => text,
                };
                // With -timestamp-ui each message of a build gets the local time once, as
                // Packer stamps its build UIs (run-wide lines stay unstamped).
                let line = if timestamps && build.is_some() {
                    let now = chrono::Local::now();
                    format!(
                        "{}: {text}\n",
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                } else {
                    format!("{text}\n")
                };
                self.write_raw(&line);
            }
            Format::MachineReadable => {
                self.machine_line("", "ui", &[level.name(), &text]);
            }
            Format::Json => {
                let ev = serde_json::json!({
                    "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "type": level.name(),
                    "build": build,
                    "message": text,
                });
                self.write_raw(&format!("{ev}\n"));
            }
        }
    }

    fn machine_line(&self, target: &str, kind: &str, args: &[&str]) {
        let ts = chrono::Utc::now().timestamp();
        let args: Vec<String> = args
            .iter()
            .map(|a| machine_escape(&self.redact(a)))
            .collect();
        let mut line = format!("{ts},{target},{kind}");
        for a in args {
            line.push(',');
            line.push_str(&a);
        }
        line.push('\n');
        self.write_raw(&line);
    }

    /// An untargeted message, e.g. `Build 'x' finished ...`.
    pub fn say(&self, text: &str) {
        self.emit(Level::Say, None, None, text);
    }

    /// An untargeted error.
    pub fn error(&self, text: &str) {
        self.emit(Level::Error, None, None, text);
    }

    /// A machine-readable record (`-machine-readable` only; a JSON event with `--json`).
    pub fn machine(&self, target: &str, kind: &str, args: &[&str]) {
        match self.inner.format {
            Format::MachineReadable => self.machine_line(target, kind, args),
            Format::Json => {
                let ev = serde_json::json!({
                    "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "type": kind,
                    "build": if target.is_empty() { None } else { Some(target) },
                    "data": args.iter().map(|a| self.redact(a)).collect::<Vec<_>>(),
                });
                self.write_raw(&format!("{ev}\n"));
            }
            Format::Human { .. } => {}
        }
    }

    /// A UI for one build. `index` is the build's position among builds sorted by name.
    pub fn for_build(&self, name: &str, index: usize) -> BuildUi {
        BuildUi {
            ui: self.clone(),
            name: name.to_string(),
            prefix: name.to_string(),
            color: Some(COLORS[index % COLORS.len()]),
        }
    }

    /// Prints Packer's colour legend (`name: output will be in this color.`) for colour output.
    pub fn color_legend(&self, builds: &[BuildUi]) {
        if !self.color() || builds.is_empty() {
            return;
        }
        for b in builds {
            b.ui.emit(
                Level::Say,
                Some(&b.name),
                b.color,
                &format!("{}: output will be in this color.", b.prefix),
            );
        }
        self.write_raw("\n");
    }
}

/// Escapes one machine-readable field as Packer does.
pub fn machine_escape(s: &str) -> String {
    s.replace(',', "%!(PACKER_COMMA)")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// Output for one build: `==> name: ...` and `    name: ...` lines in the build's colour.
#[derive(Clone)]
pub struct BuildUi {
    ui: Ui,
    name: String,
    prefix: String,
    color: Option<u8>,
}

impl BuildUi {
    /// The build name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared UI.
    pub fn root(&self) -> &Ui {
        &self.ui
    }

    /// Packer's targeted prefix on every line of a message (`==> name: ` or four spaces and
    /// `name: `), trailing white space trimmed: one message stays one output record.
    fn prefixed(&self, arrow: bool, text: &str) -> String {
        let arrow = if arrow { "==>" } else { "   " };
        let mut out = String::new();
        for line in text.split('\n') {
            out.push_str(&format!("{arrow} {}: {line}\n", self.prefix));
        }
        out.truncate(out.trim_end().len());
        out
    }

    /// A step headline: `==> name: text`.
    pub fn say(&self, text: &str) {
        let text = self.prefixed(true, text);
        self.ui
            .emit(Level::Say, Some(&self.name), self.color, &text);
    }

    /// Output detail: `    name: text` (each line of a multi-line text).
    pub fn message(&self, text: &str) {
        let text = self.prefixed(false, text);
        self.ui
            .emit(Level::Message, Some(&self.name), self.color, &text);
    }

    /// An error line for this build: `==> name: text` in red.
    pub fn error(&self, text: &str) {
        let text = self.prefixed(true, text);
        self.ui
            .emit(Level::Error, Some(&self.name), self.color, &text);
    }

    /// An untargeted line in this build's colour (`Build 'x' finished ...`).
    pub fn say_plain(&self, text: &str) {
        self.ui.emit(Level::Say, Some(&self.name), self.color, text);
    }

    /// An untargeted error line (`Build 'x' errored ...`).
    pub fn error_plain(&self, text: &str) {
        self.ui
            .emit(Level::Error, Some(&self.name), self.color, text);
    }

    /// The UI for a post-processor of this build: `==> name (type): ...`.
    pub fn for_post_processor(&self, kind: &str) -> BuildUi {
        BuildUi {
            prefix: format!("{} ({kind})", self.name),
            ..self.clone()
        }
    }

    /// Masks secrets.
    pub fn redact(&self, text: &str) -> String {
        self.ui.redact(text)
    }
}

/// A `Write` that appends to a shared buffer; for tests and for capturing output.
#[derive(Clone, Default)]
pub struct SharedBuffer(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer lock")).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_readable_escapes_and_redacts() {
        let buf = SharedBuffer::default();
        let ui = Ui::new(Format::MachineReadable, Box::new(buf.clone()));
        ui.set_redactor(Redactor::new(["hunter2"]));
        let b = ui.for_build("b2", 0);
        b.message("hello hunter2, comma");
        ui.machine("b2", "artifact", &["0", "id", "a\nb"]);
        let out = buf.contents();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].ends_with(",,ui,message,    b2: hello <sensitive>%!(PACKER_COMMA) comma"),
            "{out}"
        );
        assert!(lines[1].ends_with(",b2,artifact,0,id,a\\nb"), "{out}");
        assert!(lines[0].split(',').next().unwrap().parse::<i64>().is_ok());
    }

    #[test]
    fn human_colors_only_when_enabled() {
        let buf = SharedBuffer::default();
        let ui = Ui::new(
            Format::Human {
                color: false,
                timestamps: false,
            },
            Box::new(buf.clone()),
        );
        ui.for_build("x", 0).say("hi");
        assert_eq!(buf.contents(), "==> x: hi\n");
        let buf = SharedBuffer::default();
        let ui = Ui::new(
            Format::Human {
                color: true,
                timestamps: false,
            },
            Box::new(buf.clone()),
        );
        ui.for_build("x", 1).say("hi");
        assert_eq!(buf.contents(), "\x1b[1;36m==> x: hi\x1b[0m\n");
    }

    #[test]
    fn json_events_are_json() {
        let buf = SharedBuffer::default();
        let ui = Ui::new(Format::Json, Box::new(buf.clone()));
        ui.set_redactor(Redactor::new(["pw123"]));
        ui.for_build("x", 0).error("bad pw123");
        let v: serde_json::Value = serde_json::from_str(buf.contents().trim()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["build"], "x");
        assert_eq!(v["message"], "==> x: bad <sensitive>");
    }
}
