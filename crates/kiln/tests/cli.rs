//! Command-line behaviour: exit codes, diagnostics, validate, inspect.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn seed_template(fixed: bool) -> (tempfile::TempDir, PathBuf) {
    let mut json = seed_json();
    if fixed {
        json = json.replacen("\"elasticsearch\"\n", "\"elasticsearch\",\n", 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, json).unwrap();
    (dir, path)
}

#[test]
fn seed_missing_comma_is_pointed_at() {
    let (dir, path) = seed_template(false);
    let out = run_in(dir.path(), &["validate", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("seed.json:5:5: missing comma"), "{text}");
    assert!(text.contains("add a ',' at the end of line 4"), "{text}");
    assert!(
        text.contains("4 |     \"name\": \"elasticsearch\""),
        "{text}"
    );
    assert!(text.contains("  |     ^"), "{text}");
}

#[test]
fn seed_inspect_lists_variables_builders_provisioners() {
    let (dir, path) = seed_template(true);
    let out = run_in(dir.path(), &["inspect", path.to_str().unwrap()], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for want in [
        "  aws_region = us-east-1\n",
        "  version    = 1-0-0\n",
        "Builders:\n\n  amazon-ebs\n",
        "Provisioners:\n\n  shell\n  ansible-local\n  shell\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn exit_codes_follow_packer() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        run_in(dir.path(), &["frobnicate"], &[]).status.code(),
        Some(127)
    );
    assert_eq!(
        run_in(dir.path(), &["build", "-nope", "x.json"], &[])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run_in(dir.path(), &["build", "missing.json"], &[])
            .status
            .code(),
        Some(1)
    );
    let v = run_in(dir.path(), &["version"], &[]);
    assert!(stdout(&v).contains("Packer 1.6.6 compatible"));
    let v = run_in(dir.path(), &["-machine-readable", "version"], &[]);
    assert!(stdout(&v).contains(",,version,"));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn validate_reports_success_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.json",
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["true"]}]}"#,
    );
    let out = run_in(dir.path(), &["validate", &good], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("The configuration is valid."));
    let out = run_in(dir.path(), &["validate", "-syntax-only", &good], &[]);
    assert!(stdout(&out).contains("Syntax-only check passed."));

    let bad = write(
        dir.path(),
        "bad.json",
        "{\"builders\": [{\"type\": \"null\", \"communicator\": \"none\"}],\n \"provisioners\": [{\"type\": \"shell-local\",\n   \"inlin\": [\"true\"]}]}",
    );
    let out = run_in(dir.path(), &["validate", &bad], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("bad.json:3:4: build \"null\": provisioners[0] (shell-local): unknown configuration key \"inlin\""), "{text}");
    assert!(text.contains("did you mean \"inline\"?"), "{text}");
}

#[test]
fn required_variables_and_var_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"variables": {"req": null},
            "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["echo value={{user `req`}}"]}]}"#,
    );
    let out = run_in(dir.path(), &["build", &t], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("required variable not set: req"));
    let vf = write(dir.path(), "vars.json", r#"{"req": "from-file"}"#);
    let out = run_in(dir.path(), &["build", "-var-file", &vf, &t], &[]);
    assert!(stdout(&out).contains("value=from-file"), "{}", stdout(&out));
    let out = run_in(
        dir.path(),
        &["build", "-var-file", &vf, "-var", "req=from-flag", &t],
        &[],
    );
    assert!(stdout(&out).contains("value=from-flag"));
}

#[test]
fn env_is_accepted_in_builder_fields() {
    // Packer forbids {{env}} outside `variables`; the seed relies on it, so kiln accepts it.
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "file", "content": "{{env `KILN_ENV_TEST`}}", "target": "out.txt"}]}"#,
    );
    let out = run_in(dir.path(), &["build", &t], &[("KILN_ENV_TEST", "from-env")]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "from-env"
    );
}

#[test]
fn only_and_except_select_builds_and_named_post_processors() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "file", "name": "a", "content": "a", "target": "a.txt"},
                         {"type": "file", "name": "b", "content": "b", "target": "b.txt"}],
            "post-processors": [{"type": "checksum", "name": "sums", "output": "{{.BuildName}}.sum"}]}"#,
    );
    let out = run_in(dir.path(), &["build", "-only=a", &t], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(dir.path().join("a.txt").exists() && !dir.path().join("b.txt").exists());
    assert!(dir.path().join("a.sum").exists());
    let out = run_in(dir.path(), &["build", "-except=a,sums", &t], &[]);
    assert!(out.status.success());
    assert!(dir.path().join("b.txt").exists() && !dir.path().join("b.sum").exists());
}

