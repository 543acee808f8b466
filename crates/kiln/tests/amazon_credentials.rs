//! amazon-ebs credentials against moto and an sshd target: a shared credentials file and
//! assume_role, instance metadata, credential_process, SSO, a profile's role with an MFA
//! code, Vault's AWS secrets engine; and that secrets never reach the output.

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{build_at, build_with, ebs_builder, ec2_target, Moto, Proxy};

#[test]
fn assume_role_shared_credentials_file_and_decoded_authorization_failures() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[builds]\naws_access_key_id = AKIAFROMFILE0000\naws_secret_access_key = file-secret\n",
    )
    .unwrap();
    let builder = ebs_builder(
        t.port,
        "assumed-{{timestamp}}",
        &format!(
            r#", "shared_credentials_file": "{}", "profile": "builds",
            "assume_role": {{"role_arn": "arn:aws:iam::123456789012:role/image-builder",
                             "session_name": "kiln-test", "external_id": "ext-1",
                             "tags": {{"Team": "images"}}, "transitive_tag_keys": ["Team"]}},
            "decode_authorization_messages": true"#,
            creds.display()
        ),
    );
    // The file's profile, not the environment's keys.
    let env = [("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")];
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &env);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let requests = proxy.requests();
    let (_, assume, base_key) = requests
        .iter()
        .find(|r| r.0 == "AssumeRole")
        .expect("the role was assumed");
    assert_eq!(base_key, "AKIAFROMFILE0000");
    assert_eq!(
        assume["RoleArn"],
        "arn:aws:iam::123456789012:role/image-builder"
    );
    assert_eq!(assume["RoleSessionName"], "kiln-test");
    assert_eq!(assume["ExternalId"], "ext-1");
    assert_eq!(assume["Tags.member.1.Key"], "Team");
    assert_eq!(assume["TransitiveTagKeys.member.1"], "Team");
    // Every EC2 call is signed with the role's credentials.
    let ec2_keys: Vec<&String> = requests
        .iter()
        .filter(|r| r.0 != "AssumeRole")
        .map(|r| &r.2)
        .collect();
    assert!(!ec2_keys.is_empty());
    assert!(
        ec2_keys
            .iter()
            .all(|k| k.as_str() != "AKIAFROMFILE0000" && !k.is_empty()),
        "{ec2_keys:?}"
    );
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());

    // EC2's encoded reason for a refusal is decoded through STS into the error. (moto has
    // no encoded failures: the proxy refuses RunInstances as EC2 does, and decodes.)
    let calls_before_run = requests.iter().position(|r| r.0 == "RunInstances").unwrap();
    proxy.configure_failure(
        calls_before_run + 1,
        1,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation. Encoded authorization failure message: ZW5jb2RlZA",
    );
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &env);
    assert_eq!(code, 1, "{text}");
    assert!(
        // (Machine-readable output writes commas as %!(PACKER_COMMA).)
        text.contains(r#"Decoded authorization failure message: {"allowed": false%!(PACKER_COMMA) "encoded": "ZW5jb2RlZA"}"#),
        "{text}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// The standard chain's other sources of credentials: EC2 instance metadata (moto's IMDSv2,
/// through the proxy, which adds the token's TTL header moto leaves out;
/// AWS_EC2_METADATA_SERVICE_ENDPOINT points the SDK at it), a profile's credential_process
/// (with AWS_ENDPOINT_URL_EC2), and an SSO profile. The proxy records which access key signed
/// each EC2 call.
#[test]
fn credentials_from_instance_metadata_credential_process_and_sso() {
    use std::os::unix::fs::PermissionsExt;
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let none = dir.path().join("absent");
    let (config_s, none_s) = (config.display().to_string(), none.display().to_string());
    let no_keys = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SHARED_CREDENTIALS_FILE", none_s.as_str()),
    ];
    // No keys in the environment or any file: the instance's role, from its metadata.
    let imds = proxy.url();
    let mut env = no_keys.to_vec();
    env.extend([
        ("AWS_CONFIG_FILE", none_s.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()),
    ]);
    let builder = ebs_builder(t.port, "imds", r#", "skip_create_ami": true"#);
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &env);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    assert_eq!(
        proxy.signers(),
        vec!["test-key".to_string()],
        "moto's IMDS role key"
    );
    // A profile whose credentials come from a command.
    let script = dir.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAFROMPROCESS0\", \"SecretAccessKey\": \"s\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &config,
        format!(
            "[profile proc]\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    proxy.configure(0.0, None);
    // ...with EC2's own endpoint variable, which wins over AWS_ENDPOINT_URL (a dead port here).
    let ec2_endpoint = proxy.url();
    let mut env = no_keys.to_vec();
    env.extend([
        ("AWS_CONFIG_FILE", config_s.as_str()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ENDPOINT_URL_EC2", ec2_endpoint.as_str()),
    ]);
    let builder = ebs_builder(
        t.port,
        "process",
        r#", "skip_create_ami": true, "profile": "proc""#,
    );
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &env);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    assert_eq!(proxy.signers(), ["AKIAFROMPROCESS0"]);
    // An IAM Identity Center (SSO) profile: the token `aws sso login` cached, traded for the
    // role's credentials at the portal (the proxy stands in for it; moto has none).
    let home = dir.path().join("home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let start = "https://kiln-test.awsapps.com/start";
    // The SDK's cache file name: the SHA-1 of the start URL.
    let name = String::from_utf8(
        std::process::Command::new("sh")
            .args([
                "-c",
                &format!("printf %s '{start}' | sha1sum | cut -d' ' -f1"),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        cache.join(format!("{}.json", name.trim())),
        format!(
            r#"{{"startUrl": "{start}", "region": "us-east-1", "accessToken": "cached-sso-token",
                "expiresAt": "2099-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[profile sso]\nsso_start_url = {start}\nsso_region = us-east-1\n\
             sso_account_id = 123456789012\nsso_role_name = ImageBuilder\n"
        ),
    )
    .unwrap();
    proxy.configure(0.0, None);
    let (home_s, portal) = (home.display().to_string(), proxy.url());
    let mut env = no_keys.to_vec();
    env.extend([
        ("AWS_CONFIG_FILE", config_s.as_str()),
        ("HOME", home_s.as_str()),
        ("AWS_ENDPOINT_URL_SSO", portal.as_str()),
    ]);
    let builder = ebs_builder(
        t.port,
        "sso",
        r#", "skip_create_ami": true, "profile": "sso""#,
    );
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder, &env);
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let requests = proxy.requests();
    let portal_call = &requests[0];
    assert_eq!(portal_call.0, "GetRoleCredentials", "{requests:?}");
    assert_eq!(portal_call.1["account_id"], "123456789012");
    assert_eq!(portal_call.1["role_name"], "ImageBuilder");
    assert_eq!(portal_call.1["bearer"], "cached-sso-token");
    assert_eq!(proxy.signers(), vec!["ASIASSOPORTAL0000".to_string()]);
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

#[test]
fn mfa_code_assumes_the_profiles_role_with_the_code() {
    let m = Moto::start_multi_region();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "[profile builder]\nrole_arn = arn:aws:iam::123456789012:role/mfa-builder\n\
         mfa_serial = arn:aws:iam::123456789012:mfa/builder\nsource_profile = base\n\
         [profile no-mfa]\nrole_arn = arn:aws:iam::123456789012:role/mfa-builder\nsource_profile = base\n",
    )
    .unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[base]\naws_access_key_id = AKIABASEPROFILE0\naws_secret_access_key = base-secret\n",
    )
    .unwrap();
    // Two builds at once, each on a machine of its own as on EC2: two builds' key removals
    // on one machine's authorized_keys would undo each other.
    let t2 = ec2_target(&m);
    let builder = |profile: &str, port: u16| {
        ebs_builder(
            port,
            "mfa-{{timestamp}}",
            &format!(
                r#", "ami_regions": ["us-west-2"], "profile": "{profile}", "mfa_code": "123456",
                "shared_credentials_file": "{}""#,
                creds.display()
            ),
        )
    };
    let config = config.display().to_string();
    let env = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_CONFIG_FILE", config.as_str()),
    ];
    // Two builds at once, each with a copy in another region.
    let second = builder("builder", t2.port).replacen(
        r#""type": "amazon-ebs","#,
        r#""type": "amazon-ebs", "name": "second","#,
        1,
    );
    let builders = format!("{}, {second}", builder("builder", t.port));
    let (code, text) = build_at(&proxy.url(), dir.path(), &builders, &env);
    assert_eq!(code, 0, "{text}\n{}\n{}", t.log(), t2.log());
    let requests = proxy.requests();
    // Once for the whole run, both builds and their copies included: an MFA code is good
    // for one use.
    let assumed: Vec<_> = requests.iter().filter(|r| r.0 == "AssumeRole").collect();
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    let copies = requests.iter().filter(|r| r.0 == "CopyImage").count();
    assert_eq!(copies, 2, "{requests:?}");
    let (_, assume, key) = assumed[0];
    assert_eq!(key, "AKIABASEPROFILE0", "signed by the source profile");
    assert_eq!(
        assume["RoleArn"],
        "arn:aws:iam::123456789012:role/mfa-builder"
    );
    assert_eq!(
        assume["SerialNumber"],
        "arn:aws:iam::123456789012:mfa/builder"
    );
    assert_eq!(assume["TokenCode"], "123456");
    assert!(
        requests
            .iter()
            .filter(|r| r.0 != "AssumeRole")
            .all(|r| r.2 != "AKIABASEPROFILE0"),
        "EC2 calls use the role's credentials"
    );
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());

    // A profile without an MFA device: the error says what is missing, nothing is made.
    let (code, text) = build_at(&proxy.url(), dir.path(), &builder("no-mfa", t.port), &env);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("profile \"no-mfa\" has no mfa_serial"),
        "{text}"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

#[test]
fn the_templates_secret_key_and_token_are_masked_in_all_output() {
    let m = Moto::start();
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    // Not declared sensitive: kiln knows these fields hold secrets.
    std::fs::write(
        &tpl,
        format!(
            r#"{{"variables": {{"sk": "Sk-Secret-Value-0042", "tok": "Session-Token-0042"}},
                "builders": [{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                  "instance_type": "t2.micro", "ssh_username": "centos", "ssh_host": "127.0.0.1",
                  "ssh_port": {}, "ami_name": "masked", "skip_create_ami": true,
                  "access_key": "AKIAMASKTEST0000", "secret_key": "{{{{user `sk`}}}}",
                  "token": "{{{{user `tok`}}}}"}}],
                "provisioners": [{{"type": "shell",
                  "inline": ["echo key={{{{user `sk`}}}} token={{{{user `tok`}}}}"]}}]}}"#,
            t.port
        ),
    )
    .unwrap();
    let url = m.url();
    for flags in [&["-color=false"][..], &["-machine-readable"][..]] {
        let mut args = vec!["build"];
        args.extend_from_slice(flags);
        args.push(tpl.to_str().unwrap());
        let out = run_in(
            dir.path(),
            &args,
            &[
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("AWS_ENDPOINT_URL", url.as_str()),
                ("PACKER_LOG", "1"),
            ],
        );
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{all}\n{}", t.log());
        assert!(all.contains("key=<sensitive> token=<sensitive>"), "{all}");
        assert!(!all.contains("Sk-Secret-Value-0042"), "{all}");
        assert!(!all.contains("Session-Token-0042"), "{all}");
    }
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// The environment of a build whose only credentials come from Vault (the proxy stands in for
/// it: no Vault server is packaged here), at `vault` with `token`.
fn vault_env<'a>(dir: &'a str, vault: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("HOME", dir),
        ("VAULT_ADDR", vault),
        ("VAULT_TOKEN", token),
    ]
}

