//! QMP, the QEMU Machine Protocol, as far as the builder uses it: `qmp_enable` opens the
//! socket (`-qmp unix:PATH,server,nowait`) and holds a session while the VM runs; with
//! `vnc_use_password` the session sets the VNC password, as Packer's does. The socket file is
//! journaled and removed when the build ends (by `kiln cleanup` after a kill -9).

use super::builder::State;
use super::{journal, QMP};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// An open QMP session, out of capabilities negotiation.
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connects to the socket at `path` (waiting up to `budget` for QEMU to make it), reads
    /// the greeting and leaves negotiation.
    pub async fn connect(path: &Path, budget: Duration) -> Result<Qmp, String> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if start.elapsed() >= budget => {
                    return Err(format!("Error opening QMP socket: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let (r, w) = stream.into_split();
        let mut q = Qmp {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = q.message().await?;
        if greeting.get("QMP").is_none() {
            return Err(format!(
                "Error connecting to QMP socket: no greeting ({greeting})"
            ));
        }
        q.execute("qmp_capabilities", None)
            .await
            .map_err(|e| format!("Error connecting to QMP socket: {e}"))?;
        Ok(q)
    }

    /// One JSON message from QEMU.
    async fn message(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
            .await
            .map_err(|_| "QEMU did not answer on the QMP socket".to_string())?
            .map_err(|e| format!("reading the QMP socket: {e}"))?;
        if n == 0 {
            return Err("QEMU closed the QMP socket".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("QEMU's QMP message {line:?}: {e}"))
    }

    /// Runs a command; its `return`, or the error QEMU gave (events in between are skipped).
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = json!({ "execute": command });
        if let Some(a) = arguments {
            request["arguments"] = a;
        }
        let mut text = request.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("writing to the QMP socket: {e}"))?;
        loop {
            let m = self.message().await?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                let desc = e.get("desc").and_then(Value::as_str).unwrap_or("error");
                return Err(format!("{command}: {desc}"));
            }
            // An event ({"event": ...}): not the answer.
        }
    }
}

/// Opens the QMP session the options ask for and sets the VNC password over it.
pub struct StepConfigureQmp;

#[async_trait]
impl Step<State> for StepConfigureQmp {
    fn name(&self) -> &'static str {
        "stepConfigureQMP"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if !c.qmp_enable {
            return Ok(());
        }
        let path = c.qmp_socket_path.clone();
        // QEMU made the socket as it started (StepRun): it is the build's until removed.
        journal(cx, QMP, &path, &path, Event::Created);
        cx.ui.say(&format!("QMP socket at: {path}"));
        let mut qmp = Qmp::connect(Path::new(&path), Duration::from_secs(2))
            .await
            .map_err(Error::msg)?;
        if let Some(password) = &s.vnc_password {
            qmp.execute("change-vnc-password", Some(json!({ "password": password })))
                .await
                .map_err(|e| Error::msg(format!("Error setting the VNC password over QMP: {e}")))?;
        }
        s.qmp = Some(qmp);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let c = &s.settings.c;
        if !c.qmp_enable {
            return;
        }
        s.qmp = None;
        let path = Path::new(&c.qmp_socket_path);
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => cx.ui.error(&format!(
                "Failed to delete the QMP socket {}: {e}",
                path.display()
            )),
            _ => journal(
                cx,
                QMP,
                &c.qmp_socket_path,
                &c.qmp_socket_path,
                Event::Deleted,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[tokio::test]
    async fn commands_skip_events_and_errors_are_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.monitor");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                .await
                .unwrap();
            let mut got = vec![];
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap();
                let answer = match v["execute"].as_str().unwrap() {
                    "qmp_capabilities" => "{\"return\": {}}\n",
                    "change-vnc-password" => {
                        "{\"event\": \"NIC_RX_FILTER_CHANGED\"}\n{\"return\": {}}\n"
                    }
                    _ => "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}\n",
                };
                w.write_all(answer.as_bytes()).await.unwrap();
                got.push(v);
            }
            got
        });
        let mut q = Qmp::connect(&path, Duration::from_secs(2)).await.unwrap();
        q.execute("change-vnc-password", Some(json!({"password": "pw"})))
            .await
            .unwrap();
        let e = q.execute("nope", None).await.unwrap_err();
        assert_eq!(e, "nope: The command nope has not been found");
        drop(q);
        let got = server.await.unwrap();
        assert_eq!(got[1]["arguments"]["password"], "pw");
        let missing = Qmp::connect(&dir.path().join("none"), Duration::from_millis(100))
            .await
            .err()
            .unwrap();
        assert!(missing.starts_with("Error opening QMP socket"), "{missing}");
    }
}
