//! HCL2 templates end to end with the local builders: build names, variables from every
//! source, provisioners per build, manifests, `-only`, and the errors a user meets.

mod common;

use common::*;

const TEMPLATE: &str = r#"
variable "greeting" {
  type    = string
  default = "hello"
}
variable "secret" {
  type      = string
  default   = "s3cr3t-value"
  sensitive = true
}
locals {
  msg = "${var.greeting} world"
  n   = 2 + 3
}
source "null" "one" {
  communicator = "none"
}
source "file" "two" {
  content = "${local.msg}\n"
  target  = "out.txt"
}
build {
  sources = ["source.null.one", "source.file.two"]
  provisioner "shell-local" {
    inline = [
      "echo said: ${local.msg} ${local.n} ${source.name} ${source.type} ${var.secret}",
      "echo legacy: {{ build_name }} {{ build_type }}",
    ]
  }
  post-processor "manifest" {
    output = "manifest.json"
  }
}
"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn an_hcl2_template_builds_as_packer_builds_it() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = write(dir.path(), "t.pkr.hcl", TEMPLATE);
    let out = run_in(dir.path(), &["validate", &tpl], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_says(&stdout(&out), &["The configuration is valid."]);

    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(
        &text,
        &[
            "==> null.one: Running local shell script:",
            "    null.one: said: hello world 5 one null <sensitive>",
            "    file.two: said: hello world 5 two file <sensitive>",
            "    null.one: legacy: one null",
            "Build 'file.two' finished",
            "--> file.two: Stored file: out.txt",
        ],
    );
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "hello world\n"
    );
    // The manifest names builds by their source's name, as Packer does.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = m["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"one") && names.contains(&"two"), "{m}");

    // -only takes Packer's HCL2 build names; secrets stay masked in machine-readable output.
    let out = run_in(
        dir.path(),
        &[
            "build",
            "-machine-readable",
            "-only=null.one",
            "-var",
            "greeting=bonjour",
            &tpl,
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(
        &text,
        &["null.one: said: bonjour world 5 one null <sensitive>"],
    );
    assert!(!text.contains("file.two"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "{text}");

    // HCL2 builds are selected by glob, as in Packer 1.6.6.
    let out = run_in(
        dir.path(),
        &["build", "-color=false", "-except=null.*", &tpl],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(&text, &["Build 'file.two' finished"]);
    assert!(!text.contains("null.one:"), "{text}");
    let out = run_in(
        dir.path(),
        &["build", "-color=false", "-only=*.one", &tpl],
        &[],
    );
    let text = stdout(&out);
    assert_says(&text, &["Build 'null.one' finished"]);
    assert!(!text.contains("file.two:"), "{text}");
    // A legacy name, which selects nothing in HCL2 (as in Packer), is warned about.
    let out = run_in(
        dir.path(),
        &["build", "-color=false", "-only=one", &tpl],
        &[],
    );
    let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_says(
        &said,
        &["Warning: -only=one names no build; the builds are: null.one, file.two (HCL2 builds are named TYPE.NAME)"],
    );
}

#[test]
fn a_directory_is_one_template_with_its_auto_var_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "variables.pkr.hcl",
        "variable \"word\" {\n  default = \"default\"\n}\nvariable \"other\" {\n  default = \"default\"\n}\n",
    );
    write(
        d,
        "build.pkr.hcl",
        "source \"null\" \"x\" {\n  communicator = \"none\"\n}\nbuild {\n  name = \"named\"\n  sources = [\"source.null.x\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo word=${var.word} other=${var.other} build=${build.name}\"]\n  }\n}\n",
    );
    write(
        d,
        "values.auto.pkrvars.hcl",
        "word = \"auto\"\nother = \"auto\"\n",
    );
    write(
        d,
        "given.pkrvars.hcl",
        "other = \"given\"\nundeclared = 1\n",
    );
    let out = run_in(
        d,
        &["build", "-color=false", "-var-file=given.pkrvars.hcl", "."],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_says(
        &text,
        &["    named.null.x: word=auto other=given build=named"],
    );
    // A value for a variable no file declares is warned about, as Packer does, at its place.
    assert_says(
        &format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        &["Warning: given.pkrvars.hcl:2:1: Undefined variable: a \"undeclared\" variable was set"],
    );
    let out = run_in(d, &["inspect", "."], &[]);
    assert_says(
        &stdout(&out),
        &[
            "Packer Inspect: HCL2 mode",
            "var.other: \"auto\"",
            "  > named:",
            "      null.x",
            "      shell-local",
        ],
    );
}

#[test]
fn mistakes_are_reported_at_their_place_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A missing comma in a list.
        (
            "source \"null\" \"x\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.x\" \"source.null.y\"]\n}\n",
            vec!["t.pkr.hcl:5:", "invalid HCL"],
        ),
        (
            "source \"null\" \"x\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.y\"]\n}\n",
            vec!["t.pkr.hcl:5:", "Unknown source", "did you mean \"source.null.x\"?"],
        ),
        (
            "locals {\n  v = uper(\"x\")\n}\n",
            vec!["t.pkr.hcl:2:7", "there is no function named \"uper\""],
        ),
        // A quoted string split over lines, inside an interpolation: refused, as HCL does.
        (
            "locals {\n  a = \"x ${\"a\nb\"} y\"\n}\n",
            vec!["t.pkr.hcl:2:14", "Invalid multi-line string"],
        ),
        (
            "source \"null\" \"x\" {\n  communicator = \"none\"\n  bogus_option = 1\n}\nbuild {\n  sources = [\"source.null.x\"]\n}\n",
            vec!["t.pkr.hcl:3:3", "bogus_option"],
        ),
    ];
    // In JSON syntax, each mistake is said at its place in the JSON, with the JSON's line.
    let json_cases = [
        (
            "{\n  \"source\": {\"null\": {\"x\": {\"communicator\": \"none\"}}}\n  \"build\": {}\n}\n",
            vec!["t.pkr.json:3:3: missing comma", "add a ',' at the end of line 2"],
        ),
        (
            "{\n  \"source\": {\"null\": {\"x\": {\"communicator\": \"none\"}}},\n  \"build\": {\"sources\": [\"source.null.y\"]}\n}\n",
            vec!["t.pkr.json:3:25", "Unknown source", "did you mean \"source.null.x\"?"],
        ),
        (
            "{\n  \"locals\": {\n    \"v\": \"pre ${uper(\\\"x\\\")}\"\n  }\n}\n",
            vec!["t.pkr.json:3:17", "there is no function named \"uper\"", "3 |     \"v\": \"pre ${uper"],
        ),
        (
            "{\"source\": {\"null\": {\"x\": {\"communicator\": \"none\",\n  \"bogus_option\": 1}}},\n \"build\": {\"sources\": [\"source.null.x\"]}}\n",
            vec!["t.pkr.json:2:4", "bogus_option"],
        ),
        (
            "{\"variable\": {\"v\": {\"type\": \"list(\"}}}",
            vec!["t.pkr.json:1:29", "invalid expression \"list(\""],
        ),
        (
            "{\"sources\": {}}",
            vec!["t.pkr.json:1:2", "unsupported block \"sources\"", "did you mean \"source\"?"],
        ),
    ];
    let named = |name: &'static str| move |(text, want)| (name, text, want);
    for (name, text, want) in cases
        .into_iter()
        .map(named("t.pkr.hcl"))
        .chain(json_cases.into_iter().map(named("t.pkr.json")))
    {
        let tpl = write(dir.path(), name, text);
        let out = run_in(dir.path(), &["validate", &tpl], &[]);
        let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{text}\n{said}");
        assert_says(&said, &want);
    }
    // A mistake in a block of a build block with two sources is said once, at the block.
    let tpl = write(
        dir.path(),
        "t.pkr.hcl",
        "source \"null\" \"x\" {\n  communicator = \"none\"\n}\nsource \"null\" \"y\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.x\", \"source.null.y\"]\n  provisioner \"shel\" {}\n}\n",
    );
    let out = run_in(dir.path(), &["validate", &tpl], &[]);
    let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_says(
        &said,
        &["t.pkr.hcl:9:3: build \"null.x\": provisioner \"shel\": unknown provisioner type \"shel\"; did you mean \"shell\"?"],
    );
    assert_eq!(
        said.matches("unknown provisioner type").count(),
        1,
        "{said}"
    );

    let tpl = write(dir.path(), "t.pkr.hcl", TEMPLATE);
    let out = run_in(dir.path(), &["build", "-var", "nope=1", &tpl], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(
        &format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr)),
        &["Undefined -var variable", "\"nope\""],
    );
}

