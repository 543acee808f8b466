//! `vault_aws_engine`: AWS credentials from Vault's AWS secrets engine, read as Packer reads
//! them: `GET $VAULT_ADDR/v1/ENGINE/creds/NAME` with `VAULT_TOKEN`. Also what Packer's docs
//! promise and Packer 1.6.6 leaves out: `role_arn` and `ttl` go to Vault. Unlike Packer, the
//! credentials are read when a call first needs them (`kiln validate` asks Vault nothing), the
//! builds of a run that read the same role share one set, they are read again when they
//! expire, and their secret parts are masked in all output from the moment they arrive.
//! The lease of an IAM-user role's keys is revoked when the run ends, so Vault deletes the
//! IAM user then rather than when the lease runs out (768 h by default): it is journaled
//! until it is, and `kiln cleanup` revokes what a killed run left.

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
    /// Where the leases it reads are recorded (none in `kiln cleanup`).
    pub recorder: Option<Recorder>,
}

/// A build's journal, for the leases its reads make.
#[derive(Clone)]
pub struct Recorder {
    /// The run's journal.
    pub journal: std::sync::Arc<kiln_core::journal::Journal>,
    /// The build that read.
    pub build: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.build)
    }
}

/// The journal kind of a Vault lease.
const LEASE: &str = "vault:lease";

/// An IAM-user lease this process read, to revoke when the run ends.
struct Lease {
    client: kiln_secrets::vault::Client,
    id: String,
    /// How long Vault gave it.
    duration: Duration,
    recorder: Option<Recorder>,
}

impl Lease {
    /// Where its journal records say it lives: the Vault, its namespace.
    fn place(&self) -> [(&'static str, &str); 2] {
        [
            ("vault_addr", self.client.addr.as_str()),
            ("vault_namespace", self.client.namespace.as_str()),
        ]
    }

    fn record(&self, event: kiln_core::journal::Event) {
        if let Some(r) = &self.recorder {
            let place = self.place();
            let place: Vec<(&str, &str)> = place
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .copied()
                .collect();
            r.journal
                .record(&r.build, LEASE, &self.id, &self.id, &place, event);
        }
    }
}

/// The IAM-user leases read in this process and not revoked yet.
static LEASES: std::sync::Mutex<Vec<Lease>> = std::sync::Mutex::new(Vec::new());

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
        SESSIONS
            .get_or(key, read_role(&client, &path, self.recorder.clone()))
            .await
    }
}

/// One read of a role's credentials at `path`, masked and recorded; an IAM user's lease is
/// kept (and journaled) for [`revoke_leases`].
async fn read_role(
    client: &kiln_secrets::vault::Client,
    path: &str,
    recorder: Option<Recorder>,
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
        // STS credentials cannot be revoked: only an IAM user's lease is worth it.
        if let Some(id) = answer["lease_id"].as_str().filter(|id| !id.is_empty()) {
            let lease = Lease {
                client: client.clone(),
                id: id.to_string(),
                duration: Duration::from_secs(answer["lease_duration"].as_u64().unwrap_or(0)),
                recorder,
            };
            lease.record(kiln_core::journal::Event::Created);
            LEASES.lock().unwrap_or_else(|e| e.into_inner()).push(lease);
        }
    }
    Ok(c)
}

/// At the end of the run: revokes the IAM-user leases its builds read, so Vault deletes their
/// IAM users now. A lease Vault does not let the token revoke is left to run out, with a
/// warning that says when and how to revoke it by hand; it is not a failure of the run.
pub fn revoke_leases() -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send>> {
    Box::pin(async {
        let leases = std::mem::take(&mut *LEASES.lock().unwrap_or_else(|e| e.into_inner()));
        let mut warnings = Vec::new();
        for lease in leases {
            match lease.client.revoke(&lease.id).await {
                Ok(()) => {
                    kiln_core::log::log(format_args!(
                        "amazon-ebs: Vault lease {} revoked (its IAM user is deleted)",
                        lease.id
                    ));
                    lease.record(kiln_core::journal::Event::Deleted);
                }
                Err(why) => {
                    warnings.push(format!(
                        "vault_aws_engine: the lease {id} was not revoked: {why}. Vault deletes \
                         its IAM user when the lease ends, in {left}; to delete it now: \
                         vault lease revoke {id}",
                        id = lease.id,
                        left = kiln_template::duration::format_go_duration(lease.duration),
                    ));
                    lease.record(kiln_core::journal::Event::Released);
                }
            }
        }
        warnings
    })
}

/// `kiln cleanup` of a lease a killed run left: revoked at the Vault and namespace it was
/// read from, with the token the environment gives now.
pub fn clean(
    r: kiln_core::journal::Record,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>> {
    Box::pin(async move {
        let place = |k: &str| r.place.get(k).cloned().unwrap_or_default();
        let client = kiln_secrets::vault::Client::from_env(|k| match k {
            "VAULT_ADDR" => Some(place("vault_addr")),
            "VAULT_AGENT_ADDR" => None,
            "VAULT_NAMESPACE" => Some(place("vault_namespace")),
            _ => std::env::var(k).ok(),
        })?;
        client.revoke(&r.id).await.map_err(|why| {
            format!(
                "{why}; Vault deletes its IAM user when the lease ends, or: vault lease revoke {}",
                r.id
            )
        })
    })
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
