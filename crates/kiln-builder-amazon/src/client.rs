//! The EC2 client: the standard AWS configuration chain (environment, profiles, SSO, IMDS,
//! `AWS_ENDPOINT_URL(_EC2)`), overridden by Packer's options; one TLS stack (rustls on ring).

use super::config::{AssumeRole, Config};
use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use kiln_core::Error;

/// An EC2 client of its own (for `kiln cleanup`).
pub async fn ec2(c: &Config) -> aws_sdk_ec2::Client {
    ec2_in(&sdk_config(c, None).await, c, None)
}

/// An EC2 client on a build's shared configuration (one credential cache: a role is assumed
/// once, an MFA code used once), in `region` or the configuration's.
pub fn ec2_in(
    shared: &aws_config::SdkConfig,
    c: &Config,
    region: Option<&str>,
) -> aws_sdk_ec2::Client {
    let mut conf = aws_sdk_ec2::config::Builder::from(shared);
    if let Some(r) = region {
        conf = conf.region(aws_config::Region::new(r.to_string()));
    }
    if c.vault().is_some() {
        conf = conf.retry_classifier(crate::vault::NewKeysSpreading);
    }
    // Only EC2 goes to custom_endpoint_ec2 (STS and IAM keep their own).
    if !c.custom_endpoint_ec2.is_empty() {
        conf = conf.endpoint_url(&c.custom_endpoint_ec2);
    }
    aws_sdk_ec2::Client::from_conf(conf.build())
}

/// The IAM client (temporary instance profiles); IAM's endpoint comes from the standard
/// chain (AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL), never custom_endpoint_ec2.
pub fn iam_in(shared: &aws_config::SdkConfig) -> crate::iam::Iam {
    crate::iam::Iam::new(shared)
}

/// An IAM client of its own (for `kiln cleanup`).
pub async fn iam(c: &Config) -> crate::iam::Iam {
    iam_in(&sdk_config(c, None).await)
}

/// The shared AWS configuration: the standard chain with Packer's overrides. `recorder`
/// journals the Vault leases its credentials make.
pub async fn sdk_config(
    c: &Config,
    recorder: Option<crate::vault::Recorder>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(kiln_secrets::http::sdk_client());
    if !c.region.is_empty() {
        loader = loader.region(aws_config::Region::new(c.region.clone()));
    }
    // mfa_code: the profile's role is assumed here with the code (the SDK's profile chain
    // has no MFA), from the credentials of its source_profile.
    let mfa = if c.mfa_code.is_empty() {
        None
    } else {
        Some(mfa_profile(c).await)
    };
    match &mfa {
        Some(Ok(m)) => {
            // The selected profile's region, not its source profile's.
            loader = loader.profile_name(&m.source_profile);
            if let (true, Some(r)) = (c.region.is_empty(), &m.region) {
                loader = loader.region(aws_config::Region::new(r.clone()));
            }
        }
        _ if !c.profile.is_empty() => loader = loader.profile_name(&c.profile),
        _ => {}
    }
    if let Some(files) = profile_files(c) {
        loader = loader.profile_files(files);
    }
    // Packer counts retries and defaults to 10 (throttling is common with parallel builds);
    // the SDK counts attempts, the first one included.
    let retries = c.max_retries.filter(|n| *n > 0).unwrap_or(10);
    loader = loader.retry_config(
        aws_config::retry::RetryConfig::standard().with_max_attempts(retries.saturating_add(1)),
    );
    if let Some(engine) = c.vault() {
        loader = loader.credentials_provider(crate::vault::VaultCredentials {
            engine: engine.clone(),
            recorder,
        });
    } else if !c.access_key.is_empty() {
        let token = (!c.token.is_empty()).then(|| c.token.clone());
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            c.access_key.clone(),
            c.secret_key.clone(),
            token,
            None,
            "template",
        ));
    }
    let shared = loader.load().await;
    let provider = match (mfa, &c.assume_role) {
        (Some(Err(why)), _) => Some(AssumedRole {
            sts: aws_sdk_sts::Client::new(&shared),
            role: AssumeRole::default(),
            mfa: Err(why),
        }),
        (Some(Ok(m)), _) => Some(AssumedRole {
            sts: aws_sdk_sts::Client::new(&shared),
            role: m.role,
            mfa: Ok(Some((m.serial, c.mfa_code.clone()))),
        }),
        (None, Some(role)) => Some(AssumedRole {
            sts: aws_sdk_sts::Client::new(&shared),
            role: role.clone(),
            mfa: Ok(None),
        }),
        (None, None) => None,
    };
    match provider {
        Some(p) => shared
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(p))
            .build(),
        None => shared,
    }
}

/// `shared_credentials_file` in place of ~/.aws/credentials.
fn profile_files(c: &Config) -> Option<aws_runtime::env_config::file::EnvConfigFiles> {
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
    (!c.shared_credentials_file.is_empty()).then(|| {
        EnvConfigFiles::builder()
            .include_default_config_file(true)
            .with_file(EnvConfigFileKind::Credentials, &c.shared_credentials_file)
            .build()
    })
}

