//! SIGINT during a long shell-local provisioner: cleanup runs, exit 1, no process left behind.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// True if the process exists and is not a zombie (a zombie has exited; whether it is reaped
/// depends on this machine's init, not on kiln).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
    }
}

#[test]
fn sigint_cancels_cleans_up_and_leaves_no_process() {
    interrupt_cancels_cleans_up_and_leaves_no_process(libc::SIGINT);
}

#[test]
fn sigterm_cancels_cleans_up_and_leaves_no_process() {
    interrupt_cancels_cleans_up_and_leaves_no_process(libc::SIGTERM);
}

fn interrupt_cancels_cleans_up_and_leaves_no_process(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(
        &t,
        r#"{"builders": [{"type": "file", "content": "x", "target": "out.txt"}],
            "provisioners": [{"type": "shell-local", "inline": ["sleep 600 & echo $! > child.pid; echo $$ > shell.pid; wait"]}],
            "error-cleanup-provisioner": {"type": "shell-local", "inline": ["touch cleanup-ran"]}}"#,
    )
    .unwrap();
    let child = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", t.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child_pid_file = dir.path().join("child.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !child_pid_file.exists()
        || std::fs::read_to_string(&child_pid_file)
            .unwrap()
            .trim()
            .is_empty()
    {
        assert!(Instant::now() < deadline, "provisioner never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sleep_pid: i32 = std::fs::read_to_string(&child_pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let shell_pid: i32 = std::fs::read_to_string(dir.path().join("shell.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(sleep_pid));
    // SAFETY: sending a signal to the kiln process we started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Cleanly cancelled builds after being interrupted."),
        "{text}"
    );
    assert!(
        dir.path().join("cleanup-ran").exists(),
        "error-cleanup provisioner did not run:\n{text}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(sleep_pid), "sleep 600 survived");
    assert!(!alive(shell_pid), "provisioner shell survived");
}

/// Interrupts in the first milliseconds (reading and planning the template, starting the
/// build) cancel the run cleanly: exit 1, "Cleanly cancelled", within moments. One that
/// lands before kiln's first instructions run finds the default action and kills it; kiln
/// catches signals before it does or says anything, so such a run said nothing. (kiln used
/// to register its handler only once the builds were starting, so an interrupt could kill it
/// after it had begun.)
#[test]
fn an_interrupt_during_startup_cancels_cleanly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["sleep 30"]}]}"#,
    )
    .unwrap();
    let mut cancelled = 0;
    for i in 0..40u64 {
        let child = kiln()
            .current_dir(dir.path())
            .args(["build", "-color=false", tpl.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 * (i % 20)));
        // SAFETY: signalling the kiln process this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let started = Instant::now();
        let out = child.wait_with_output().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the interrupt was not acted on"
        );
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        if out.status.signal() == Some(libc::SIGINT) {
            assert!(
                text.is_empty(),
                "killed by SIGINT after it had started:\n{text}"
            );
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("Cleanly cancelled builds after being interrupted."),
            "{text}"
        );
        cancelled += 1;
    }
    assert!(cancelled > 0, "no interrupt reached kiln after it started");
}