#[test]
fn a_build_blocks_error_cleanup_provisioner_runs_when_its_build_fails() {
    // (Packer 1.6.6 refuses this block; later Packer versions take it, and so does kiln.)
    let dir = tempfile::tempdir().unwrap();
    let tpl = write(
        dir.path(),
        "t.pkr.hcl",
        r#"
source "null" "x" {
  communicator = "none"
}
source "null" "y" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["exit 7"]
  }
  error-cleanup-provisioner "shell-local" {
    inline = ["touch cleaned-${source.name}"]
  }
}
build {
  name    = "fine"
  sources = ["source.null.y"]
  error-cleanup-provisioner "shell-local" {
    inline = ["touch cleaned-${source.name}"]
  }
}
"#,
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_says(&text, &["Script exited with non-zero exit status: 7"]);
    assert!(dir.path().join("cleaned-x").exists(), "{text}");
    assert!(!dir.path().join("cleaned-y").exists(), "{text}");
}

#[test]
fn hcl2_upgrade_writes_a_template_that_builds_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        dir.path(),
        "t.json",
        r#"{
  "min_packer_version": "1.5.0",
  "variables": {"who": "world", "home": "{{env `HOME`}}", "secret": "hunter2-secret"},
  "sensitive-variables": ["secret"],
  "builders": [
    {"type": "null", "name": "first", "communicator": "none"},
    {"type": "null", "communicator": "none"}
  ],
  "provisioners": [
    {"type": "shell-local", "inline": [
      "echo hello {{user `who`}} from {{build_name}} home={{user `home`}} shell=${PWD:+set} {{user `secret`}}",
      "echo stamp={{timestamp}}"],
     "pause_before": "1s", "max_retries": 2},
    {"type": "shell-local", "only": ["first"], "inline": ["echo only first"],
     "override": {"first": {"inline": ["echo overridden for first"]}}}
  ]
}"#,
    );
    let env = [("KILN_INIT_TIME", "1600000000")];
    let out = run_in(
        dir.path(),
        &["hcl2_upgrade", "-output-file=t.pkr.hcl", &json],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_says(&stdout(&out), &["Successfully created t.pkr.hcl"]);
    let hcl = std::fs::read_to_string(dir.path().join("t.pkr.hcl")).unwrap();
    assert_says(
        &hcl,
        &[
            "required_version = \">= 1.5.0\"",
            "default = \"${env(\"HOME\")}\"",
            "sensitive = true",
            "source \"null\" \"first\" {",
            "source \"null\" \"null\" {",
            "shell=$${PWD:+set}",
            "max_retries  = 2",
            "pause_before = \"1s\"",
            "only   = [\"null.first\"]",
            "\"null.first\" = {",
        ],
    );

    // Both say the same things, each under its own build names.
    let said = |template: &str| -> Vec<String> {
        let out = run_in(dir.path(), &["build", "-color=false", template], &env);
        let text = stdout(&out);
        assert!(out.status.success(), "{text}");
        let mut lines: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().split_once(": ").map(|(_, said)| said.to_string()))
            .filter(|l| l.starts_with("hello") || l.starts_with("stamp") || l.contains("first"))
            .filter(|l| !l.contains("finished"))
            .collect();
        lines.sort();
        lines
    };
    let legacy = said(&json);
    let upgraded = said("t.pkr.hcl");
    assert_eq!(legacy, upgraded);
    assert!(
        legacy
            .iter()
            .any(|l| l.starts_with("hello world from first home=/")
                && l.ends_with("shell=set <sensitive>")),
        "{legacy:?}"
    );
    assert!(
        legacy.contains(&"overridden for first".to_string()),
        "{legacy:?}"
    );
    assert!(
        legacy.contains(&"stamp=1600000000".to_string()),
        "{legacy:?}"
    );
}

