//! The template functions that read secret stores: `vault` (Vault's KV engines, versions 1 and
//! 2; scripts/ec2-proxy.py stands in for Vault, which no package here provides),
//! `aws_secretsmanager` (moto's Secrets Manager) and `consul_key` (scripts/consul-kv.py stands
//! in for Consul's KV API: no Consul is packaged here either). Their values reach the build, each secret is
//! read once, and the values never reach the output.

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{Moto, Proxy};

/// Moto and the Vault stand-in, with two secrets in Secrets Manager: `app/db` (JSON: user,
/// password) and `app/token` (plain text).
fn stores() -> (Moto, Proxy) {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    for (name, value) in [
        ("app/db", r#"{"user": "admin", "password": "sm-Pa55-w0rd"}"#),
        ("app/token", "plain-T0ken-value"),
    ] {
        m.json_call(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &serde_json::json!({"Name": name, "SecretString": value}),
        );
    }
    (m, proxy)
}

/// What a build needs to reach both stores.
fn store_env<'a>(m: &'a str, vault: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "dummy-access"),
        ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", m),
        ("VAULT_ADDR", vault),
        ("VAULT_TOKEN", token),
    ]
}

/// Builds `tpl` in `dir` with `env`, which must succeed; its output and the values.txt the
/// build wrote.
fn build_writing_values(
    dir: &std::path::Path,
    tpl: &std::path::Path,
    env: &[(&str, &str)],
) -> (String, String) {
    let out = run_in(dir, &["build", "-color=false", tpl.to_str().unwrap()], env);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    (
        text,
        std::fs::read_to_string(dir.join("values.txt")).unwrap(),
    )
}

#[test]
fn vault_and_secrets_manager_values_reach_the_build_and_not_its_output() {
    let (m, proxy) = stores();
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        r#"{"variables": {
              "kv2": "{{vault `/secret/data/app` `password`}}",
              "kv1": "{{vault `kv/app` `password`}}",
              "user": "{{vault `secret/data/app` `user`}}",
              "db": "{{aws_secretsmanager `app/db` `password`}}",
              "token": "{{aws_secretsmanager `app/token`}}"},
            "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": [
              "echo kv2={{user `kv2`}} kv1={{user `kv1`}} user={{user `user`}} db={{user `db`}} token={{user `token`}}",
              "printf '%s\\n' '{{user `kv2`}}' '{{user `kv1`}}' '{{user `user`}}' '{{user `db`}}' '{{user `token`}}' > values.txt"]}]}"#,
    )
    .unwrap();
    let (murl, vault, log) = (
        m.url(),
        proxy.url(),
        dir.path().join("log").display().to_string(),
    );
    let mut env = store_env(&murl, &vault, "kiln-vault-token");
    env.extend([("PACKER_LOG", "1"), ("PACKER_LOG_PATH", log.as_str())]);
    let (text, values) = build_writing_values(dir.path(), &tpl, &env);
    assert_eq!(
        values,
        "kv-Pa55-w0rd\nkv-Pa55-w0rd\ndeploy\nsm-Pa55-w0rd\nplain-T0ken-value\n"
    );
    assert!(
        text.contains(
            "kv2=<sensitive> kv1=<sensitive> user=<sensitive> db=<sensitive> token=<sensitive>"
        ),
        "{text}"
    );
    let all = format!("{text}{}", std::fs::read_to_string(&log).unwrap());
    for value in [
        "kv-Pa55-w0rd",
        "deploy",
        "sm-Pa55-w0rd",
        "plain-T0ken-value",
    ] {
        assert!(!all.contains(value), "{value} shown:\n{all}");
    }
    // Each Vault path read once, with the token, however many keys and spellings use it.
    let mut reads: Vec<(String, String)> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.0 == "VaultRead")
        .map(|r| (r.1["path"].clone(), r.1["token"].clone()))
        .collect();
    reads.sort();
    assert_eq!(
        reads,
        [
            ("/v1/kv/app".to_string(), "kiln-vault-token".to_string()),
            (
                "/v1/secret/data/app".to_string(),
                "kiln-vault-token".to_string()
            ),
        ]
    );
}

