//! `vault_aws_engine`: AWS credentials from Vault's AWS secrets engine, read as Packer reads
//! them: `GET $VAULT_ADDR/v1/ENGINE/creds/NAME` with `VAULT_TOKEN`. Also what Packer's docs
//! promise and Packer 1.6.6 leaves out: `role_arn` and `ttl` go to Vault. Unlike Packer, the
//! credentials are read when a call first needs them (`kiln validate` asks Vault nothing), the
//! builds of a run that read the same role share one set, they are read again when they
//! expire, and their secret parts are masked in all output from the moment they arrive.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::Credentials;
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

/// When IAM user keys (no session token) were last read from Vault. IAM spreads new keys
/// to the other services over seconds, so for a while EC2 may refuse them as unknown; Vault
/// leaves the retry to its clients (hashicorp/vault#3115), Packer does not retry.
static NEW_USER_KEYS: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// How long after a read a refusal of the keys is taken for IAM still spreading them.
const PROPAGATION: Duration = Duration::from_secs(60);

/// Retries an EC2 call refused with AuthFailure (or IAM's and STS's InvalidClientTokenId)
/// within [`PROPAGATION`] of reading new IAM user keys from Vault, with the SDK's backoff and
/// attempts; any other time such a refusal stands.
#[derive(Debug)]
pub struct NewKeysSpreading;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for NewKeysSpreading {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let spreading = NEW_USER_KEYS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < PROPAGATION);
        let refused = ctx.response().is_some_and(|r| {
            matches!(r.status().as_u16(), 401 | 403)
                && r.body().bytes().is_some_and(|b| {
                    let text = String::from_utf8_lossy(b);
                    text.contains("AuthFailure") || text.contains("InvalidClientTokenId")
                })
        });
        if spreading && refused {
            kiln_core::log::log(
                "amazon-ebs: the keys Vault just made are not known yet; trying again",
            );
            RetryAction::transient_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "vault_new_iam_user_keys"
    }

    fn priority(
        &self,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
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
static SESSIONS: crate::client::RunCredentials = crate::client::RunCredentials::new();

impl VaultCredentials {
    async fn get(&self) -> aws_credential_types::provider::Result {
        let client =
            kiln_secrets::vault::Client::from_env(|k| std::env::var(k).ok()).map_err(|why| {
                CredentialsError::invalid_configuration(format!("vault_aws_engine: {why}"))
            })?;
        let path = self.engine.path();
        let key = format!("{}\n{}\n{path}", client.addr, client.namespace);
        SESSIONS.get_or(key, read_role(&client, &path)).await
    }
}

/// One read of a role's credentials at `path`, masked and recorded.
async fn read_role(
    client: &kiln_secrets::vault::Client,
    path: &str,
) -> aws_credential_types::provider::Result {
    let answer = client
        .read(path)
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
    if c.session_token().is_none() {
        *NEW_USER_KEYS.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }
    Ok(c)
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