#[test]
fn dry_run_creates_and_runs_nothing_and_says_what_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "file", "content": "a", "target": "a.txt"}],
            "provisioners": [{"type": "shell-local", "inline": ["touch provisioned"]},
                             {"type": "sleep", "duration": "1s"}],
            "post-processors": [[{"type": "checksum", "output": "a.sum"},
                                 {"type": "manifest", "name": "list", "output": "m.json"}]]}"#,
    );
    let out = run_in(dir.path(), &["build", "-dry-run", &t], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(
        &text,
        &[
            "==> file: Dry run: checking what this build would do; nothing is created or run.",
            "==> file: Nothing to check: this builder creates nothing outside this machine.",
            "==> file: Would run 2 provisioner(s): shell-local, sleep",
            "==> file: Would run post-processors: checksum -> list (type manifest)",
            "==> Dry run finished: nothing was created.",
        ],
    );
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "t.json")
        .collect();
    assert!(made.is_empty(), "made: {made:?}");
    // A template the plan refuses fails the dry run as it fails a build.
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"builders": [{"type": "nope"}]}"#,
    );
    let out = run_in(dir.path(), &["build", "-dry-run", &bad], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn json_event_stream_is_one_object_per_line_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"variables": {"pw": "hunter2hunter2"}, "sensitive-variables": ["pw"],
            "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["echo pw={{user `pw`}}", "echo {{user `pw`}} | base64"]}]}"#,
    );
    let out = run_in(dir.path(), &["build", "--json", &t], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let mut saw = false;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if v["message"]
            .as_str()
            .is_some_and(|m| m.contains("pw=<sensitive>"))
        {
            saw = true;
        }
    }
    assert!(saw, "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("aHVudGVyMmh1bnRlcjI"),
        "{text}"
    );
}

#[test]
fn debug_log_goes_to_packer_log_path_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"variables": {"token": "tok-123456"}, "sensitive-variables": ["token"],
            "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "environment_vars": ["T={{user `token`}}"], "inline": ["true"]}]}"#,
    );
    let log = dir.path().join("kiln.log");
    let out = run_in(
        dir.path(),
        &["build", "-var", "token=tok-123456", &t],
        &[
            ("PACKER_LOG", "1"),
            ("PACKER_LOG_PATH", log.to_str().unwrap()),
        ],
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("running step StepProvision"), "{text}");
    assert!(text.contains("executing"), "{text}");
    assert!(!text.contains("tok-123456"), "secret in log:\n{text}");
    assert!(text.contains("<sensitive>"), "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.as_bytes()[4] == b'/' && first.as_bytes()[7] == b'/',
        "Go log format: {first}"
    );
    // Without PACKER_LOG nothing is logged.
    let out = run_in(dir.path(), &["build", &t], &[]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn on_error_controls_the_error_cleanup_provisioner() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["exit 7"]}],
            "error-cleanup-provisioner": {"type": "shell-local", "inline": ["touch cleaned"]}}"#,
    );
    let out = run_in(dir.path(), &["build", "-on-error=abort", &t], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("Script exited with non-zero exit status: 7"));
    assert!(!dir.path().join("cleaned").exists());
    let out = run_in(dir.path(), &["build", &t], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("cleaned").exists());
    std::fs::remove_file(dir.path().join("cleaned")).unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-on-error=run-cleanup-provisioner", &t],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("cleaned").exists(), "{}", stdout(&out));
    assert!(stdout(&out).contains("Aborting without cleanup"));
    let out = run_in(dir.path(), &["build", "-on-error=sometimes", &t], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("-on-error must be one of"));
}

/// Runs `kiln build -on-error=ask` on a terminal (util-linux `script` gives it one), typing
/// `answers`; returns the exit code and the output.
fn build_on_a_terminal(dir: &std::path::Path, template: &str, answers: &str) -> (i32, String) {
    on_a_terminal(
        dir,
        &["-color=false", "-on-error=ask", template],
        &[],
        answers,
    )
}

#[test]
fn on_error_ask_prompts_on_a_terminal_to_clean_up_abort_or_retry() {
    let dir = tempfile::tempdir().unwrap();
    // Fails the first time only, so a retry succeeds.
    let once = write(
        dir.path(),
        "once.json",
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["test -f once || { touch once; exit 7; }"]}],
            "error-cleanup-provisioner": {"type": "shell-local", "inline": ["touch cleaned"]}}"#,
    );
    let (code, text) = build_on_a_terminal(dir.path(), &once, "x\nretry\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Step \"StepProvision\" failed"), "{text}");
    assert!(text.contains("Incorrect input: \"x\""), "{text}");
    assert!(!dir.path().join("cleaned").exists(), "{text}");

    let always = write(
        dir.path(),
        "always.json",
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["exit 7"]}],
            "error-cleanup-provisioner": {"type": "shell-local", "inline": ["touch cleaned"]}}"#,
    );
    // Abort: no cleanup, so no error-cleanup provisioner either (as Packer).
    let (code, text) = build_on_a_terminal(dir.path(), &always, "a\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Aborting without cleanup"), "{text}");
    assert!(!dir.path().join("cleaned").exists(), "{text}");
    // Enter alone means clean up, which runs the error-cleanup provisioner.
    let (code, text) = build_on_a_terminal(dir.path(), &always, "\n");
    assert_eq!(code, 1, "{text}");
    assert!(dir.path().join("cleaned").exists(), "{text}");
}