/// `vault_aws_engine`: the credentials of Vault's AWS engine sign every call, read once
/// however many calls start together, with the role_arn and ttl Packer's docs promise (Packer
/// 1.6.6 drops them) and the namespace; their secret parts are masked the moment they
/// arrive, in the output and the log, though the template never held them.
#[test]
fn vault_aws_engine_credentials_sign_every_call_and_stay_out_of_the_output() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                  "instance_type": "t2.micro", "ssh_username": "centos", "ssh_host": "127.0.0.1",
                  "ssh_port": {}, "ami_name": "from-vault-{{{{timestamp}}}}",
                  "vault_aws_engine": {{"name": "image-builder", "engine_name": "aws-prod",
                    "role_arn": "arn:aws:iam::123456789012:role/builder", "ttl": "900s"}}}}],
                "provisioners": [{{"type": "shell",
                  "inline": ["echo secret=vault-role-secret token=vault-role-token"]}}]}}"#,
            t.port
        ),
    )
    .unwrap();
    let (d, url, log) = (
        dir.path().display().to_string(),
        proxy.url(),
        dir.path().join("log").display().to_string(),
    );
    let mut env = vault_env(&d, &url, "kiln-vault-token");
    env.extend([
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("VAULT_NAMESPACE", "team-images"),
        ("PACKER_LOG", "1"),
        ("PACKER_LOG_PATH", log.as_str()),
    ]);
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &env,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", t.log());
    let requests = proxy.requests();
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| r.0 == "VaultReadCreds")
        .collect();
    assert_eq!(reads.len(), 1, "{requests:?}");
    assert_eq!(requests[0].0, "VaultReadCreds", "read before any call");
    let p = &reads[0].1;
    assert_eq!(p["path"], "/v1/aws-prod/creds/image-builder");
    assert_eq!(p["role_arn"], "arn:aws:iam::123456789012:role/builder");
    assert_eq!(p["ttl"], "900s");
    assert_eq!(p["token"], "kiln-vault-token");
    assert_eq!(p["namespace"], "team-images");
    assert_eq!(proxy.signers(), ["ASIAVAULTROLE0000"]);
    assert!(
        requests.iter().any(|r| r.0 == "CreateImage"),
        "{requests:?}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("credentials ASIAVAULTROLE0000 read from Vault"),
        "{log_text}"
    );
    let all = format!("{text}{log_text}");
    assert!(
        all.contains("secret=<sensitive> token=<sensitive>"),
        "{text}"
    );
    assert!(!all.contains("vault-role-secret"), "{all}");
    assert!(!all.contains("vault-role-token"), "{all}");
    // STS credentials cannot be revoked: their lease is left alone.
    assert!(!proxy.calls().contains(&"VaultRevoke".to_string()));
    // `kiln validate` asks Vault nothing (Packer 1.6.6 reads the credentials to validate).
    let dead = vault_env(&d, "http://127.0.0.1:9", "");
    let out = run_in(dir.path(), &["validate", tpl.to_str().unwrap()], &dead);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    m.remove_products();
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// Each read of an IAM-user role makes Vault create an IAM user, which lives as long as the
/// lease (768 h by default; Packer leaves it). kiln revokes the lease when the run ends,
/// after its last EC2 call, so Vault deletes the user then; until it has, the lease is in the
/// journal. A token that may not revoke leaves the build a success, with a warning that says
/// when Vault deletes the user and how to do it now.
#[test]
fn the_lease_of_a_vault_iam_user_is_revoked_when_the_run_ends() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (d, url, state_dir) = (
        dir.path().display().to_string(),
        proxy.url(),
        state.path().display().to_string(),
    );
    let builder = ebs_builder(
        t.port,
        "revoked-{{timestamp}}",
        r#", "skip_create_ami": true, "vault_aws_engine": {"name": "image-builder"}"#,
    );
    let mut env = vault_env(&d, &url, "kiln-vault-token");
    env.push(("KILN_STATE_DIR", state_dir.as_str()));
    let journals = || std::fs::read_dir(state.path()).unwrap().count();
    let (code, text) = build_with(&url, dir.path(), &builder, &env, &[]);
    assert_eq!(code, 0, "{text}");
    let requests = proxy.requests();
    let revokes: Vec<_> = requests.iter().filter(|r| r.0 == "VaultRevoke").collect();
    assert_eq!(revokes.len(), 1, "{requests:?}");
    assert!(
        revokes[0].1["lease_id"].starts_with("aws/creds/image-builder/"),
        "{revokes:?}"
    );
    assert_eq!(revokes[0].1["token"], "kiln-vault-token");
    assert_eq!(
        requests.last().unwrap().0,
        "VaultRevoke",
        "after the last EC2 call"
    );
    assert_eq!(proxy.vault_leases(), Vec::<String>::new());
    assert_eq!(journals(), 0, "the journal is finished");
    assert!(!text.contains("Warning"), "{text}");

    proxy.deny_vault_revoke();
    let (code, text) = build_with(&url, dir.path(), &builder, &env, &[]);
    assert_eq!(code, 0, "{text}");
    let leases = proxy.vault_leases();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_says(
        &text,
        &[&format!(
            "Warning: vault_aws_engine: the lease {lease} was not revoked: Vault at {url} \
             answered 403 to PUT /v1/sys/leases/revoke: permission denied. Vault deletes its \
             IAM user when the lease ends, in 768h0m0s; to delete it now: vault lease revoke \
             {lease}",
            lease = leases[0]
        )],
    );
    assert_eq!(
        journals(),
        0,
        "a lease Vault keeps is not left for kiln cleanup"
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// Vault's refusals reach the user with Vault's words and what to do, before anything is
/// made; a Vault that is briefly unavailable (a 503) is asked again. Without role_arn the
/// engine's IAM user keys come without a session token.
#[test]
fn vault_refusals_are_explained_and_an_unavailable_vault_is_asked_again() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (d, url) = (dir.path().display().to_string(), proxy.url());
    let builder = |name: &str| {
        ebs_builder(
            t.port,
            "vault-{{timestamp}}",
            &format!(r#", "skip_create_ami": true, "vault_aws_engine": {{"name": "{name}"}}"#),
        )
    };
    let path = "GET /v1/aws/creds/image-builder";
    for (token, name, says) in [
        (
            "wrong",
            "image-builder",
            format!("Vault at {url} answered 403 to {path}: permission denied"),
        ),
        (
            "",
            "image-builder",
            "no token was sent: set VAULT_TOKEN or run `vault login`".to_string(),
        ),
        (
            "kiln-vault-token",
            "missing",
            format!(
                r#"Vault at {url} answered 400 to GET /v1/aws/creds/missing: Role "missing" not found"#
            ),
        ),
    ] {
        proxy.configure(0.0, None);
        let (code, text) = build_at(
            &url,
            dir.path(),
            &builder(name),
            &vault_env(&d, &url, token),
        );
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(&says), "{says}\n{text}");
        assert_eq!(proxy.calls(), ["VaultReadCreds"], "nothing but the read");
    }
    // Nobody there: said at once with VAULT_MAX_RETRIES=0.
    proxy.configure(0.0, None);
    let mut env = vault_env(&d, "http://127.0.0.1:9", "kiln-vault-token");
    env.push(("VAULT_MAX_RETRIES", "0"));
    let (code, text) = build_at(&url, dir.path(), &builder("image-builder"), &env);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Vault at http://127.0.0.1:9: cannot reach it: io error: client error (Connect): tcp connect error: Connection refused"),
        "{text}"
    );
    assert_eq!(proxy.calls(), Vec::<String>::new());
    // Sealed once, then answering: the second read's IAM user keys sign the calls.
    proxy.configure_action_failure("VaultReadCreds", 1);
    let (code, text) = build_at(
        &url,
        dir.path(),
        &builder("image-builder"),
        &vault_env(&d, &url, "kiln-vault-token"),
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let requests = proxy.requests();
    assert_eq!(
        requests
            .iter()
            .take(2)
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        ["VaultReadCreds", "VaultReadCreds"]
    );
    assert_eq!(proxy.signers(), ["AKIAVAULTUSER0000"]);
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// A build on Vault's credentials killed with -9 once its instance is launched: the journal
/// says which Vault role it read, and `kiln cleanup` reads it again to delete what was left.
#[test]
fn kiln_cleanup_of_a_killed_build_reads_the_same_vault_role() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 5.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{}], "provisioners": [{{"type": "shell", "inline": ["true"]}}]}}"#,
            ebs_builder(
                t.port,
                "killed-{{timestamp}}",
                r#", "vault_aws_engine": {"name": "image-builder", "engine_name": "aws-prod"}"#
            )
        ),
    )
    .unwrap();
    let (d, url, state_dir) = (
        dir.path().display().to_string(),
        proxy.url(),
        state.path().display().to_string(),
    );
    let mut env = vault_env(&d, &url, "kiln-vault-token");
    env.extend([
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("KILN_STATE_DIR", state_dir.as_str()),
    ]);
    let mut cmd = kiln();
    cmd.current_dir(dir.path())
        .args(["build", "-color=false", tpl.to_str().unwrap()])
        .stdout(std::process::Stdio::null());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Killed while waiting for the instance to run (the proxy holds it pending for 5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !proxy
        .calls()
        .iter()
        .skip_while(|c| *c != "RunInstances")
        .any(|c| c == "DescribeInstances")
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", proxy.calls());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(
        m.everything_left(),
        Vec::<String>::new(),
        "the kill left something"
    );
    proxy.configure(0.0, None);
    let out = run_in(dir.path(), &["cleanup"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        m.everything_left(),
        Vec::<String>::new(),
        "{}",
        stdout(&out)
    );
    let requests = proxy.requests();
    assert_eq!(requests[0].0, "VaultReadCreds", "{requests:?}");
    assert_eq!(requests[0].1["path"], "/v1/aws-prod/creds/image-builder");
    assert_eq!(proxy.signers(), ["AKIAVAULTUSER0000"], "{requests:?}");
    // The killed run's IAM user (its lease journaled) and the one this cleanup read: both
    // revoked, after the EC2 resources were deleted.
    assert_eq!(proxy.vault_leases(), Vec::<String>::new(), "{requests:?}");
    let revokes = requests.iter().filter(|r| r.0 == "VaultRevoke").count();
    assert_eq!(revokes, 2, "{requests:?}");
    assert!(
        requests.iter().rev().take(2).all(|r| r.0 == "VaultRevoke"),
        "{requests:?}"
    );
    assert!(
        stdout(&out).contains("deleted vault:lease aws-prod/creds/image-builder/"),
        "{}",
        stdout(&out)
    );
}

