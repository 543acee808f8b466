//! Running a command over a session channel, streaming its output, killing it on cancel.

use super::{failed, shell_quote, SshCommunicator};
use crate::lines::Lines;
use crate::{CommError, Output, RemoteCommand};
use russh::ChannelMsg;

/// How the wrapper reports the remote shell's pid (so a cancelled command's process group
/// can be killed); the line is removed from the output.
const PID_MARK: &str = "KILN-REMOTE-PID:";

pub(super) async fn run(comm: &SshCommunicator, cmd: RemoteCommand<'_>) -> Result<i32, CommError> {
    let mut ch = comm.session().await?;
    if comm.pty {
        ch.request_pty(false, "xterm", 200, 50, 0, 0, &[])
            .await
            .map_err(|e| failed("requesting a PTY", e))?;
    }
    if super::connect::forwarded_agent(&comm.config).is_some() {
        ch.agent_forward(false)
            .await
            .map_err(|e| failed("requesting agent forwarding", e))?;
    }
    // The login shell reports its pid first; the command runs in that same shell.
    let wrapped = format!("echo {PID_MARK}$$ >&2; {}", cmd.command);
    ch.exec(true, wrapped)
        .await
        .map_err(|e| failed("starting the command", e))?;
    let mut out = Lines::default();
    let mut err = Lines::default();
    let mut pid: Option<u32> = None;
    let mut code: Option<i32> = None;
    let on_line = |line: String, is_err: bool, pid: &mut Option<u32>| {
        if let Some(p) = line.strip_prefix(PID_MARK) {
            if pid.is_none() {
                *pid = p.trim().parse().ok();
                return;
            }
        }
        (cmd.on_output)(if is_err {
            Output::Stderr(line)
        } else {
            Output::Stdout(line)
        });
    };
    loop {
        let msg = tokio::select! {
            m = ch.wait() => m,
            _ = cmd.cancel.cancelled() => {
                kill_remote(comm, pid).await;
                let _ = ch.close().await;
                return Err(CommError::Cancelled);
            }
        };
        match msg {
            Some(ChannelMsg::Data { data }) => out.push(&data, |l| on_line(l, false, &mut pid)),
            Some(ChannelMsg::ExtendedData { data, .. }) => {
                err.push(&data, |l| on_line(l, true, &mut pid))
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => code = Some(exit_status as i32),
            Some(ChannelMsg::ExitSignal { .. }) => code = Some(-1),
            Some(_) => {}
            None => break,
        }
    }
    out.finish(|l| on_line(l, false, &mut pid));
    err.finish(|l| on_line(l, true, &mut pid));
    if code.is_none() {
        // A connection that went quiet for ssh_read_write_timeout was ended on purpose: say so
        // (a connection that merely dropped, as in a reboot, reports -1).
        if let Some(why) = comm.config.tripped.lock().expect("tripped lock").take() {
            return Err(CommError::Failed(format!(
                "the connection to {} stopped answering while running the command: {why}",
                comm.target
            )));
        }
    }
    Ok(code.unwrap_or(-1))
}

/// Terminates the remote command's process group: TERM, then KILL after two seconds.
async fn kill_remote(comm: &SshCommunicator, pid: Option<u32>) {
    let Some(pid) = pid else { return };
    // Plain `kill -SIG -PGID` (no `--`): dash, Debian's /bin/sh, rejects `--`.
    let script = format!(
        "kill -TERM -{pid} 2>/dev/null; kill -TERM {pid} 2>/dev/null; \
         for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -{pid} 2>/dev/null || exit 0; sleep 0.2; done; \
         kill -KILL -{pid} 2>/dev/null; kill -KILL {pid} 2>/dev/null; exit 0"
    );
    if let Ok(mut ch) = comm.session().await {
        if ch
            .exec(true, format!("sh -c {}", shell_quote(&script)))
            .await
            .is_ok()
        {
            while ch.wait().await.is_some() {}
        }
    }
}