/// Templates written for Packer 1.7 and later: `required_version` and `required_plugins`
/// are checked against what kiln has; `kiln init` says which plugins are built in.
#[test]
fn templates_for_later_packers_build_and_init_checks_their_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = |extra: &str| {
        format!(
            "packer {{\n  required_version = \">= 1.8.0\"\n  required_plugins {{\n    docker = {{\n      version = \">= 1.0.0\"\n      source  = \"github.com/hashicorp/docker\"\n    }}\n{extra}  }}\n}}\nsource \"null\" \"one\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.one\"]\n}}\n"
        )
    };
    let tpl = write(dir.path(), "t.pkr.hcl", &plugins(""));
    let out = run_in(dir.path(), &["init", &tpl], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "github.com/hashicorp/docker >= 1.0.0: built into kiln (the docker builder and post-processors)\n"
    );
    let out = run_in(dir.path(), &["build", "-color=false", &tpl], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
    assert_says(
        &text,
        &[
            "Warning: ",
            "requires Packer version >= 1.8.0; kiln follows Packer 1.6.6",
        ],
    );

    let more = "    sshkey = {\n      version = \">= 1.0.1\"\n      source = \"github.com/ivoronin/sshkey\"\n    }\n";
    let tpl = write(dir.path(), "t.pkr.hcl", &plugins(more));
    let out = run_in(dir.path(), &["init", &tpl], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(
        &String::from_utf8_lossy(&out.stderr),
        &["Error: plugin sshkey (github.com/ivoronin/sshkey) is not built into kiln"],
    );
    let out = run_in(dir.path(), &["validate", &tpl], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
    assert_says(
        &text,
        &[
            "Warning: ",
            "plugin sshkey (github.com/ivoronin/sshkey) is not built into kiln",
            "The configuration is valid.",
        ],
    );

    // Legacy JSON: min_packer_version of a later 1.x release is warned of; Packer 2 refused.
    for (min, code) in [("1.9.2", 0), ("2.0.0", 1)] {
        let t = write(
            dir.path(),
            "t.json",
            &format!(
                r#"{{"min_packer_version": "{min}", "builders": [{{"type": "null", "communicator": "none"}}]}}"#
            ),
        );
        let out = run_in(dir.path(), &["validate", &t], &[]);
        assert_eq!(out.status.code(), Some(code), "{min}");
        let text = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
        assert_says(&text, &[&format!("requires Packer version >= {min}")]);
    }
    let out = run_in(dir.path(), &["init", "t.json"], &[]);
    assert_eq!(out.status.code(), Some(0));
}

/// `kiln console`: each line of standard input evaluated in the template's context.
#[test]
fn console_evaluates_lines_in_the_templates_context() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let tpl = write(dir.path(), "t.pkr.hcl", TEMPLATE);
    let json = write(
        dir.path(),
        "t.json",
        r#"{"variables": {"r": "x", "pw": "hunter2-pw"}, "sensitive-variables": ["pw"],
            "builders": [{"type": "null", "communicator": "none"}]}"#,
    );
    let console = |args: &[&str], input: &str| {
        let mut c = kiln()
            .current_dir(dir.path())
            .arg("console")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = console(
        &["-var", "greeting=hi", &tpl],
        "local.msg\nupper(var.greeting)\nlocal.n * 2\n[local.n, \"a\", { \"z-b\" = [], k = true, n = null }]\nvar.secret\nvariables\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("hi world\nHI\n10\n[\n  5,\n  \"a\",\n  {\n    \"k\" = true\n    \"z-b\" = []\n  },\n]\n<sensitive>\n> input-variables:\n\nvar.greeting: \"hi\"\n"),
        "{out}"
    );
    assert!(!out.contains("s3cr3t-value"), "{out}");
    let (code, out, err) = console(&[&tpl], "1 +\nvar.nope\nexit\nlocal.msg\n");
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert_says(
        &err,
        &[
            "<console-input>:1:",
            "does not have an attribute named \"nope\"",
        ],
    );
    // Legacy JSON: Go templates with the user variables.
    let (code, out, _) = console(
        &[&json],
        "{{user `r`}}-{{ upper \"y\" }}\n{{user `pw`}}\nvariables\n",
    );
    assert_eq!(code, Some(0));
    assert_eq!(out, "x-Y\n<sensitive>\npw: <sensitive>\nr: x\n");
    let (code, out, _) = console(&["-config-type=hcl2"], "join(\"-\", [\"a\", \"b\"])\n");
    assert_eq!((code, out.as_str()), (Some(0), "a-b\n"));
}
