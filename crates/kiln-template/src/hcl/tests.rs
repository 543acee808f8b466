//! The HCL2 front end against small templates: evaluation, variables, builds.

use super::load;
use crate::ir::Template;
use crate::value::Value;
use crate::variables::Overrides;
use std::path::Path;

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2020-01-02T03:04:05Z")
        .unwrap()
        .into()
}

fn load_text(text: &str, o: &Overrides) -> Result<Template, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.pkr.hcl");
    std::fs::write(&p, text).unwrap();
    load(&p, o, at()).map_err(|e| e.to_string())
}

/// The value of `local.v` as JSON, for a template declaring `locals { v = EXPR }` and more.
fn local(decls: &str, expr: &str) -> serde_json::Value {
    let t = load_text(
        &format!(
            "{decls}\nlocals {{ v = {expr} }}\nsource \"null\" \"x\" {{ probe = local.v }}\nbuild {{ sources = [\"source.null.x\"] }}\n"
        ),
        &Overrides::default(),
    )
    .unwrap();
    t.builders[0].config.get("probe").unwrap().to_json()
}

#[test]
fn expressions_evaluate_as_in_hcl() {
    use serde_json::json;
    assert_eq!(local("", "2 + 3 * 4"), json!(14));
    assert_eq!(
        local("", "\"${10 / 4} ${7 % 3} ${2.50 * 2}\""),
        json!("2.5 1 5")
    );
    assert_eq!(local("", "1 < 2 && !false ? \"y\" : \"n\""), json!("y"));
    assert_eq!(
        local("", "[for s in [\"a\", \"b\"] : upper(s)]"),
        json!(["A", "B"])
    );
    assert_eq!(
        local("", "{ for k, v in { x = 1, y = 2 } : k => v * 2 if v > 1 }"),
        json!({"y": 4})
    );
    assert_eq!(local("", "[{ id = 1 }, { id = 2 }][*].id"), json!([1, 2]));
    // A template that is one interpolation keeps the value's type.
    assert_eq!(local("", "\"${[1, 2]}\""), json!([1, 2]));
    assert_eq!(
        local(
            "",
            "\"%{ for x in [1, 2] }<${x}>%{ endfor }%{ if true }!%{ else }?%{ endif }\""
        ),
        json!("<1><2>!")
    );
    assert_eq!(
        local(
            "locals {\n  h = <<-EOT\n    a\n      b\n    EOT\n}",
            "local.h"
        ),
        json!("a\n  b\n")
    );
    assert_eq!(
        local("", "try(local.nope, \"fallback\")"),
        json!("fallback")
    );
    assert_eq!(local("", "can(local.nope)"), json!(false));
    assert_eq!(local("", "timestamp()"), json!("2020-01-02T03:04:05Z"));
    assert_eq!(
        local("", "regex_replace(timestamp(), \"[- TZ:]\", \"\")"),
        json!("20200102030405")
    );
    assert_eq!(
        local("", "regex_replace(\"a-b\", \"(a)-(b)\", \"$2$1\")"),
        json!("ba")
    );
    assert_eq!(
        local("", "join(\",\", split(\"/\", \"a/b\"), [\"c\"])"),
        json!("a,b,c")
    );
    assert_eq!(
        local("", "merge({ a = 1, b = 2 }, { b = 3 })"),
        json!({"a": 1, "b": 3})
    );
    assert_eq!(local("", "format(\"%s-%03d\", \"x\", 7)"), json!("x-007"));
    assert_eq!(
        local("", "formatdate(\"DD MMM YYYY\", \"2021-06-07T00:00:00Z\")"),
        json!("07 Jun 2021")
    );
    assert_eq!(
        local("", "jsondecode(jsonencode({ a = [1, \"x\"] }))"),
        json!({"a": [1, "x"]})
    );
    assert_eq!(local("", "length(keys({ b = 1, a = 2 }))"), json!(2));
}

