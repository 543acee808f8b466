//! The EC2 client: the standard AWS configuration chain (environment, profiles, SSO, IMDS,
//! `AWS_ENDPOINT_URL(_EC2)`), overridden by Packer's options; one TLS stack (rustls on ring).

use super::config::Config;
use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use kiln_core::Error;

/// Builds the client for a build.
pub async fn ec2(c: &Config) -> aws_sdk_ec2::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if !c.region.is_empty() {
        loader = loader.region(aws_config::Region::new(c.region.clone()));
    }
    if !c.profile.is_empty() {
        loader = loader.profile_name(&c.profile);
    }
    if !c.access_key.is_empty() {
        let token = (!c.token.is_empty()).then(|| c.token.clone());
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            c.access_key.clone(),
            c.secret_key.clone(),
            token,
            None,
            "template",
        ));
    }
    if !c.custom_endpoint_ec2.is_empty() {
        loader = loader.endpoint_url(&c.custom_endpoint_ec2);
    }
    let shared = loader.load().await;
    aws_sdk_ec2::Client::new(&shared)
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
    let text = DisplayErrorContext(&e).to_string();
    if text.contains("no credentials found in chain") {
        return Error::msg(format!(
            "EC2 {call} failed: no AWS credentials found. Set access_key and secret_key in the template, \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE or \"profile\"), SSO, \
             or run where instance metadata provides them"
        ));
    }
    if let Some(service) = e.as_service_error() {
        if let Some(code) = service.code() {
            let message = service.message().unwrap_or("no message");
            return Error::msg(format!("EC2 {call} failed: {code}: {message}"));
        }
    }
    // The SDK appends its Debug form after the readable chain: keep the readable part.
    let readable = text.split(" (").next().unwrap_or(&text);
    Error::msg(format!("EC2 {call} failed: {readable}"))
}