/// Each way a read can fail is said at the variable, with the store's or Packer's words.
#[test]
fn a_failed_read_is_said_at_the_variable() {
    let (m, proxy) = stores();
    let dir = tempfile::tempdir().unwrap();
    let (murl, vault) = (m.url(), proxy.url());
    let cases = [
        (
            "{{vault `secret/data/app` `pin`}}",
            "kiln-vault-token",
            "error calling vault: Vault path does not contain the requested key".to_string(),
        ),
        (
            "{{vault `kv/app` `pin`}}",
            "kiln-vault-token",
            "error calling vault: Vault data was empty at the given path. Warnings: ".to_string(),
        ),
        (
            "{{vault `secret/data/nothing` `pw`}}",
            "kiln-vault-token",
            "error calling vault: Vault Secret does not exist at the given path".to_string(),
        ),
        (
            "{{vault `secret/data/app` `password`}}",
            "wrong",
            format!("error calling vault: Vault at {vault} answered 403 to GET /v1/secret/data/app: permission denied"),
        ),
        (
            "{{vault `secret/data/app` `password`}}",
            "",
            "error calling vault: Must set VAULT_TOKEN env var (or run `vault login`)".to_string(),
        ),
        (
            "{{aws_secretsmanager `app/db`}}",
            "",
            "error calling aws_secretsmanager: Secret has multiple values and no key was set".to_string(),
        ),
        (
            "{{aws_secretsmanager `app/none`}}",
            "",
            r#"error calling aws_secretsmanager: Secrets Manager GetSecretValue of "app/none" failed: ResourceNotFoundException: Secrets Manager can't find the specified secret."#.to_string(),
        ),
    ];
    for (call, token, says) in cases {
        let tpl = dir.path().join("t.json");
        std::fs::write(
            &tpl,
            format!(
                "{{\"variables\": {{\n  \"x\": \"{call}\"}},\n \"builders\": [{{\"type\": \"null\", \"communicator\": \"none\"}}]}}"
            ),
        )
        .unwrap();
        let mut env = store_env(&murl, &vault, token);
        env.push(("HOME", dir.path().to_str().unwrap()));
        let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &env);
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{call}: {text}");
        let at = format!("t.json:2:3: variable \"x\": {says}");
        assert!(text.contains(&at), "{call}: want {at}\n{text}");
    }
}

/// scripts/consul-kv.py: Consul's KV API, requiring `token` (Consul with ACLs).
struct ConsulKv {
    child: std::process::Child,
    port: u16,
}