#[test]
fn locals_use_each_other_in_any_order_and_cycles_are_errors() {
    assert_eq!(
        local("locals {\n  b = \"${local.a}!\"\n  a = \"A\"\n}", "local.b"),
        serde_json::json!("A!")
    );
    let e = load_text(
        "locals {\n  a = local.b\n  b = local.a\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("t.pkr.hcl:2:"), "{e}");
    assert!(e.contains("refers to itself"), "{e}");
}

#[test]
fn errors_point_at_the_file_line_and_column() {
    let cases = [
        ("source \"null\" \"x\" {\n  a = \n}\n", "t.pkr.hcl:2:"),
        (
            "locals {\n  v = nope(1)\n}\n",
            "there is no function named \"nope\"",
        ),
        ("locals {\n  v = var.missing\n}\n", "t.pkr.hcl:2:"),
        ("sorce \"null\" \"x\" {}\n", "did you mean \"source\"?"),
        (
            "source \"null\" \"x\" {}\nbuild { sources = [\"source.null.y\"] }\n",
            "did you mean \"source.null.x\"?",
        ),
        (
            "packer {\n  required_version = \">= 2.0.0\"\n}\n",
            "requires Packer version >= 2.0.0",
        ),
        (
            "packer {\n  required_plugins {\n    x = \"github.com/a/x\"\n  }\n}\n",
            "required_plugins: x must be { source",
        ),
        (
            "variable \"n\" {\n  type = number\n  default = \"x\"\n}\n",
            "Invalid default value",
        ),
    ];
    for (text, want) in cases {
        let e = load_text(text, &Overrides::default()).unwrap_err();
        assert!(e.contains(want), "{text}\n=> {e}");
    }
}

#[test]
fn variables_take_default_env_auto_file_var_file_then_var() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("vars.pkr.hcl"),
        r#"
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "e" { default = "default" }
variable "n" {
  type = list(number)
  default = []
}
variable "s" {
  sensitive = true
  default   = "hunter22"
}
"#,
    )
    .unwrap();
    std::fs::write(
        d.join("build.pkr.hcl"),
        r#"
source "null" "x" {
  probe = [var.a, var.b, var.c, var.d, var.e, var.n]
}
build { sources = ["source.null.x"] }
"#,
    )
    .unwrap();
    std::fs::write(
        d.join("x.auto.pkrvars.hcl"),
        "c = \"auto\"\nd = \"auto\"\ne = \"auto\"\n",
    )
    .unwrap();
    std::fs::write(d.join("given.pkrvars.hcl"), "d = \"file\"\ne = \"file\"\n").unwrap();
    let mut o = Overrides::default();
    o.add_var_file(&d.join("given.pkrvars.hcl")).unwrap();
    o.vars.push(("e".into(), "flag".into()));
    o.vars.push(("n".into(), "[1, \"2\"]".into()));
    // (PKR_VAR_ is read from the process environment; this test's variable names are its own.)
    std::env::set_var("PKR_VAR_b", "env");
    let t = load(d, &o, at()).unwrap();
    std::env::remove_var("PKR_VAR_b");
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json(),
        serde_json::json!(["default", "env", "auto", "file", "flag", [1, 2]])
    );
    assert_eq!(t.secrets, vec!["hunter22".to_string()]);
    let inputs = &t.hcl.as_ref().unwrap().inputs;
    assert!(inputs.contains(&("s".to_string(), "\"<sensitive>\"".to_string())));

    let mut o = Overrides::default();
    o.vars.push(("n".into(), "[\"x\"]".into()));
    let e = load(d, &o, at()).unwrap_err().to_string();
    assert!(e.contains("invalid value for variable \"n\""), "{e}");
    let mut o = Overrides::default();
    o.vars.push(("zz".into(), "1".into()));
    let e = load(d, &o, at()).unwrap_err().to_string();
    assert!(e.contains("Undefined -var variable"), "{e}");
}

