//! The template functions that read secret stores: `vault` (Vault's KV engines, versions 1 and
//! 2; scripts/ec2-proxy.py stands in for Vault, which no package here provides) and
//! `aws_secretsmanager` (moto's Secrets Manager). Their values reach the build, each secret is
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
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("values.txt")).unwrap(),
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
