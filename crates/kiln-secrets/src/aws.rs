//! AWS Secrets Manager's GetSecretValue, as the `aws_secretsmanager` template function calls
//! it: credentials and region from the standard AWS chain, the endpoint from
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL` (or a profile's `endpoint_url`),
//! the request signed with SigV4 by [`SignedClient`], which the amazon builder's IAM calls use
//! too. (One call: a Secrets Manager SDK crate would cost the cold build more than the calls it
//! makes.)

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_types::body::SdkBody;
use std::time::{Duration, SystemTime};

/// How long a call may take.
const LIMIT: Duration = Duration::from_secs(60);

/// Calls to one AWS service's API at one endpoint, each signed with SigV4, on one pool of
/// connections: for the few calls kiln makes to services whose SDK crates would cost the cold
/// build more than the calls are worth (Secrets Manager, IAM).
pub struct SignedClient {
    connector: aws_smithy_http_client::Connector,
    service: String,
    region: String,
    endpoint: String,
}

impl SignedClient {
    /// A client of `service` (its signing name) at `endpoint`, signing for `region`.
    pub fn new(service: &str, region: &str, endpoint: &str) -> SignedClient {
        SignedClient {
            connector: crate::http::connector(None),
            service: service.to_string(),
            region: region.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// The endpoint calls go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POSTs `body` with `headers` to the endpoint's root, signed with `credentials`, within
    /// a minute: the answer's status and body, or what went wrong, in words.
    pub async fn post(
        &self,
        credentials: &aws_credential_types::Credentials,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<(u16, bytes::Bytes), String> {
        let identity = credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::now())
            .settings(aws_sigv4::http_request::SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let url = format!("{}/", self.endpoint);
        let signable = aws_sigv4::http_request::SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (signature, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::from(body));
        req.set_method("POST").map_err(|e| e.to_string())?;
        req.set_uri(url.as_str())
            .map_err(|e| format!("bad endpoint {:?}: {e}", self.endpoint))?;
        for (k, v) in headers.iter().copied().chain(signature.headers()) {
            req.headers_mut().insert(k.to_string(), v.to_string());
        }
        crate::http::exchange(&self.connector, req, LIMIT).await
    }
}

/// Calls the JSON API `target` of `service` (`secretsmanager`, `ssm`) with `body`, through
/// the standard AWS chain; its endpoint from `endpoint_var`, else `AWS_ENDPOINT_URL`, else
/// the region's. The answer of a 200, or the error AWS gave, named by `what`.
async fn call(
    service: &str,
    target: &str,
    endpoint_var: &str,
    body: serde_json::Value,
    what: &str,
) -> Result<serde_json::Value, String> {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::http::sdk_client())
        .load()
        .await;
    let region = conf
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, or a region in the profile")?;
    let endpoint = std::env::var(endpoint_var)
        .ok()
        .filter(|e| !e.is_empty())
        .or_else(|| conf.endpoint_url().map(str::to_string))
        .unwrap_or_else(|| default_endpoint(service, &region));
    let credentials = conf
        .credentials_provider()
        .ok_or("no AWS credentials found")?
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials: {}", crate::http::causes(&e)))?;
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let (status, answer) = SignedClient::new(service, &region, &endpoint)
        .post(&credentials, &headers, body.to_string())
        .await
        .map_err(|why| format!("{service} at {endpoint}: {why}"))?;
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
    if status != 200 {
        let code = json["__type"].as_str().unwrap_or("error");
        let code = code.rsplit('#').next().unwrap_or(code);
        let message = json["message"]
            .as_str()
            .or(json["Message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&answer).trim().to_string());
        return Err(format!("{what} failed: {code}: {message}"));
    }
    Ok(json)
}

/// Secrets Manager's GetSecretValue of `name` at `stage` (or `version_id`): its answer
/// (`SecretString` or `SecretBinary`, `VersionId`, ...).
pub async fn get_secret(
    name: &str,
    stage: &str,
    version_id: &str,
) -> Result<serde_json::Value, String> {
    let mut body = serde_json::json!({"SecretId": name});
    if !version_id.is_empty() {
        body["VersionId"] = version_id.into();
    }
    if !stage.is_empty() {
        body["VersionStage"] = stage.into();
    }
    call(
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        body,
        &format!("Secrets Manager GetSecretValue of {name:?}"),
    )
    .await
}

/// The current value (stage AWSCURRENT) of the secret `name`, as text.
pub async fn secret_string(name: &str) -> Result<String, String> {
    let json = get_secret(name, "AWSCURRENT", "").await?;
    match json["SecretString"].as_str() {
        Some(s) => Ok(s.to_string()),
        // Packer's words.
        None => Err("Secret is not string".into()),
    }
}

/// Systems Manager's GetParameter of `name`: its answer's `Parameter` (`Value`, `Version`,
/// `ARN`, ...).
pub async fn get_parameter(name: &str, decrypt: bool) -> Result<serde_json::Value, String> {
    let json = call(
        "ssm",
        "AmazonSSM.GetParameter",
        "AWS_ENDPOINT_URL_SSM",
        serde_json::json!({"Name": name, "WithDecryption": decrypt}),
        &format!("Systems Manager GetParameter of {name:?}"),
    )
    .await?;
    Ok(json["Parameter"].clone())
}

/// `service`'s endpoint in `region`.
fn default_endpoint(service: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{service}.{region}.{suffix}")
}

/// The value the function gives for a secret's text: the text itself unless it is JSON;
/// of a JSON object, the member `key`, or the only member when `key` is empty (as Packer).
pub fn value_of(secret: &str, key: &str) -> Result<String, String> {
    // A plain number or word is its own value too (Packer refuses JSON that is not an object).
    let json = serde_json::from_str::<serde_json::Value>(secret).unwrap_or_default();
    let Some(members) = json.as_object() else {
        return Ok(secret.to_string());
    };
    // Packer's words.
    if key.is_empty() && members.len() > 1 {
        return Err("Secret has multiple values and no key was set".into());
    }
    let value = if key.is_empty() {
        members.values().next()
    } else {
        members.get(key)
    };
    match value {
        Some(v) => Ok(crate::text(v)),
        None => Err(format!("No secret found for key {key:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_are_the_value_and_json_ones_are_read_by_key() {
        assert_eq!(value_of("s3cret", "").unwrap(), "s3cret");
        assert_eq!(value_of("s3cret", "ignored").unwrap(), "s3cret");
        assert_eq!(value_of("123456", "").unwrap(), "123456");
        let two = r#"{"user": "admin", "port": 5432}"#;
        assert_eq!(value_of(two, "user").unwrap(), "admin");
        assert_eq!(value_of(two, "port").unwrap(), "5432");
        assert!(value_of(two, "")
            .unwrap_err()
            .contains("multiple values and no key"));
        assert!(value_of(two, "pw")
            .unwrap_err()
            .contains(r#"No secret found for key "pw""#));
        assert_eq!(value_of(r#"{"only": "one"}"#, "").unwrap(), "one");
    }

    #[test]
    fn the_default_endpoint_follows_the_partition() {
        assert_eq!(
            default_endpoint("secretsmanager", "eu-west-1"),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("secretsmanager", "cn-north-1"),
            "https://secretsmanager.cn-north-1.amazonaws.com.cn"
        );
    }
}