/// What `mfa_code` needs from the selected profile.
struct MfaProfile {
    role: AssumeRole,
    region: Option<String>,
    serial: String,
    source_profile: String,
}

/// Reads the selected profile's `role_arn`, `mfa_serial`, `source_profile` (and
/// `external_id`, `role_session_name`, `duration_seconds`).
async fn mfa_profile(c: &Config) -> Result<MfaProfile, String> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = profile_files(c).unwrap_or_default();
    let selected = (!c.profile.is_empty()).then(|| std::borrow::Cow::Owned(c.profile.clone()));
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, selected)
        .await
        .map_err(|e| format!("mfa_code: could not read the AWS profiles: {e}"))?;
    let name = set.selected_profile().to_string();
    let p = set
        .get_profile(&name)
        .ok_or_else(|| format!("mfa_code: there is no profile \"{name}\""))?;
    let need = |key: &str| {
        p.get(key).map(str::to_string).ok_or_else(|| {
            format!("mfa_code needs a profile with role_arn, mfa_serial and source_profile; profile \"{name}\" has no {key}")
        })
    };
    let role_arn = need("role_arn")?;
    let serial = need("mfa_serial")?;
    let source_profile = need("source_profile")?;
    Ok(MfaProfile {
        role: AssumeRole {
            role_arn,
            external_id: p.get("external_id").unwrap_or_default().to_string(),
            session_name: p.get("role_session_name").unwrap_or_default().to_string(),
            duration_seconds: p.get("duration_seconds").and_then(|d| d.parse().ok()),
            ..AssumeRole::default()
        },
        serial,
        source_profile,
        region: p.get("region").map(str::to_string),
    })
}

/// Packer's `assume_role`: credentials of a role, from STS with the base credentials (the
/// SDK's identity cache asks again before they expire).
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    role: AssumeRole,
    /// The MFA device and code, or why the profile cannot be used.
    mfa: Result<Option<(String, String)>, String>,
}

/// Credentials kept by a key of where they came from: those the run's builds share, for
/// sources that must not be asked twice (an MFA code is good for one AssumeRole; each Vault
/// read of an IAM-user role makes a new IAM user), and an IAM client's own (one key), so that
/// it does not ask its provider again for each call.
pub(crate) struct RunCredentials(
    tokio::sync::Mutex<Vec<(String, aws_credential_types::Credentials)>>,
);

impl RunCredentials {
    /// None yet.
    pub(crate) const fn new() -> RunCredentials {
        RunCredentials(tokio::sync::Mutex::const_new(Vec::new()))
    }

    /// The credentials kept for `key` unless they expire within a minute, else `fetch`'s,
    /// kept. Held across the fetch: builds asking together make one fetch.
    pub(crate) async fn get_or(
        &self,
        key: String,
        fetch: impl std::future::Future<Output = aws_credential_types::provider::Result>,
    ) -> aws_credential_types::provider::Result {
        let mut kept = self.0.lock().await;
        let fresh = |c: &aws_credential_types::Credentials| {
            c.expiry().is_none_or(|e| {
                e > std::time::SystemTime::now() + std::time::Duration::from_secs(60)
            })
        };
        if let Some((_, c)) = kept.iter().find(|(k, c)| *k == key && fresh(c)) {
            return Ok(c.clone());
        }
        let c = fetch.await?;
        kept.retain(|(k, _)| *k != key);
        kept.push((key, c.clone()));
        Ok(c)
    }
}

/// Credentials a role gave for an MFA code, by role, device and code.
static MFA_SESSIONS: RunCredentials = RunCredentials::new();

impl AssumedRole {
    async fn assume(&self) -> aws_credential_types::provider::Result {
        let Ok(Some((serial, code))) = &self.mfa else {
            return self.assume_now().await;
        };
        let key = format!("{}\n{serial}\n{code}", self.role.role_arn);
        MFA_SESSIONS.get_or(key, self.assume_now()).await
    }

