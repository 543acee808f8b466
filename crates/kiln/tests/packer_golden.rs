//! kiln against outputs recorded from Packer 1.6.6 (scripts/gen-goldens.py).

mod common;
use common::*;

#[test]
fn chain_build_matches_packer_artifacts_manifest_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("chain.json");
    let out = run_in(
        dir.path(),
        &[
            "build",
            "-machine-readable",
            "-parallel-builds=1",
            fixture.to_str().unwrap(),
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(artifact_lines(&text), golden("chain.artifacts"));
    // Packer 1.6.6 prints the sensitive value in machine-readable output; kiln masks it.
    let expected_messages = golden("chain.messages").replace("s3cr3t-value", "<sensitive>");
    assert_eq!(message_lines(&text), expected_messages);
    assert!(!text.contains("s3cr3t-value"), "secret leaked:\n{text}");
    let files = listing(dir.path());
    assert_eq!(files, golden("chain.files"));
    let want: serde_json::Value = serde_json::from_str(&golden("chain.manifest.json")).unwrap();
    assert_eq!(normalized_manifest(&dir.path().join("manifest.json")), want);
}

#[test]
fn function_corpus_renders_like_packer() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("functions.json");
    let out = run_in(
        dir.path(),
        &[
            "build",
            "-machine-readable",
            "-var",
            "overridden=from-flag",
            fixture.to_str().unwrap(),
        ],
        &[("KILN_TEST_VALUE", "env-value")],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let fixtures_dir = std::fs::canonicalize(fixtures()).unwrap();
    let work = std::fs::canonicalize(dir.path()).unwrap();
    let normalized = message_lines(&text)
        .replace(fixtures_dir.to_str().unwrap(), "FIXTURES")
        .replace(work.to_str().unwrap(), "WORKDIR");
    assert_eq!(normalized, golden("functions.messages"));
}

#[test]
fn repeated_runs_append_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(
        &t,
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "post-processors": [{"type": "manifest", "output": "m.json", "strip_path": true}]}"#,
    )
    .unwrap();
    for _ in 0..2 {
        let out = run_in(dir.path(), &["build", t.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}", stdout(&out));
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let builds = m["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    assert_ne!(builds[0]["packer_run_uuid"], builds[1]["packer_run_uuid"]);
    assert_eq!(m["last_run_uuid"], builds[1]["packer_run_uuid"]);
}

#[test]
fn validate_exit_codes_match_packer() {
    let dir = fixtures().join("validate");
    let mut got = String::new();
    for case in std::fs::read_to_string(dir.join("cases.txt"))
        .unwrap()
        .lines()
    {
        if case.trim().is_empty() {
            continue;
        }
        let mut args = vec!["validate"];
        args.extend(case.split_whitespace());
        let out = run_in(&dir, &args, &[]);
        got.push_str(&format!("{case} => {}\n", out.status.code().unwrap_or(-1)));
    }
    assert_eq!(got, golden("validate.codes"));
}