/// Vault over HTTPS: its certificate is checked against VAULT_CACERT (or the certificates in
/// VAULT_CAPATH) and nothing else, so one the system does not trust is refused before any
/// secret is asked for.
#[test]
fn vault_over_tls_is_trusted_through_vault_cacert_or_capath() {
    let m = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let pki = tempfile::tempdir().unwrap();
    let [ca, cert, key] = test_ca(pki.path());
    let proxy = Proxy::start_tls(&m, &cert, &key);
    let t = ec2_target(&m);
    let (d, url) = (dir.path().display().to_string(), proxy.url());
    let vault = format!("https://127.0.0.1:{}", proxy.tls_port.unwrap());
    let builder = ebs_builder(
        t.port,
        "tls-{{timestamp}}",
        r#", "skip_create_ami": true, "vault_aws_engine": {"name": "image-builder"}"#,
    );
    let env = vault_env(&d, &vault, "kiln-vault-token");
    let (code, text) = build_at(&url, dir.path(), &builder, &env);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "vault_aws_engine: Vault at {vault}: cannot reach it"
        )),
        "{text}"
    );
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    assert!(!text.contains("ConnectorError"), "no Debug forms: {text}");
    assert_eq!(proxy.calls(), Vec::<String>::new(), "nothing asked or made");
    let only_ca = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, only_ca.path().join("ca.pem")).unwrap();
    let (ca_s, capath_s) = (
        ca.display().to_string(),
        only_ca.path().display().to_string(),
    );
    for trust in [
        ("VAULT_CACERT", ca_s.as_str()),
        ("VAULT_CAPATH", capath_s.as_str()),
    ] {
        proxy.configure(0.0, None);
        let mut env = env.clone();
        env.push(trust);
        let (code, text) = build_at(&url, dir.path(), &builder, &env);
        assert_eq!(code, 0, "{trust:?}\n{text}\n{}", t.log());
        let requests = proxy.requests();
        assert_eq!(requests[0].0, "VaultReadCreds", "{requests:?}");
        assert_eq!(requests[1].2, "AKIAVAULTUSER0000", "{requests:?}");
    }
    assert_eq!(m.everything_left(), Vec::<String>::new());
}