#[test]
fn an_unset_variable_is_an_error_at_its_declaration() {
    let e = load_text(
        "variable \"r\" {\n  type = string\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("t.pkr.hcl:1:1"), "{e}");
    assert!(e.contains("Unset variable \"r\""), "{e}");
}

#[test]
fn a_validation_block_refuses_a_bad_value() {
    let text = "variable \"size\" {\n  default = 3\n  validation {\n    condition     = var.size > 5\n    error_message = \"size must be over 5\"\n  }\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n";
    let e = load_text(text, &Overrides::default()).unwrap_err();
    assert!(e.contains("size must be over 5"), "{e}");
    let mut o = Overrides::default();
    o.vars.push(("size".into(), "6".into()));
    assert!(load_text(text, &o).is_ok());
}

fn config(t: &Template, i: usize) -> serde_json::Value {
    t.builders[i].config.to_json()
}

#[test]
fn builds_are_named_and_provisioners_evaluated_per_source() {
    let t = load_text(
        r#"
source "null" "a" { communicator = "none" }
source "file" "b" { content = "x" }
build {
  name    = "web"
  sources = ["source.null.a", "source.file.b"]
  source "source.null.a" {
    name = "renamed"
    extra = 1
  }
  provisioner "shell-local" {
    inline = ["${source.type}/${source.name}/${build.name}/${build.ID}"]
    pause_before = "2s"
    max_retries  = 3
    override = {
      "file.b" = { inline = ["overridden"] }
    }
  }
  provisioner "shell-local" {
    only   = ["file.b"]
    inline = ["only b"]
  }
  post-processors {
    post-processor "manifest" { }
    post-processor "checksum" { keep_input_artifact = true }
  }
}
"#,
        &Overrides::default(),
    )
    .unwrap();
    let names: Vec<(&str, &str)> = t
        .builders
        .iter()
        .map(|b| (b.name.as_str(), b.key()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a", "web.null.a"),
            ("b", "web.file.b"),
            ("renamed", "web.null.renamed")
        ]
    );
    assert_eq!(config(&t, 2)["extra"], serde_json::json!(1));
    let for_build = |key: &str| -> Vec<serde_json::Value> {
        t.provisioners
            .iter()
            .filter(|p| p.only == vec![key.to_string()])
            .map(|p| p.config.get("inline").unwrap().to_json())
            .collect()
    };
    assert_eq!(
        for_build("web.null.a"),
        vec![serde_json::json!(["null/a/web/{{ build `ID` }}"])]
    );
    assert_eq!(
        for_build("web.file.b"),
        vec![
            serde_json::json!(["overridden"]),
            serde_json::json!(["only b"])
        ]
    );
    let p = &t.provisioners[0];
    assert_eq!(p.pause_before, Some(std::time::Duration::from_secs(2)));
    assert_eq!(p.max_retries, 3);
    // One chain per build, in order; keep_input_artifact read apart from the config.
    assert_eq!(t.post_processors.len(), 3);
    assert_eq!(t.post_processors[0][1].keep_input_artifact, Some(true));
    assert!(t.post_processors[0][1]
        .config
        .get("keep_input_artifact")
        .is_none());
}

#[test]
fn nested_and_dynamic_blocks_become_objects_and_lists() {
    let t = load_text(
        r#"
locals { disks = { sdb = 10, sdc = 20 } }
source "null" "x" {
  filter {
    owners = ["self"]
  }
  mapping {
    name = "sda"
  }
  dynamic "mapping" {
    for_each = local.disks
    iterator = d
    content {
      name = d.key
      size = d.value
    }
  }
}
build { sources = ["source.null.x"] }
"#,
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        config(&t, 0),
        serde_json::json!({
            "filter": {"owners": ["self"]},
            "mapping": [{"name": "sda"}, {"name": "sdb", "size": 10}, {"name": "sdc", "size": 20}],
        })
    );
}

#[test]
fn json_syntax_blocks_read_as_the_native_ones() {
    // The same as above, in JSON syntax: a plugin's blocks as objects, `dynamic` as a block.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.pkr.json");
    std::fs::write(
        &p,
        r#"{
  "locals": {"disks": {"sdb": 10, "sdc": 20}},
  "source": {"null": {"x": {
    "filter": {"owners": ["self"]},
    "mapping": {"name": "sda"},
    "dynamic": {"mapping": {"for_each": "${local.disks}", "iterator": "d",
                            "content": {"name": "${d.key}", "size": "${d.value}"}}},
    "tags": {"kubernetes.io/cluster": "owned", "Name": "${upper(\"x\")}"}
  }}},
  "build": {"sources": ["source.null.x"]}
}"#,
    )
    .unwrap();
    let t = load(&p, &Overrides::default(), at()).unwrap();
    assert_eq!(
        config(&t, 0),
        serde_json::json!({
            "filter": {"owners": ["self"]},
            "mapping": [{"name": "sda"}, {"name": "sdb", "size": 10}, {"name": "sdc", "size": 20}],
            "tags": {"kubernetes.io/cluster": "owned", "Name": "X"},
        })
    );
}