    async fn assume_now(&self) -> aws_credential_types::provider::Result {
        use aws_credential_types::provider::error::CredentialsError;
        let mfa = self
            .mfa
            .clone()
            .map_err(CredentialsError::invalid_configuration)?;
        let r = &self.role;
        let name = if r.session_name.is_empty() {
            format!("kiln-{}", chrono::Utc::now().timestamp())
        } else {
            r.session_name.clone()
        };
        let mut req = self
            .sts
            .assume_role()
            .role_arn(&r.role_arn)
            .role_session_name(name)
            .set_external_id((!r.external_id.is_empty()).then(|| r.external_id.clone()))
            .set_policy((!r.policy.is_empty()).then(|| r.policy.clone()))
            .set_duration_seconds(r.duration_seconds.map(|d| d as i32));
        if let Some((serial, code)) = mfa {
            req = req.serial_number(serial).token_code(code);
        }
        for arn in &r.policy_arns {
            req = req.policy_arns(
                aws_sdk_sts::types::PolicyDescriptorType::builder()
                    .arn(arn)
                    .build(),
            );
        }
        for (k, v) in &r.tags {
            let tag = aws_sdk_sts::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(CredentialsError::invalid_configuration)?;
            req = req.tags(tag);
        }
        for k in &r.transitive_tag_keys {
            req = req.transitive_tag_keys(k);
        }
        let out = req.send().await.map_err(|e| {
            let why = match (e.code(), e.message()) {
                (Some(code), message) => format!("{code}: {}", message.unwrap_or("no message")),
                _ => DisplayErrorContext(&e).to_string(),
            };
            CredentialsError::provider_error(format!(
                "STS AssumeRole of {} failed: {why}",
                r.role_arn
            ))
        })?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::unhandled(format!(
                "STS AssumeRole of {} returned no credentials",
                r.role_arn
            ))
        })?;
        let expires = std::time::SystemTime::try_from(*c.expiration()).ok();
        Ok(aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expires,
            "assume_role",
        ))
    }
}

impl aws_credential_types::provider::ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(self.assume())
    }
}

/// With `decode_authorization_messages`: EC2's encoded reason for an authorization failure in
/// `error`, decoded by STS (None when there is none or STS cannot decode it).
pub async fn decode_authorization(shared: &aws_config::SdkConfig, error: &str) -> Option<String> {
    const MARK: &str = "Encoded authorization failure message: ";
    let at = error.find(MARK)? + MARK.len();
    let encoded: String = error[at..]
        .chars()
        .take_while(|ch| !ch.is_whitespace())
        .collect();
    if encoded.is_empty() {
        return None;
    }
    let sts = aws_sdk_sts::Client::new(shared);
    match sts
        .decode_authorization_message()
        .encoded_message(&encoded)
        .send()
        .await
    {
        Ok(out) => out.decoded_message().map(str::to_string),
        Err(e) => {
            kiln_core::log::log(format_args!(
                "[WARN] could not decode the authorization failure message: {}",
                DisplayErrorContext(&e)
            ));
            None
        }
    }
}

/// True when the error is EC2 throttling (slow down and retry).
pub fn throttled<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(
        e.as_service_error().and_then(|s| s.code()),
        Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException")
    )
}

/// The service error code, if any.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_string)
}

/// A build error naming the call and, for errors EC2 answered, its code and message.
pub fn api_err<E: std::error::Error + ProvideErrorMetadata + 'static, R: std::fmt::Debug>(
    call: &str,
    e: SdkError<E, R>,
) -> Error {
    service_err("EC2", call, e)
}

/// An SDK error's text without the Debug form the SDK appends after its readable chain.
fn readable(text: &str) -> &str {
    let variants = [
        "DispatchFailure",
        "ServiceError",
        "ConstructionFailure",
        "TimeoutError",
        "ResponseError",
    ];
    variants
        .iter()
        .filter_map(|v| text.find(&format!(" ({v}(")))
        .min()
        .map_or(text, |at| &text[..at])
}

/// [`api_err`] for any AWS service's call.
pub fn service_err<E: std::error::Error + ProvideErrorMetadata + 'static, R: std::fmt::Debug>(
    service: &str,
    call: &str,
    e: SdkError<E, R>,
) -> Error {
    let text = readable(&DisplayErrorContext(&e).to_string()).to_string();
    if let Some(refusal) = e.as_service_error() {
        if let Some(code) = refusal.code() {
            let message = refusal.message().unwrap_or("no message");
            return Error::msg(format!("{service} {call} failed: {code}: {message}"));
        }
    }
    Error::msg(format!(
        "{service} {call} failed: {}",
        credentials_words(&text)
    ))
}

/// What to say when no credentials were found anywhere.
pub const NO_CREDENTIALS: &str =
    "no AWS credentials found. Set access_key and secret_key in the template, \
     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE or \"profile\"), SSO, \
     or run where instance metadata provides them";

/// A failed call's words (`text`): when credentials were the failure, what was missing or a
/// credentials provider's own words (a role that cannot be assumed, a Vault refusal),
/// without the SDK's layers before them; else `text` itself.
pub fn credentials_words(text: &str) -> String {
    if text.contains("no credentials found in chain") || text.contains("no providers in chain") {
        return NO_CREDENTIALS.to_string();
    }
    const CREDENTIALS: &str = "an error occurred while loading credentials: ";
    const PROVIDER: &str = "the credential provider was not enabled: ";
    for mark in [CREDENTIALS, PROVIDER] {
        if let Some(at) = text.find(mark) {
            return format!("no credentials: {}", &text[at + mark.len()..]);
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_sdk_errors_debug_tail_is_cut_and_its_own_parentheses_kept() {
        assert_eq!(
            super::readable(
                "dispatch failure: io error: tcp connect error: Connection refused (os error 111) \
                 (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io } }))"
            ),
            "dispatch failure: io error: tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(super::readable("no tail here"), "no tail here");
    }
}