/// IAM user keys Vault has just made are refused by EC2 for a few seconds, while IAM spreads
/// them (the proxy refuses them for 3 s: moto knows every key at once). kiln tries again
/// with the SDK's backoff and the build goes through. The template's own keys refused the same
/// way fail the build at once: a key that is simply wrong is not retried.
#[test]
fn new_vault_user_keys_refused_while_iam_spreads_them_are_tried_again() {
    let m = Moto::start();
    let proxy = Proxy::start(&m, 0.0);
    let t = ec2_target(&m);
    let dir = tempfile::tempdir().unwrap();
    let (d, url) = (dir.path().display().to_string(), proxy.url());
    proxy.configure_vault_propagation(3.0);
    let builder = ebs_builder(
        t.port,
        "spreading-{{timestamp}}",
        r#", "skip_create_ami": true, "vault_aws_engine": {"name": "image-builder"}"#,
    );
    let started = std::time::Instant::now();
    let (code, text) = build_at(
        &url,
        dir.path(),
        &builder,
        &vault_env(&d, &url, "kiln-vault-token"),
    );
    assert_eq!(code, 0, "{text}\n{}", t.log());
    let refused = proxy.refused();
    assert!(
        !refused.is_empty(),
        "nothing was refused: the test tests nothing"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    assert_eq!(proxy.signers(), ["AKIAVAULTUSER0000"]);
    assert_eq!(
        proxy
            .calls()
            .iter()
            .filter(|c| *c == "VaultReadCreds")
            .count(),
        1
    );
    assert_eq!(m.everything_left(), Vec::<String>::new());
    // The same keys written in the template, refused the same way (401 AuthFailure, for 30 s
    // after that read): the build ends at the first call.
    proxy.configure_vault_propagation(30.0);
    let builder = ebs_builder(
        t.port,
        "static-keys",
        r#", "skip_create_ami": true, "access_key": "AKIAVAULTUSER0000", "secret_key": "vault-user-secret""#,
    );
    let (code, text) = build_at(&url, dir.path(), &builder, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("AuthFailure"), "{text}");
    assert_eq!(proxy.calls(), ["DescribeImages"], "not tried again");
    assert_eq!(m.everything_left(), Vec::<String>::new());
}