impl ConsulKv {
    fn start(token: &str) -> ConsulKv {
        use std::io::BufRead;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/consul-kv.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--token", token])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 for scripts/consul-kv.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("consul-kv.py said {line:?}"));
        ConsulKv { child, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.0 exchange; the answer's body.
    fn http(&self, request: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_string()
    }

    /// Stores `value` at `key` through Consul's own API (in the namespace `ns` when not empty).
    fn put(&self, token: &str, ns: &str, key: &str, value: &str) {
        let query = if ns.is_empty() {
            String::new()
        } else {
            format!("?ns={ns}")
        };
        let body = self.http(&format!(
            "PUT /v1/kv/{key}{query} HTTP/1.0\r\nX-Consul-Token: {token}\r\nContent-Length: {}\r\n\r\n{value}",
            value.len()
        ));
        assert_eq!(body, "true");
    }

    /// The KV reads so far: (path, namespace, token, basic-auth user).
    fn reads(&self) -> Vec<(String, String, String, String)> {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&self.http("GET /__requests HTTP/1.0\r\n\r\n")).unwrap();
        v.iter()
            .filter(|r| r["method"] == "GET")
            .map(|r| {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                (
                    s(&r["path"]),
                    s(&r["query"]["ns"]),
                    s(&r["token"]),
                    s(&r["auth"]),
                )
            })
            .collect()
    }
}

impl Drop for ConsulKv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `consul_key` reads Consul's KV store as Packer does (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
/// CONSUL_HTTP_AUTH, CONSUL_NAMESPACE, a leading `/` dropped): the value reaches the build,
/// each key is read once, and the value never reaches the output (Packer prints it).
#[test]
fn consul_key_values_reach_the_build_and_not_its_output() {
    let consul = ConsulKv::start("kiln-consul-token");
    consul.put("kiln-consul-token", "", "app/db", "consul-Pa55-w0rd");
    consul.put("kiln-consul-token", "team", "app/db", "team-Pa55-w0rd");
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        r#"{"variables": {"db": "{{consul_key `app/db`}}", "again": "{{consul_key `/app/db`}}"},
            "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "inline": [
              "echo db={{user `db`}} again={{user `again`}}",
              "printf '%s\\n' '{{user `db`}}' '{{user `again`}}' > values.txt"]}]}"#,
    )
    .unwrap();
    let (addr, log) = (consul.addr(), dir.path().join("log").display().to_string());
    let env = [
        ("CONSUL_HTTP_ADDR", addr.as_str()),
        ("CONSUL_HTTP_TOKEN", "kiln-consul-token"),
        ("CONSUL_HTTP_AUTH", "builder:basic-pw"),
        ("PACKER_LOG", "1"),
        ("PACKER_LOG_PATH", log.as_str()),
    ];
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("values.txt")).unwrap(),
        "consul-Pa55-w0rd\nconsul-Pa55-w0rd\n"
    );
    assert!(text.contains("db=<sensitive> again=<sensitive>"), "{text}");
    let all = format!("{text}{}", std::fs::read_to_string(&log).unwrap());
    assert!(!all.contains("consul-Pa55-w0rd"), "{all}");
    assert_eq!(
        consul.reads(),
        [(
            "/v1/kv/app/db".to_string(),
            String::new(),
            "kiln-consul-token".to_string(),
            "builder:basic-pw".to_string()
        )],
        "one read, with the token and the basic auth"
    );
    // CONSUL_NAMESPACE reads the namespace's key.
    let mut env = env.to_vec();
    env.push(("CONSUL_NAMESPACE", "team"));
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("values.txt")).unwrap(),
        "team-Pa55-w0rd\nteam-Pa55-w0rd\n"
    );
    assert_eq!(consul.reads().last().unwrap().1, "team");
}

/// Each way a `consul_key` read fails is said at the variable, in Packer's words and with
/// Consul's reason.
#[test]
fn a_failed_consul_read_is_said_at_the_variable() {
    let consul = ConsulKv::start("kiln-consul-token");
    consul.put("kiln-consul-token", "", "app/empty", "");
    let dir = tempfile::tempdir().unwrap();
    let addr = consul.addr();
    let cases = [
        (
            "app/none",
            "kiln-consul-token",
            "key does not exist at the given path: app/none".to_string(),
        ),
        (
            "app/empty",
            "kiln-consul-token",
            "value is empty at path app/empty".to_string(),
        ),
        (
            "app/db",
            "",
            format!("error reading consul key: Unexpected response code: 403 (Permission denied) from Consul at http://{addr}; no token was sent: set CONSUL_HTTP_TOKEN"),
        ),
        (
            "app/db",
            "wrong",
            format!("error reading consul key: Unexpected response code: 403 (Permission denied) from Consul at http://{addr}"),
        ),
    ];
    for (key, token, says) in cases {
        let tpl = dir.path().join("t.json");
        std::fs::write(
            &tpl,
            format!(
                "{{\"variables\": {{\n  \"x\": \"{{{{consul_key `{key}`}}}}\"}},\n \"builders\": [{{\"type\": \"null\", \"communicator\": \"none\"}}]}}"
            ),
        )
        .unwrap();
        let env = [
            ("CONSUL_HTTP_ADDR", addr.as_str()),
            ("CONSUL_HTTP_TOKEN", token),
        ];
        let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &env);
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{key}: {text}");
        assert_says(
            &text,
            &[&format!(
                "t.json:2:3: variable \"x\": error calling consul_key: {says}"
            )],
        );
    }
    // No Consul there: said with where kiln looked.
    let tpl = dir.path().join("t.json");
    let out = run_in(
        dir.path(),
        &["validate", tpl.to_str().unwrap()],
        &[("CONSUL_HTTP_ADDR", "127.0.0.1:9")],
    );
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_says(
        &text,
        &["error calling consul_key: error reading consul key: Consul at http://127.0.0.1:9: cannot reach it"],
    );
}

