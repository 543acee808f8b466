//! `vault_aws_engine`: AWS credentials from Vault's AWS secrets engine, read as Packer reads
//! them: `GET $VAULT_ADDR/v1/ENGINE/creds/NAME` with `VAULT_TOKEN`. Also what Packer's docs
//! promise and Packer 1.6.6 leaves out: `role_arn` and `ttl` go to Vault. Unlike Packer, the
//! credentials are read when a call first needs them (`kiln validate` asks Vault nothing), the
//! builds of a run that read the same role share one set, they are read again when they
//! expire, and their secret parts are masked in all output from the moment they arrive.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_types::body::SdkBody;
use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// Packer's `vault_aws_engine` block.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VaultAwsEngine {
    /// The engine's role to read credentials of.
    #[serde(default)]
    pub name: String,
    /// For a role of several IAM roles: which one to assume.
    #[serde(default)]
    pub role_arn: String,
    /// How long STS credentials last (`"3600s"`); Vault's role default otherwise.
    #[serde(default)]
    pub ttl: String,
    /// Where the engine is mounted (default `aws`).
    #[serde(default)]
    pub engine_name: String,
}

impl VaultAwsEngine {
    /// True when no member is set (Packer then ignores the block).
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
            && self.role_arn.is_empty()
            && self.ttl.is_empty()
            && self.engine_name.is_empty()
    }

    /// The secret's path under `/v1/`, with its query.
    pub fn path(&self) -> String {
        let engine = match self.engine_name.trim_matches('/') {
            "" => "aws",
            e => e,
        };
        let mut path = format!("{engine}/creds/{}", self.name);
        let query: Vec<String> = [("role_arn", &self.role_arn), ("ttl", &self.ttl)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", kiln_template::interp::query_escape(v)))
            .collect();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        path
    }
}

/// Where Vault is and how to talk to it, from the variables Vault's own client reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// `VAULT_AGENT_ADDR`, else `VAULT_ADDR`, else Vault's default.
    pub addr: String,
    /// `VAULT_TOKEN`, else the token `vault login` left in `~/.vault-token`.
    pub token: String,
    /// `VAULT_NAMESPACE` (Vault Enterprise).
    pub namespace: String,
    /// The certificates of `VAULT_CACERT` / `VAULT_CAPATH`, trusted instead of the system's.
    pub ca_pem: Vec<Vec<u8>>,
    /// `VAULT_CLIENT_TIMEOUT` (seconds; default 60).
    pub timeout: Duration,
    /// `VAULT_MAX_RETRIES` (default 2): tries again after an unreachable Vault or a 5xx.
    pub retries: u32,
}