#[test]
fn debug_pauses_after_each_step_and_timestamps_prefix_lines() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "file", "content": "x", "target": "o.txt"}],
            "provisioners": [{"type": "shell-local", "inline": ["echo provisioned"]}]}"#,
    );
    let mut child = kiln()
        .current_dir(dir.path())
        .args(["build", "-debug", "-timestamp-ui", &t])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n\n\n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Pausing after run of step 'StepWriteTarget'. Press enter to continue."),
        "{text}"
    );
    assert!(
        text.contains("Pausing after run of step 'StepProvision'."),
        "{text}"
    );
    // As Packer: a pause before each cleanup of a step that ran, in reverse order.
    let before = |step: &str| {
        text.find(&format!("Pausing before cleanup of step '{step}'."))
            .unwrap_or_else(|| panic!("no pause before cleaning up {step}:\n{text}"))
    };
    assert!(before("StepProvision") < before("StepWriteTarget"));
    assert!(text.contains("Debug mode enabled. Builds will not be parallelized."));
    // Each line of the build is stamped with the time; the run's summary lines are not.
    for line in text.lines().filter(|l| l.contains("==> file:")) {
        let (ts, _) = line
            .split_once("Z: ")
            .unwrap_or_else(|| panic!("no timestamp: {line:?}"));
        assert_eq!(ts.len(), 19, "{line}");
        assert_eq!(&ts[4..5], "-");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("==> Wait completed after")),
        "{text}"
    );
}

#[test]
fn parallel_builds_bounds_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "null", "name": "a", "communicator": "none"},
                         {"type": "null", "name": "b", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": [
              "date +%s%N > $PACKER_BUILD_NAME.start", "sleep 1", "date +%s%N > $PACKER_BUILD_NAME.end"]}]}"#,
    );
    let read = |n: &str| -> u128 {
        std::fs::read_to_string(dir.path().join(n))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let overlap = || {
        let (a0, a1, b0, b1) = (
            read("a.start"),
            read("a.end"),
            read("b.start"),
            read("b.end"),
        );
        a0 < b1 && b0 < a1
    };
    let out = run_in(dir.path(), &["build", "-parallel-builds=1", &t], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(!overlap(), "builds overlapped with -parallel-builds=1");
    let out = run_in(dir.path(), &["build", &t], &[]);
    assert!(out.status.success());
    assert!(overlap(), "builds did not run in parallel by default");
}

#[test]
fn errors_that_quote_the_template_mask_sensitive_values() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"variables": {"pw": "hunter22"}, "sensitive-variables": ["pw"],
            "builders": [{"type": "null", "communicator": "none", "bogus": "{{user `pw`}}"}]}"#,
    );
    for args in [
        vec!["validate", t.as_str()],
        vec!["build", t.as_str()],
        vec!["build", "-var", "pw=given-on-argv", t.as_str()],
    ] {
        let out = run_in(dir.path(), &args, &[]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("unknown configuration key \"bogus\""),
            "{text}"
        );
        assert!(text.contains("<sensitive>"), "{text}");
        assert!(!text.contains("hunter22"), "{args:?} leaked:\n{text}");
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_with_packer_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.json",
        r#"{"builders": [{"type": "null", "name": "a", "communicator": "none"},
                         {"type": "null", "name": "b", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": ["echo hi"]}]}"#,
    );
    let (code, text) = on_a_terminal(dir.path(), &[&t], &[], "");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("\x1b[1;32ma: output will be in this color."),
        "{text:?}"
    );
    assert!(
        text.contains("\x1b[1;36m==> b: Running local shell script"),
        "{text:?}"
    );
    for (args, env) in [
        (vec![t.as_str()], vec![("PACKER_NO_COLOR", "1")]),
        (vec!["-color=false", t.as_str()], vec![]),
    ] {
        let (code, text) = on_a_terminal(dir.path(), &args, &env, "");
        assert_eq!(code, 0, "{text}");
        assert!(!text.contains('\x1b'), "{args:?} {env:?}: {text:?}");
    }
    // Not a terminal: no colour either.
    let out = run_in(dir.path(), &["build", &t], &[]);
    assert!(!stdout(&out).contains('\x1b'));
}

#[test]
fn help_lists_the_commands_in_packers_layout() {
    let out = kiln().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0));
    assert_says(
        &help,
        &[
            "Available commands are:\n    build           build image(s) from template\n",
            "\n    hcl2_upgrade    transform a JSON template into an HCL2 configuration\n",
        ],
    );
}