#[test]
fn hcl2_secret_functions_reach_the_build_and_not_its_output() {
    let (m, proxy) = stores();
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.pkr.hcl");
    std::fs::write(
        &tpl,
        r#"
locals {
  kv  = vault("/secret/data/app", "password")
  db  = aws_secretsmanager("app/db", "password")
  tok = aws_secretsmanager("app/token", null)
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = [
      "echo kv=${local.kv} db=${local.db} tok=${local.tok}",
      "printf '%s\\n' '${local.kv}' '${local.db}' '${local.tok}' > values.txt",
    ]
  }
}
"#,
    )
    .unwrap();
    let (murl, vault) = (m.url(), proxy.url());
    let env = store_env(&murl, &vault, "kiln-vault-token");
    let (text, values) = build_writing_values(dir.path(), &tpl, &env);
    assert_eq!(values, "kv-Pa55-w0rd\nsm-Pa55-w0rd\nplain-T0ken-value\n");
    assert!(
        text.contains("kv=<sensitive> db=<sensitive> tok=<sensitive>"),
        "{text}"
    );
    for value in ["kv-Pa55-w0rd", "sm-Pa55-w0rd", "plain-T0ken-value"] {
        assert!(!text.contains(value), "{value} shown:\n{text}");
    }
    // inspect shows locals; a secret read into one is masked there too.
    let out = run_in(dir.path(), &["inspect", tpl.to_str().unwrap()], &env);
    let text = stdout(&out);
    assert_says(&text, &["local.kv: "]);
    assert!(!text.contains("kv-Pa55-w0rd"), "{text}");
}

/// Data sources (Packer 1.7's `data` blocks) against moto: an AMI found by filters, a secret
/// and a parameter, used by locals and sources; what the secret ones read is masked.
#[test]
fn hcl2_data_sources_are_read_from_the_cloud_and_their_secrets_masked() {
    let (m, proxy) = stores();
    m.json_call(
        "ssm",
        "AmazonSSM.PutParameter",
        &serde_json::json!({"Name": "/app/release", "Value": "rel-2026-12", "Type": "SecureString"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.pkr.hcl");
    std::fs::write(
        &tpl,
        r#"
data "amazon-ami" "centos" {
  filters = {
    name                = "CentOS 7*(kiln test)"
    virtualization-type = "hvm"
  }
  owners      = ["679593333241"]
  most_recent = true
}
data "amazon-secretsmanager" "db" {
  name = "app/db"
  key  = "password"
}
data "amazon-parameterstore" "release" {
  name            = "/app/release"
  with_decryption = true
}
locals {
  ami = data.amazon-ami.centos.id
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = [
      "echo ami=${local.ami} name='${data.amazon-ami.centos.name}' db=${data.amazon-secretsmanager.db.value} rel=${data.amazon-parameterstore.release.value}",
      "printf '%s\\n' '${local.ami}' '${data.amazon-secretsmanager.db.value}' '${data.amazon-parameterstore.release.value}' > values.txt",
    ]
  }
}
"#,
    )
    .unwrap();
    let (murl, vault) = (m.url(), proxy.url());
    let env = store_env(&murl, &vault, "kiln-vault-token");
    let (text, values) = build_writing_values(dir.path(), &tpl, &env);
    // The newest of the three CentOS images that match.
    let newest = "ami-0000000000000a021";
    assert_eq!(values, format!("{newest}\nsm-Pa55-w0rd\nrel-2026-12\n"));
    assert!(
        text.contains(&format!(
            "ami={newest} name=CentOS 7 2021 (kiln test) db=<sensitive> rel=<sensitive>"
        )),
        "{text}"
    );
    for value in ["sm-Pa55-w0rd", "rel-2026-12"] {
        assert!(!text.contains(value), "{value} shown:\n{text}");
    }
    // Several matches without most_recent is an error at the block.
    std::fs::write(
        &tpl,
        std::fs::read_to_string(&tpl)
            .unwrap()
            .replace("most_recent = true", "most_recent = false"),
    )
    .unwrap();
    let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_says(
        &stdout(&out),
        &["t.pkr.hcl:2:1: data \"amazon-ami\" \"centos\": Your query returned more than one result (3 AMIs)"],
    );
}
