//! The debug log: off unless `KILN_LOG` or `PACKER_LOG` is set (to anything but "" or "0");
//! written to standard error, or appended to `PACKER_LOG_PATH` / `KILN_LOG_PATH` when set.
//! Lines use Go's log format (`2006/01/02 15:04:05 message`) as Packer's do, and pass through
//! the same secret redaction as the UI.

use crate::redact::Redactor;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    redactor: Mutex<Redactor>,
}

static SINK: OnceLock<Option<Sink>> = OnceLock::new();

fn enabled_by(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn sink() -> Option<&'static Sink> {
    SINK.get_or_init(|| {
        if !enabled_by("KILN_LOG") && !enabled_by("PACKER_LOG") {
            return None;
        }
        let path = std::env::var("KILN_LOG_PATH")
            .ok()
            .or_else(|| std::env::var("PACKER_LOG_PATH").ok())
            .filter(|p| !p.is_empty());
        let out: Box<dyn Write + Send> = match path {
            Some(p) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
            {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("kiln: cannot open log file {p}: {e}; logging to stderr");
                    Box::new(std::io::stderr())
                }
            },
            None => Box::new(std::io::stderr()),
        };
        Some(Sink {
            out: Mutex::new(out),
            redactor: Mutex::new(Redactor::default()),
        })
    })
    .as_ref()
}

/// True when debug logging is on.
pub fn enabled() -> bool {
    sink().is_some()
}

/// Sets the secrets to mask in log lines.
pub fn set_redactor(r: Redactor) {
    if let Some(s) = sink() {
        *s.redactor.lock().expect("log lock") = r;
    }
}

/// Writes one log line (when logging is on).
pub fn log(message: impl std::fmt::Display) {
    let Some(s) = sink() else { return };
    let text = s
        .redactor
        .lock()
        .expect("log lock")
        .redact(&message.to_string());
    let text = crate::redact::redact_learned(&text);
    let ts = chrono::Local::now().format("%Y/%m/%d %H:%M:%S");
    let mut out = s.out.lock().expect("log lock");
    for line in text.lines() {
        let _ = writeln!(out, "{ts} {line}");
    }
    let _ = out.flush();
}
