//! kiln's HTTP over the AWS SDK's own stack (hyper, rustls on ring): the SDK client every AWS
//! configuration uses, and one exchange for the secret stores' few requests (not a second
//! HTTP client).

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::http::Request;
use std::time::Duration;

/// The AWS SDK's HTTP client with kiln's one TLS stack (rustls on ring), for an SDK
/// configuration: the amazon builder's and Secrets Manager's.
pub fn sdk_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A connector trusting the system's certificates, or only those of `trust` when given.
pub(crate) fn connector(trust: Option<tls::TlsContext>) -> aws_smithy_http_client::Connector {
    let b = aws_smithy_http_client::Connector::builder().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    match trust {
        Some(cx) => b.tls_context(cx).build(),
        None => b.build(),
    }
}

/// The certificates of a CA file or else a CA directory (each regular file in it), named by
/// their variables for errors: `(VAR, value)`.
pub(crate) fn ca_certificates(
    (file_var, file): (&str, Option<String>),
    (dir_var, dir): (&str, Option<String>),
) -> Result<Vec<Vec<u8>>, String> {
    if let Some(f) = file {
        return Ok(vec![
            std::fs::read(&f).map_err(|e| format!("{file_var} {f}: {e}"))?
        ]);
    }
    let Some(d) = dir else { return Ok(vec![]) };
    let entries = std::fs::read_dir(&d).map_err(|e| format!("{dir_var} {d}: {e}"))?;
    entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            std::fs::read(e.path())
                .map_err(|err| format!("{dir_var} {}: {err}", e.path().display()))
        })
        .collect()
}

/// A connector trusting the system's certificates, or only `ca_pem` when there are any
/// (`whose` service's, for errors).
pub(crate) fn trusting(
    ca_pem: &[Vec<u8>],
    whose: &str,
) -> Result<aws_smithy_http_client::Connector, String> {
    if ca_pem.is_empty() {
        return Ok(connector(None));
    }
    let mut trust = tls::TrustStore::empty().with_native_roots(false);
    for pem in ca_pem {
        trust.add_pem_certificate(pem.clone());
    }
    let cx = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| format!("{whose}'s CA certificates: {e}"))?;
    Ok(connector(Some(cx)))
}

/// Sends `req` and reads the whole answer within `limit`: its status and body, or what went
/// wrong, in words.
pub(crate) async fn exchange(
    connector: &aws_smithy_http_client::Connector,
    req: Request,
    limit: Duration,
) -> Result<(u16, bytes::Bytes), String> {
    let exchange = async {
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
        Ok((status, body))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs_f32())))
}

/// An error and its causes, each once, in words (no Debug forms).
pub fn causes(e: &dyn std::error::Error) -> String {
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
