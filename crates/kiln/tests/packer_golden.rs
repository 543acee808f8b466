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
    // Every headline and error as Packer's, but the compressor's name: kiln's gzip is not
    // Packer's parallel pgzip and says so.
    let expected_says = golden("chain.says")
        .replace(" with pgzip", " with gzip")
        .replace(
            "Using pgzip compression with 2 cores",
            "Using gzip compression with 1 core",
        );
    assert_eq!(say_lines(&text), expected_says);
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
    // -force starts the manifest afresh (Packer's manifest post-processor does the same).
    let out = run_in(dir.path(), &["build", "-force", t.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    assert_eq!(m["builds"].as_array().unwrap().len(), 1, "{m}");
    assert_eq!(m["last_run_uuid"], m["builds"][0]["packer_run_uuid"]);
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

#[test]
fn time_functions_render_like_packer_at_the_same_instant() {
    // Packer's run printed its start time; kiln is started at that same instant.
    let want = golden("functions_time.messages");
    let field = |key: &str| {
        want.lines()
            .find_map(|l| l.split_once(&format!("null: {key}: ")).map(|(_, v)| v))
            .unwrap_or_else(|| panic!("{key} missing from the golden"))
            .to_string()
    };
    let (secs, nanos) = (field("timestamp"), field("nanos"));
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("functions_time.json");
    let init = format!("{secs}{nanos}");
    let out = run_in(
        dir.path(),
        &["build", "-machine-readable", fixture.to_str().unwrap()],
        &[("KILN_INIT_TIME", init.as_str())],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let got = message_lines(&text);
    // uuid is random past its first 32 bits, which are the time of the call in hex (as
    // Packer's: the clock, not the run's start time).
    let uuid_shape = |text: &str, now: i64| -> String {
        text.lines()
            .map(|l| match l.split_once("null: uuid: ") {
                Some((_, u)) => {
                    let groups: Vec<usize> = u.split('-').map(str::len).collect();
                    assert_eq!(groups, [8, 4, 4, 4, 12], "{u}");
                    assert!(u.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()), "{u}");
                    let t = i64::from_str_radix(&u[..8], 16).unwrap();
                    assert!((t - now).abs() < 120, "{u}: not a time near {now}");
                    "    null: uuid: (time-ordered)\n".to_string()
                }
                None => format!("{l}\n"),
            })
            .collect()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(
        uuid_shape(&got, now),
        uuid_shape(&want, secs.parse().unwrap())
    );
}

#[test]
fn inspect_prints_what_packer_prints() {
    for name in ["inspect_full", "inspect_required", "inspect_empty"] {
        let fixture = fixtures().join(format!("inspect/{name}.json"));
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(dir.path(), &["inspect", fixture.to_str().unwrap()], &[]);
        assert!(out.status.success());
        assert_eq!(stdout(&out), golden(&format!("{name}.inspect")), "{name}");
        let out = run_in(
            dir.path(),
            &["inspect", "-machine-readable", fixture.to_str().unwrap()],
            &[],
        );
        let machine: String = stdout(&out)
            .lines()
            .map(|l| format!("{}\n", l.split_once(',').map(|(_, r)| r).unwrap_or(l)))
            .collect();
        assert_eq!(
            machine,
            golden(&format!("{name}.inspect-machine")),
            "{name} machine-readable"
        );
    }
}

#[test]
fn shell_local_post_processor_always_keeps_its_input() {
    // Packer 1.6.6 with this template: artifact-count 2, both "File", out.txt kept.
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    std::fs::write(
        &t,
        r#"{"builders": [{"type": "file", "content": "x", "target": "out.txt"}],
            "post-processors": [{"type": "shell-local", "inline": ["echo hi"], "keep_input_artifact": false}]}"#,
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-machine-readable", t.to_str().unwrap()],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        artifact_lines(&text)
            .lines()
            .filter(|l| l.contains(",id,") || l.contains("artifact-count"))
            .collect::<Vec<_>>(),
        [
            "file,artifact-count,2",
            "file,artifact,0,id,File",
            "file,artifact,1,id,File"
        ]
    );
    assert!(dir.path().join("out.txt").exists());
}

#[test]
fn local_plugins_match_packer_artifacts_files_sums_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures().join("plugins.json");
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
    assert_eq!(artifact_lines(&text), golden("plugins.artifacts"));
    assert_eq!(message_lines(&text), golden("plugins.messages"));
    assert_eq!(listing(dir.path()), golden("plugins.files"));
    let want: serde_json::Value = serde_json::from_str(&golden("plugins.manifest.json")).unwrap();
    assert_eq!(normalized_manifest(&dir.path().join("manifest.json")), want);
    let mut sums = String::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("sums"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        sums.push_str(&format!("== {name}\n"));
        sums.push_str(&std::fs::read_to_string(dir.path().join("sums").join(name)).unwrap());
    }
    let tar = std::process::Command::new("tar")
        .args(["tzvf", "packed-f.tar.gz"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    sums.push_str("== packed-f.tar.gz\n");
    sums.push_str(&String::from_utf8_lossy(&tar.stdout));
    assert_eq!(sums, golden("plugins.sums"));
}

#[test]
fn hcl2_in_json_syntax_builds_and_inspects_as_packer() {
    // A directory of a .pkr.json and a .pkr.hcl, with an auto var file in JSON and a JSON
    // -var-file: the values, templates and blocks as Packer read them.
    let fixture = fixtures().join("hcl_json");
    let dir = tempfile::tempdir().unwrap();
    let var_file = format!("-var-file={}", fixture.join("given.json").display());
    let template = fixture.join("dir");
    let out = run_in(
        dir.path(),
        &[
            "build",
            "-machine-readable",
            &var_file,
            template.to_str().unwrap(),
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(message_lines(&text), golden("hcl_json.messages"));
    assert_eq!(say_lines(&text), golden("hcl_json.says"));
    assert_eq!(listing(dir.path()), golden("hcl_json.files"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("built.txt")).unwrap(),
        "hello demo in US-EAST-1\n"
    );
    let out = run_in(dir.path(), &["inspect", template.to_str().unwrap()], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), golden("hcl_json.inspect"));
}