impl Client {
    /// The client the environment describes (`var` reads a variable), or why it cannot be.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Client, String> {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        if var("VAULT_SKIP_VERIFY").is_some_and(|v| !matches!(v.as_str(), "0" | "false")) {
            return Err(
                "VAULT_SKIP_VERIFY is refused: kiln always verifies Vault's TLS certificate; \
                 set VAULT_CACERT to the CA that signed it"
                    .into(),
            );
        }
        for refused in [
            "VAULT_CLIENT_CERT",
            "VAULT_CLIENT_KEY",
            "VAULT_TLS_SERVER_NAME",
        ] {
            if var(refused).is_some() {
                return Err(format!("{refused} is not supported by kiln yet"));
            }
        }
        let token = match var("VAULT_TOKEN") {
            Some(t) => t,
            None => var("HOME")
                .and_then(|h| std::fs::read_to_string(format!("{h}/.vault-token")).ok())
                .map(|t| t.trim().to_string())
                .unwrap_or_default(),
        };
        let mut ca_pem = Vec::new();
        if let Some(f) = var("VAULT_CACERT") {
            ca_pem.push(std::fs::read(&f).map_err(|e| format!("VAULT_CACERT {f}: {e}"))?);
        } else if let Some(d) = var("VAULT_CAPATH") {
            let entries = std::fs::read_dir(&d).map_err(|e| format!("VAULT_CAPATH {d}: {e}"))?;
            for e in entries.flatten().filter(|e| e.path().is_file()) {
                ca_pem.push(
                    std::fs::read(e.path())
                        .map_err(|err| format!("VAULT_CAPATH {}: {err}", e.path().display()))?,
                );
            }
        }
        let number = |k: &str, default: u64| match var(k) {
            None => Ok(default),
            Some(v) => v
                .trim_end_matches('s')
                .parse::<u64>()
                .map_err(|_| format!("{k} must be a whole number, not {v:?}")),
        };
        Ok(Client {
            addr: var("VAULT_AGENT_ADDR")
                .or_else(|| var("VAULT_ADDR"))
                .unwrap_or_else(|| "https://127.0.0.1:8200".into())
                .trim_end_matches('/')
                .to_string(),
            token,
            namespace: var("VAULT_NAMESPACE").unwrap_or_default(),
            ca_pem,
            timeout: Duration::from_secs(number("VAULT_CLIENT_TIMEOUT", 60)?),
            retries: number("VAULT_MAX_RETRIES", 2)? as u32,
        })
    }

    fn connector(&self) -> Result<aws_smithy_http_client::Connector, String> {
        use aws_smithy_http_client::tls;
        let mut b = aws_smithy_http_client::Connector::builder().tls_provider(
            tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring),
        );
        if !self.ca_pem.is_empty() {
            let mut trust = tls::TrustStore::empty().with_native_roots(false);
            for pem in &self.ca_pem {
                trust.add_pem_certificate(pem.clone());
            }
            let cx = tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .map_err(|e| format!("Vault's CA certificates: {e}"))?;
            b = b.tls_context(cx);
        }
        Ok(b.build())
    }

    /// Reads the secret at `path` (under `/v1/`): its JSON, `None` when Vault has nothing
    /// there, or what went wrong, in words.
    pub async fn read(&self, path: &str) -> Result<Option<serde_json::Value>, String> {
        let connector = self.connector()?;
        let url = format!("{}/v1/{path}", self.addr);
        let mut attempt = 0;
        loop {
            let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
            req.set_uri(url.as_str())
                .map_err(|e| format!("bad Vault address {:?}: {e}", self.addr))?;
            req.headers_mut().insert("X-Vault-Request", "true");
            if !self.token.is_empty() {
                req.headers_mut()
                    .insert("X-Vault-Token", self.token.clone());
            }
            if !self.namespace.is_empty() {
                req.headers_mut()
                    .insert("X-Vault-Namespace", self.namespace.clone());
            }
            let answer = tokio::time::timeout(self.timeout, async {
                let resp = connector
                    .call(req)
                    .await
                    .map_err(|e| format!("cannot reach it: {}", causes(&e)))?;
                let status = resp.status().as_u16();
                let body = aws_smithy_types::byte_stream::ByteStream::new(resp.into_body())
                    .collect()
                    .await
                    .map_err(|e| format!("its answer broke off: {e}"))?
                    .into_bytes();
                Ok::<_, String>((status, body))
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", self.timeout.as_secs_f32())));
            let again = match &answer {
                // A certificate refused now is refused again.
                Err(why) => !why.contains("certificate"),
                Ok((status, _)) => *status >= 500 || *status == 412,
            };
            if again && attempt < self.retries {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                continue;
            }
            let (status, body) = answer.map_err(|why| format!("Vault at {}: {why}", self.addr))?;
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let errors: Vec<&str> = json["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e.as_str()).collect())
                .unwrap_or_default();
            return match status {
                200..=299 if json.is_object() => Ok(Some(json)),
                404 if errors.is_empty() => Ok(None),
                _ => {
                    let why = if errors.is_empty() {
                        String::from_utf8_lossy(&body).trim().to_string()
                    } else {
                        errors.join("; ")
                    };
                    let hint = if status == 403 && self.token.is_empty() {
                        "; no token was sent: set VAULT_TOKEN or run `vault login`"
                    } else {
                        ""
                    };
                    Err(format!(
                        "Vault at {} answered {status} to GET /v1/{path}: {why}{hint}",
                        self.addr
                    ))
                }
            };
        }
    }
}

/// An error and its causes, each once, in words (no Debug forms).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// The credentials Vault's answer to a creds read holds: keys, the STS session token when
/// there is one, and when they expire (the lease's end).
pub fn credentials_of(answer: &serde_json::Value, now: SystemTime) -> Result<Credentials, String> {
    let data = &answer["data"];
    let text = |k: &str| data[k].as_str().filter(|v| !v.is_empty());
    let (Some(key), Some(secret)) = (text("access_key"), text("secret_key")) else {
        return Err("Vault's answer holds no access_key and secret_key".into());
    };
    let lease = answer["lease_duration"].as_u64().filter(|s| *s > 0);
    Ok(Credentials::new(
        key,
        secret,
        text("security_token").map(str::to_string),
        lease.map(|s| now + Duration::from_secs(s)),
        "vault_aws_engine",
    ))
}

/// The credentials provider: reads Vault when the SDK first asks, and again once they near
/// their expiry.
#[derive(Debug)]
pub struct VaultCredentials {
    /// What to read.
    pub engine: VaultAwsEngine,
}

/// Credentials read from Vault, by address, namespace and path: each read of an IAM user
/// role makes a new IAM user, so every build of the run that reads the same role shares them.
static SESSIONS: tokio::sync::Mutex<Vec<(String, Credentials)>> =
    tokio::sync::Mutex::const_new(Vec::new());

impl VaultCredentials {
    async fn get(&self) -> aws_credential_types::provider::Result {
        let client = Client::from_env(|k| std::env::var(k).ok()).map_err(|why| {
            CredentialsError::invalid_configuration(format!("vault_aws_engine: {why}"))
        })?;
        let path = self.engine.path();
        let key = format!("{}\n{}\n{path}", client.addr, client.namespace);
        // Held across the read: builds starting together make one read.
        let mut sessions = SESSIONS.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(60))
        };
        if let Some((_, c)) = sessions.iter().find(|(k, c)| *k == key && fresh(c)) {
            return Ok(c.clone());
        }
        let answer = client
            .read(&path)
            .await
            .map_err(|why| CredentialsError::provider_error(format!("vault_aws_engine: {why}")))?
            .ok_or_else(|| {
                CredentialsError::provider_error(format!(
                    "vault_aws_engine: Vault at {} has no secret at /v1/{path}",
                    client.addr
                ))
            })?;
        let c = credentials_of(&answer, SystemTime::now()).map_err(|why| {
            CredentialsError::provider_error(format!("vault_aws_engine: /v1/{path}: {why}"))
        })?;
        kiln_core::redact::hide([c.secret_access_key()].into_iter().chain(c.session_token()));
        kiln_core::log::log(format_args!(
            "amazon-ebs: credentials {} read from Vault at {} (/v1/{path})",
            c.access_key_id(),
            client.addr
        ));
        sessions.retain(|(k, _)| *k != key);
        sessions.push((key, c.clone()));
        Ok(c)
    }
}

