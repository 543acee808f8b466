//! Downloads over HTTP and HTTPS (ISOs, their checksum files) with the TLS stack kiln already
//! carries for the AWS SDK (hyper, rustls on ring, the system's trusted roots). Redirects are
//! followed; a download is written beside its target and renamed onto it only when whole.

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

fn client() -> Result<Client<Https, http_body_util::Empty<bytes::Bytes>>, String> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.with_native_roots_or_empty())
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// rustls' builder with the system's trusted roots (none found: HTTPS fails to verify, which
/// the error says).
trait NativeRoots {
    fn with_native_roots_or_empty(self) -> rustls::ClientConfig;
}

impl NativeRoots for rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    fn with_native_roots_or_empty(self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        self.with_root_certificates(roots).with_no_client_auth()
    }
}

/// The response to a GET of `url`, redirects followed.
async fn get(url: &str) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    request(hyper::Method::GET, url).await
}

/// Whether the server of `url` answers a HEAD of it (redirects followed) with success and
/// `Accept-Ranges: bytes`: QEMU can then read it in place (qemu's `iso_skip_cache`).
pub async fn serves_byte_ranges(url: &str) -> Result<bool, String> {
    let resp = request(hyper::Method::HEAD, url).await?;
    Ok(resp
        .headers()
        .get(hyper::header::ACCEPT_RANGES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "bytes"))
}

/// The response to `method` of `url`, redirects followed.
async fn request(
    method: hyper::Method,
    url: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let client = client()?;
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let req = hyper::Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header("user-agent", concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .body(http_body_util::Empty::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
        let status = resp.status();
        if status.is_redirection() {
            let Some(next) = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Err(format!("{url}: {status} without a Location"));
            };
            url = join(&uri, next);
            continue;
        }
        if !status.is_success() {
            return Err(format!("{url}: bad response code: {}", status.as_u16()));
        }
        return Ok(resp);
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}

/// An error and its causes, one after another.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A redirect's target against the URL that gave it.
fn join(base: &hyper::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = base.path();
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    format!("{scheme}://{authority}{dir}{location}")
}

/// A small document (a checksum file) as text.
pub async fn fetch_text(url: &str, cancel: &CancellationToken) -> Result<String, String> {
    let body = async {
        let resp = get(url).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok::<_, String>(String::from_utf8_lossy(&bytes).into_owned())
    };
    tokio::select! {
        r = body => r,
        _ = cancel.cancelled() => Err("cancelled".into()),
    }
}

/// Downloads `url` to `target`: written to `target.kiln-part` first and renamed onto it when
/// complete; the partial file is removed on failure or cancellation. `progress` is told the
/// bytes so far and the total when the server says it.
pub async fn download(
    url: &str,
    target: &Path,
    cancel: &CancellationToken,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<u64, String> {
    let part = target.with_file_name(format!(
        "{}.kiln-part",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let result = tokio::select! {
        r = fetch_to(url, &part, progress) => r,
        _ = cancel.cancelled() => Err("cancelled".into()),
    };
    match result {
        Ok(n) => {
            std::fs::rename(&part, target)
                .map_err(|e| format!("moving the download to {}: {e}", target.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

async fn fetch_to(
    url: &str,
    part: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Send + Sync),
) -> Result<u64, String> {
    if let Some(dir) = part.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let resp = get(url).await?;
    let total = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| format!("{}: {e}", part.display()))?;
    let mut body = resp.into_body();
    let mut got = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{url}: {}", error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data)
                .await
                .map_err(|e| format!("{}: {e}", part.display()))?;
            got += data.len() as u64;
            progress(got, total);
        }
    }
    if let Some(t) = total.filter(|t| *t != got) {
        return Err(format!(
            "{url}: the connection closed after {got} of {t} bytes"
        ));
    }
    file.flush()
        .await
        .map_err(|e| format!("{}: {e}", part.display()))?;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_url_that_gave_them() {
        let base: hyper::Uri = "http://127.0.0.1:80/a/b/c.iso".parse().unwrap();
        assert_eq!(join(&base, "https://x/y"), "https://x/y");
        assert_eq!(join(&base, "/d.iso"), "http://127.0.0.1:80/d.iso");
        assert_eq!(join(&base, "d.iso"), "http://127.0.0.1:80/a/b/d.iso");
    }

    #[tokio::test]
    async fn a_download_lands_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("www");
        std::fs::create_dir_all(&served).unwrap();
        std::fs::write(served.join("disk.iso"), vec![7u8; 300_000]).unwrap();
        std::fs::create_dir_all(served.join("sub")).unwrap();
        std::fs::write(served.join("sub/SHA256SUMS"), "abc  disk.iso\n").unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = crate::http_server::HttpServer::start(l, served).unwrap();
        let base = format!("http://127.0.0.1:{}", server.port);
        let target = dir.path().join("cache/x.iso");
        let seen = std::sync::Mutex::new(vec![]);
        let n = download(
            &format!("{base}/disk.iso"),
            &target,
            &CancellationToken::new(),
            &|got, total| seen.lock().unwrap().push((got, total)),
        )
        .await
        .unwrap();
        assert_eq!(n, 300_000);
        assert_eq!(std::fs::read(&target).unwrap(), vec![7u8; 300_000]);
        assert_eq!(seen.lock().unwrap().last(), Some(&(300_000, Some(300_000))));
        let missing = dir.path().join("cache/y.iso");
        let e = download(
            &format!("{base}/nope.iso"),
            &missing,
            &CancellationToken::new(),
            &|_, _| {},
        )
        .await
        .unwrap_err();
        assert!(e.ends_with("bad response code: 404"), "{e}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("x.iso")]);
        // A directory answers with a redirect to its slash form, which is followed.
        let listing = fetch_text(&format!("{base}/sub"), &CancellationToken::new())
            .await
            .unwrap();
        assert!(listing.contains("SHA256SUMS"), "{listing}");
    }
}