#[test]
fn a_directory_without_templates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path(), &Overrides::default(), at())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Could not find any config file"), "{e}");
    let _ = Value::string("");
    assert!(!Path::new("").is_dir());
}

#[test]
fn yaml_convert_and_bcrypt_evaluate_in_templates() {
    use serde_json::json;
    // Each compared with `packer console` (1.6.6).
    assert_eq!(
        local("", "yamldecode(\"a: [yes, 1_000, '~']\\nb: ~\")"),
        json!({"a": [true, 1000, "~"], "b": null})
    );
    assert_eq!(
        local("", "yamlencode({b = [1, \"x\"], a = \"l1\\nl2\"})"),
        json!("\"a\": |-\n  l1\n  l2\n\"b\":\n- 1\n- \"x\"\n")
    );
    assert_eq!(
        local("", "convert([\"a\", 1, true], list(string))"),
        json!(["a", "1", "true"])
    );
    assert_eq!(
        local("", "convert({a = 1}, map(string))"),
        json!({"a": "1"})
    );
    let h = local("", "bcrypt(\"pw\", 4)");
    assert!(h.as_str().unwrap().starts_with("$2a$04$"), "{h}");
    let e = load_text(
        "locals { v = convert(1, \"string\") }\nsource \"null\" \"x\" { a = local.v }\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("Invalid type specification"), "{e}");
}

#[test]
fn results_match_packer_where_they_once_differed() {
    use serde_json::json;
    // Each compared with `packer inspect` (1.6.6).
    assert_eq!(
        local(
            "",
            "\"x %{ if true ~}  yes  %{~ else ~} no %{~ endif ~} z\""
        ),
        json!("x yesz")
    );
    assert_eq!(
        local(
            "",
            "\"x %{ if false ~}  yes  %{~ else ~} no %{~ endif ~} z\""
        ),
        json!("x noz")
    );
    assert_eq!(
        local(
            "",
            "\"[%{ for v in [\"a\", \"b\"] ~} ${v} %{~ endfor ~} ]\""
        ),
        json!("[ab]")
    );
    assert_eq!(
        local(
            "",
            "\"%{ for k, v in { b = 1, a = 2 } }${k}${v}%{ endfor }\""
        ),
        json!("a2b1")
    );
    assert_eq!(
        local("", "[for k, v in { b = 1, a = 2 } : k]"),
        json!(["a", "b"])
    );
    assert_eq!(
        local("", "\"${1.0} ${1e3} ${0.1 + 0.2}\""),
        json!("1 1000 0.3")
    );
    assert_eq!(
        local("", "jsonencode({ b = 1, a = 2 })"),
        json!("{\"a\":2,\"b\":1}")
    );
    assert_eq!(
        local("", "replace(\"a/b/c\", \"/b/\", \"X\")"),
        json!("aXc")
    );
    assert_eq!(local("", "signum(0)"), json!(0));
    assert_eq!(
        local("", "timeadd(\"2020-01-02T03:04:05Z\", \"-1h\")"),
        json!("2020-01-02T02:04:05Z")
    );
    assert_eq!(local("", "title(\"a-b c\")"), json!("A-B C"));
    assert_eq!(local("", "split(\"\", \"abc\")"), json!(["a", "b", "c"]));
    assert_eq!(local("", "urlencode(\"a b&c\")"), json!("a+b%26c"));
    assert_eq!(local("", "parseint(\"zz\", 50)"), json!(1785));
    assert_eq!(local("", "parseint(\"FF\", 16)"), json!(255));
    assert_eq!(local("", "length(range(0, 1, 0.1))"), json!(10));
    assert_eq!(
        local("", "md5(\"x\")"),
        json!("9dd4e461268c8034f5c8564e155c67a6")
    );
    assert_eq!(
        local("", "setproduct([1, 2], [\"a\"])"),
        json!([[1, "a"], [2, "a"]])
    );
    assert_eq!(
        local("", "format(\"%t %x %5.1f|%-3s|\", true, 255, 2.25, \"a\")"),
        json!("true ff   2.2|a  |")
    );
}

#[test]
fn bad_input_is_an_error_not_a_crash() {
    for (expr, want) in [
        ("indent(1e15, \"a\\nb\")", "number of spaces"),
        ("format(\"%99999999999d\", 1)", "width or precision"),
        ("format(\"%.9999999999f\", 1)", "width or precision"),
        ("format(\"%d\", 1.5)", "whole number"),
        ("parseint(\"z\", 10)", "cannot parse"),
        ("range(0, 100000)", "more than 1024"),
    ] {
        let e = load_text(
            &format!("locals {{ v = {expr} }}\nsource \"null\" \"x\" {{}}\nbuild {{ sources = [\"source.null.x\"] }}\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains(want), "{expr} => {e}");
    }
    let e = load_text(
        "packer {\n  required_version = \"~> 1.2.3.4.5\"\n}\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("is not a version constraint"), "{e}");
    let e = load_text(
        "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("t.pkr.hcl:5:7: Duplicate local: local.a"), "{e}");
}

#[test]
fn file_reads_beside_the_template_and_json_var_files_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.txt"), "beside").unwrap();
    std::fs::write(
        d.join("t.pkr.hcl"),
        "variable \"l\" {\n  type = list(string)\n  default = []\n}\nsource \"null\" \"x\" {\n  probe = [file(\"data.txt\"), var.l]\n}\nbuild { sources = [\"source.null.x\"] }\n",
    )
    .unwrap();
    std::fs::write(d.join("v.json"), "{\"l\": [\"a\", 2]}").unwrap();
    let mut o = Overrides::default();
    o.add_var_file(&d.join("v.json")).unwrap();
    // (The test's working directory is not the template's.)
    let t = load(&d.join("t.pkr.hcl"), &o, at()).unwrap();
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json(),
        serde_json::json!(["beside", ["a", "2"]])
    );
}

#[test]
fn a_block_written_once_fills_a_list_option() {
    #[derive(serde::Deserialize, Debug)]
    struct Mapping {
        device_name: String,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Config {
        launch_block_device_mappings: Vec<Mapping>,
    }
    let t = load_text(
        "source \"null\" \"x\" {\n  launch_block_device_mappings {\n    device_name = \"/dev/sda1\"\n  }\n}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap();
    let c: Config = crate::decode::decode(&t.builders[0].config).unwrap();
    assert_eq!(c.launch_block_device_mappings[0].device_name, "/dev/sda1");
}

#[test]
fn a_bool_in_a_string_option_is_true_as_hcl_converts_it() {
    #[derive(serde::Deserialize)]
    struct Config {
        tags: std::collections::BTreeMap<String, String>,
    }
    let t = load_text(
        "source \"null\" \"x\" {\n  tags = { Managed = true, Other = 1 == 2 }\n}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap();
    let c: Config = crate::decode::decode(&t.builders[0].config).unwrap();
    assert_eq!(c.tags["Managed"], "true");
    assert_eq!(c.tags["Other"], "false");
}

#[test]
fn upgraded_strings_read_back_as_the_legacy_text_meant() {
    use super::upgrade::string_expr;
    let e = string_expr("a {{user `x`}} {{ env \"HOME\" }} ${Y} %{z} \"q\\\" {{ .Vars }}\n");
    assert_eq!(
        e,
        r#""a ${var.x} ${env("HOME")} $${Y} %%{z} \"q\\\" {{ .Vars }}\n""#
    );
    std::env::set_var("KILN_TEST_UPGRADE_HOME", "H");
    let v = local(
        "variable \"x\" {\n  default = \"X\"\n}",
        &string_expr("{{user `x`}} {{env `KILN_TEST_UPGRADE_HOME`}} ${Y} %{z} \"q\\\" {{ .Vars }}"),
    );
    assert_eq!(v, serde_json::json!("X H ${Y} %{z} \"q\\\" {{ .Vars }}"));
}

#[test]
fn upgraded_templates_keep_what_legacy_defaults_and_actions_meant() {
    use super::upgrade::{string_expr, upgrade};
    assert_eq!(string_expr("{{user`x`}}"), "\"${var.x}\"");
    assert_eq!(string_expr("a {{- user `x` -}} b"), "\"a ${~ var.x ~} b\"");
    assert_eq!(string_expr("A${{user `x`}}"), "\"A${\"$\"}${var.x}\"");
    assert_eq!(
        string_expr("{{ user `x` | lower }}-{{ lower (env `E`) }}"),
        "\"{{ `${var.x}` | lower }}-{{ lower (`${env(\"E\")}`) }}\""
    );
    let legacy = crate::legacy::parse(&crate::source::Source::new(
        "t.json",
        r#"{"variables": {"base": "foo", "derived": "{{user `base`}}-bar", "n": "1.50"},
            "builders": [{"type": "null", "communicator": "none",
                          "probe": ["{{user `derived`}}", "A${{user `base`}}", "B$${{user `base`}}"],
                          "map": {"null": "n", "for": "f", "num": 1.50}}]}"#,
    ))
    .unwrap();
    let hcl = upgrade(&legacy);
    let t = load_text(&hcl, &Overrides::default()).unwrap_or_else(|e| panic!("{e}\n{hcl}"));
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json(),
        serde_json::json!(["foo-bar", "A$foo", "B$$foo"]),
        "{hcl}"
    );
    let map = t.builders[0].config.get("map").unwrap().to_json();
    assert_eq!(map["null"], serde_json::json!("n"), "{hcl}");
    assert_eq!(map["for"], serde_json::json!("f"), "{hcl}");
    assert_eq!(map["num"], serde_json::json!("1.50"), "{hcl}");
    // The derived variable can still be set.
    let mut o = Overrides::default();
    o.vars.push(("derived".into(), "given".into()));
    let t = load_text(&hcl, &o).unwrap();
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json()[0],
        serde_json::json!("given")
    );
}

#[test]
fn indented_heredocs_are_dedented_as_packer_dedents_them() {
    use serde_json::json;
    // Each compared with `packer inspect` (1.6.6).
    let cases = [
        (
            "<<-EOT\n    start\n    %{ if true }\n    inner\n    %{ endif }\n    EOT",
            "start\n\ninner\n\n",
        ),
        (
            "<<-EOT\n    ${\"q\"}\nab\n    cd\nEOT",
            "    q\nab\n    cd\n",
        ),
        ("<<-EOT\n      x\n\n    y\n  EOT", "  x\n\ny\n"),
        ("<<-EOT\n    p ${\"v\"} r\n      s\n    EOT", "p v r\n  s\n"),
        (
            "<<-EOT\n    x\\ny \"q\" $${z}\n    EOT",
            "x\\ny \"q\" ${z}\n",
        ),
    ];
    for (heredoc, want) in cases {
        assert_eq!(
            local(&format!("locals {{\n  h = {heredoc}\n}}"), "local.h"),
            json!(want),
            "{heredoc}"
        );
    }
    // An error inside one still points at its line in the file.
    let e = load_text(
        "locals {\n  h = <<-EOT\n    a\n    ${nope(1)}\n    EOT\n}\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("t.pkr.hcl:4:"), "{e}");
}

#[test]
fn network_uuid_csv_and_file_set_functions_match_packer() {
    use serde_json::json;
    // Each compared with `packer inspect` (1.6.6).
    for (expr, want) in [
        ("cidrhost(\"10.12.112.0/20\", 16)", json!("10.12.112.16")),
        ("cidrhost(\"10.12.112.0/20\", -2)", json!("10.12.127.254")),
        ("cidrhost(\"fd00::/64\", 5)", json!("fd00::5")),
        ("cidrnetmask(\"172.16.0.0/12\")", json!("255.240.0.0")),
        ("cidrsubnet(\"10.1.2.0/24\", 4, 15)", json!("10.1.2.240/28")),
        (
            "cidrsubnet(\"fd00:fd12:3456:7890::/56\", 16, 162)",
            json!("fd00:fd12:3456:7800:a200::/72"),
        ),
        (
            "cidrsubnets(\"10.1.0.0/16\", 4, 4, 8, 4)",
            json!([
                "10.1.0.0/20",
                "10.1.16.0/20",
                "10.1.32.0/24",
                "10.1.48.0/20"
            ]),
        ),
        (
            "uuidv5(\"dns\", \"www.terraform.io\")",
            json!("a5008fae-b28c-5ba5-96cd-82b4c53552d6"),
        ),
        (
            "csvdecode(\"a,b\\n1,\\\"x,\\\"\\\"y\\\"\\n\")",
            json!([{"a": "1", "b": "x,\"y"}]),
        ),
    ] {
        assert_eq!(local("", expr), want, "{expr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("sub/deep")).unwrap();
    for f in ["a.txt", "b.sh", "sub/c.txt", "sub/deep/d.txt"] {
        std::fs::write(d.join(f), "").unwrap();
    }
    std::fs::write(
        d.join("t.pkr.hcl"),
        "source \"null\" \"x\" {\n  probe = [fileset(\".\", \"*.txt\"), fileset(\".\", \"**/*.txt\"), fileset(\"sub\", \"*\")]\n}\nbuild { sources = [\"source.null.x\"] }\n",
    )
    .unwrap();
    let t = load(&d.join("t.pkr.hcl"), &Overrides::default(), at()).unwrap();
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json(),
        json!([
            ["a.txt"],
            ["a.txt", "sub/c.txt", "sub/deep/d.txt"],
            ["c.txt"]
        ])
    );
}

#[test]
fn later_1x_templates_and_their_plugins_load_with_warnings() {
    let t = load_text(
        "packer {\n  required_version = \">= 1.9.0\"\n  required_plugins {\n    amazon = {\n      version = \">= 1.2.0\"\n      source  = \"github.com/hashicorp/amazon\"\n    }\n    vsphere = {\n      version = \"~> 1\"\n      source  = \"github.com/hashicorp/vsphere\"\n    }\n  }\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap();
    let w: Vec<String> = t.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("t.pkr.hcl:2:3: This template requires Packer version >= 1.9.0"),
        "{w:?}"
    );
    assert!(
        w[1].contains("plugin vsphere (github.com/hashicorp/vsphere) is not built into kiln"),
        "{w:?}"
    );
    // A template that needs Packer 2 is still refused.
    let e = load_text(
        "packer {\n  required_version = \">= 2\"\n}\nsource \"null\" \"x\" {}\nbuild { sources = [\"source.null.x\"] }\n",
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.contains("requires Packer version >= 2"), "{e}");
}

#[test]
fn data_sources_are_read_in_the_order_their_references_allow() {
    use serde_json::json;
    // Data from a variable, a local from data, data from that local, a list in its input.
    let decls = "variable \"v\" {\n  default = \"one\"\n}\n\
        data \"null\" \"b\" {\n  input = [local.l, data.null.a.output]\n}\n\
        locals {\n  l = \"${data.null.a.output}-l\"\n}\n\
        data \"null\" \"a\" {\n  input = \"x-${var.v}\"\n}\n";
    assert_eq!(
        local(decls, "data.null.b.output"),
        json!(["x-one-l", "x-one"])
    );
    for (text, says) in [
        (
            "data \"null\" \"a\" {\n  input = data.null.a.output\n}\n",
            "data.null.a refers to itself",
        ),
        (
            "data \"nope\" \"a\" {\n  input = 1\n}\n",
            "t.pkr.hcl:1:1: data \"nope\" \"a\": unknown data source type \"nope\"; kiln reads null",
        ),
        (
            "data \"null\" \"a\" {\n  inptu = 1\n}\n",
            "the null data source takes input, not inptu",
        ),
        (
            "data \"null\" \"a\" {\n  input = 1\n}\ndata \"null\" \"a\" {\n  input = 2\n}\n",
            "Duplicate data source",
        ),
        (
            "locals {\n  x = data.null.zz.output\n}\n",
            "t.pkr.hcl:2:",
        ),
    ] {
        let e = load_text(
            &format!("{text}source \"null\" \"x\" {{}}\nbuild {{ sources = [\"source.null.x\"] }}\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains(says), "{says:?} in {e}");
    }
}

#[test]
fn functions_of_later_packer_releases() {
    use serde_json::json;
    for (expr, want) in [
        ("strcontains(\"hello\", \"ell\")", json!(true)),
        ("startswith(\"hello\", \"he\")", json!(true)),
        ("endswith(\"hello\", \"he\")", json!(false)),
        ("alltrue([true, \"true\"])", json!(true)),
        ("alltrue([])", json!(true)),
        ("anytrue([])", json!(false)),
        ("anytrue([false, true])", json!(true)),
        ("sum([1, 2.5, -1])", json!(2.5)),
        ("one([])", json!(null)),
        ("one([5])", json!(5)),
        (
            "transpose({ a = [\"x\", \"y\"], b = [\"y\"] })",
            json!({"x": ["a"], "y": ["a", "b"]}),
        ),
        (
            "matchkeys([\"i-1\", \"i-2\", \"i-3\"], [\"a\", \"b\", \"a\"], [\"a\"])",
            json!(["i-1", "i-3"]),
        ),
        (
            "textencodebase64(\"Hello\", \"UTF-16LE\")",
            json!("SABlAGwAbABvAA=="),
        ),
        (
            "textdecodebase64(\"SABlAGwAbABvAA==\", \"UTF-16LE\")",
            json!("Hello"),
        ),
        ("textencodebase64(\"hé\", \"UTF-8\")", json!("aMOp")),
        (
            "legacy_isotime(\"2006-01-02 15:04\")",
            json!("2020-01-02 03:04"),
        ),
        ("legacy_strftime(\"%Y/%m/%d\")", json!("2020/01/02")),
    ] {
        assert_eq!(local("", expr), want, "{expr}");
    }
    for (expr, says) in [
        ("one([1, 2])", "no more than one element"),
        ("sum([])", "cannot sum an empty list"),
        ("alltrue([1])", "a list of bools"),
        ("textencodebase64(\"x\", \"EBCDIC\")", "UTF-8 or UTF-16LE"),
    ] {
        let e = load_text(
            &format!("locals {{ v = {expr} }}\nsource \"null\" \"x\" {{ probe = local.v }}\nbuild {{ sources = [\"source.null.x\"] }}\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains(says), "{expr}: {e}");
    }
}

#[test]
fn templatefile_renders_a_file_with_only_the_given_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("user-data.tpl"),
        "#cloud-config\nhostname: ${name}\n%{ for u in users ~}\n- ${upper(u)}\n%{ endfor ~}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("self.tpl"),
        "${templatefile(\"self.tpl\", {})}",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.tpl"), "line one\n${var.region}\n").unwrap();
    let load = |expr: &str| {
        let p = dir.path().join("t.pkr.hcl");
        std::fs::write(
            &p,
            format!("variable \"region\" {{\n  default = \"r\"\n}}\nlocals {{ v = {expr} }}\nsource \"null\" \"x\" {{ probe = local.v }}\nbuild {{ sources = [\"source.null.x\"] }}\n"),
        )
        .unwrap();
        load(&p, &Overrides::default(), at()).map_err(|e| e.to_string())
    };
    let t =
        load("templatefile(\"user-data.tpl\", { name = \"web-1\", users = [\"ann\", \"bo\"] })")
            .unwrap();
    assert_eq!(
        t.builders[0].config.get("probe").unwrap().to_json(),
        serde_json::json!("#cloud-config\nhostname: web-1\n- ANN\n- BO\n")
    );
    // The template sees only its variables, and its errors point into it.
    let e = load("templatefile(\"bad.tpl\", {})").unwrap_err();
    assert!(e.contains("bad.tpl:2:"), "{e}");
    let e = load("templatefile(\"self.tpl\", {})").unwrap_err();
    assert!(e.contains("nest 16 deep"), "{e}");
    let e = load("templatefile(\"missing.tpl\", {})").unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn values_print_as_packers_console_prints_them() {
    // Each compared with `packer console` (1.6.6).
    let src = crate::source::Source::new(
        "v.json",
        r#"["\u00a0", "😀", "\u2028", "é", "\u00ad", "a\"b", {"z": 1, "a": [], "n": null}, 2.5, 1e21]"#,
    );
    let v = crate::json::parse(&src).unwrap();
    assert_eq!(
        super::printable(&v),
        "[\n  \"\\u00a0\",\n  \"😀\",\n  \"\\u2028\",\n  \"é\",\n  \"\\u00ad\",\n  \"a\\\"b\",\n  {\n    \"a\" = []\n    \"z\" = 1\n  },\n  2.5,\n  1e+21,\n]"
    );
}