impl aws_credential_types::provider::ProvideCredentials for VaultCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_path_has_packers_default_engine_and_sends_role_arn_and_ttl() {
        let mut e = VaultAwsEngine {
            name: "builder".into(),
            ..Default::default()
        };
        assert_eq!(e.path(), "aws/creds/builder");
        e.engine_name = "/aws-prod/".into();
        e.role_arn = "arn:aws:iam::123456789012:role/image builder".into();
        e.ttl = "900s".into();
        assert_eq!(
            e.path(),
            "aws-prod/creds/builder?role_arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fimage+builder&ttl=900s"
        );
        assert!(!e.is_empty());
        assert!(VaultAwsEngine::default().is_empty());
    }

    #[test]
    fn the_environment_says_where_vault_is_and_which_token_to_send() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let c = Client::from_env(env(&[("HOME", h)])).unwrap();
        assert_eq!(c.addr, "https://127.0.0.1:8200");
        assert_eq!(
            (c.token.as_str(), c.timeout, c.retries),
            ("", Duration::from_secs(60), 2)
        );
        // `vault login`'s token file, unless VAULT_TOKEN says otherwise.
        std::fs::write(home.path().join(".vault-token"), "s.fromfile\n").unwrap();
        let c = Client::from_env(env(&[("HOME", h), ("VAULT_ADDR", "http://v:8200/")])).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.token.as_str()),
            ("http://v:8200", "s.fromfile")
        );
        let c = Client::from_env(env(&[
            ("HOME", h),
            ("VAULT_ADDR", "http://v:8200"),
            ("VAULT_AGENT_ADDR", "http://agent:8100"),
            ("VAULT_TOKEN", "s.env"),
            ("VAULT_NAMESPACE", "team"),
            ("VAULT_CLIENT_TIMEOUT", "5s"),
            ("VAULT_MAX_RETRIES", "0"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "http://agent:8100");
        assert_eq!((c.token.as_str(), c.namespace.as_str()), ("s.env", "team"));
        assert_eq!((c.timeout, c.retries), (Duration::from_secs(5), 0));
    }

    #[test]
    fn unsafe_or_unreadable_tls_settings_are_refused_by_name() {
        let err = |pairs: &[(&str, &str)]| Client::from_env(env(pairs)).unwrap_err();
        assert!(err(&[("VAULT_SKIP_VERIFY", "true")]).contains("VAULT_SKIP_VERIFY is refused"));
        assert!(Client::from_env(env(&[("VAULT_SKIP_VERIFY", "false")])).is_ok());
        assert!(err(&[("VAULT_CLIENT_CERT", "/c.pem")]).contains("VAULT_CLIENT_CERT"));
        assert!(err(&[("VAULT_CACERT", "/nonexistent/ca.pem")])
            .contains("VAULT_CACERT /nonexistent/ca.pem"));
        assert!(err(&[("VAULT_MAX_RETRIES", "many")])
            .contains("VAULT_MAX_RETRIES must be a whole number"));
    }

    #[test]
    fn an_answer_gives_keys_token_and_the_leases_end() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let sts = serde_json::json!({"lease_duration": 900, "data": {
            "access_key": "ASIAX", "secret_key": "s", "security_token": "t"}});
        let c = credentials_of(&sts, now).unwrap();
        assert_eq!((c.access_key_id(), c.secret_access_key()), ("ASIAX", "s"));
        assert_eq!(c.session_token(), Some("t"));
        assert_eq!(c.expiry(), Some(now + Duration::from_secs(900)));
        // An IAM user's keys: no token (Vault sends null).
        let user = serde_json::json!({"lease_duration": 0, "data": {
            "access_key": "AKIAX", "secret_key": "s", "security_token": null}});
        let c = credentials_of(&user, now).unwrap();
        assert_eq!((c.session_token(), c.expiry()), (None, None));
        let empty = serde_json::json!({"data": {"access_key": "AKIAX"}});
        assert!(credentials_of(&empty, now)
            .unwrap_err()
            .contains("no access_key and secret_key"));
    }
}
