//! A Consul KV client for the `consul_key` template function: where Consul is and how to
//! reach it, from the variables Consul's own client reads (`CONSUL_HTTP_ADDR`,
//! `CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_SSL`, `CONSUL_CACERT`, ...), and reads of a key over the
//! same HTTP and TLS stack as the AWS SDK.

use aws_smithy_types::body::SdkBody;
use std::time::Duration;

/// How long a read may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where Consul is and how to talk to it, from the variables Consul's own client reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// `scheme://host:port`: `CONSUL_HTTP_ADDR` (default 127.0.0.1:8500), over https when it
    /// says so or `CONSUL_HTTP_SSL` is true.
    pub addr: String,
    /// `CONSUL_HTTP_TOKEN_FILE`'s token, else `CONSUL_HTTP_TOKEN`.
    pub token: String,
    /// `CONSUL_HTTP_AUTH` (`user:password`), sent as HTTP basic authentication.
    pub auth: String,
    /// `CONSUL_NAMESPACE` (Consul Enterprise).
    pub namespace: String,
    /// The certificates of `CONSUL_CACERT` / `CONSUL_CAPATH`, trusted instead of the system's.
    pub ca_pem: Vec<Vec<u8>>,
}

impl Client {
    /// The client the environment describes (`var` reads a variable), or why it cannot be.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Client, String> {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let truth = |k: &str| {
            var(k).map(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
        };
        if truth("CONSUL_HTTP_SSL_VERIFY") == Some(false) {
            return Err(
                "CONSUL_HTTP_SSL_VERIFY=false is refused: kiln always verifies Consul's TLS \
                 certificate; set CONSUL_CACERT to the CA that signed it"
                    .into(),
            );
        }
        for refused in [
            "CONSUL_CLIENT_CERT",
            "CONSUL_CLIENT_KEY",
            "CONSUL_TLS_SERVER_NAME",
        ] {
            if var(refused).is_some() {
                return Err(format!("{refused} is not supported by kiln yet"));
            }
        }
        let address = var("CONSUL_HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:8500".into());
        let ssl = truth("CONSUL_HTTP_SSL") == Some(true);
        let addr = match address.split_once("://") {
            None => format!("{}://{address}", if ssl { "https" } else { "http" }),
            Some(("http" | "https", _)) => address.clone(),
            Some(("unix", _)) => {
                return Err(format!(
                    "CONSUL_HTTP_ADDR {address}: a unix socket is not supported by kiln yet"
                ))
            }
            // Consul's client's words.
            Some((scheme, _)) => return Err(format!("Unknown protocol scheme: {scheme}")),
        };
        let token = match var("CONSUL_HTTP_TOKEN_FILE") {
            Some(f) => std::fs::read_to_string(&f)
                .map_err(|e| format!("Error loading token file: {f}: {e}"))?
                .trim()
                .to_string(),
            None => String::new(),
        };
        Ok(Client {
            addr: addr.trim_end_matches('/').to_string(),
            token: if token.is_empty() {
                var("CONSUL_HTTP_TOKEN").unwrap_or_default()
            } else {
                token
            },
            auth: var("CONSUL_HTTP_AUTH").unwrap_or_default(),
            namespace: var("CONSUL_NAMESPACE").unwrap_or_default(),
            ca_pem: crate::http::ca_certificates(
                ("CONSUL_CACERT", var("CONSUL_CACERT")),
                ("CONSUL_CAPATH", var("CONSUL_CAPATH")),
            )?,
        })
    }

    /// The value of `key` (its leading `/` dropped, as Consul's client does): `None` when
    /// Consul has no such key, or what went wrong, in words.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let key = key.strip_prefix('/').unwrap_or(key);
        let mut url = format!("{}/v1/kv/{}", self.addr, path_escape(key));
        if !self.namespace.is_empty() {
            url = format!(
                "{url}?ns={}",
                kiln_template::interp::query_escape(&self.namespace)
            );
        }
        let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
        req.set_uri(url.as_str())
            .map_err(|e| format!("bad Consul address {:?}: {e}", self.addr))?;
        if !self.token.is_empty() {
            req.headers_mut()
                .insert("X-Consul-Token", self.token.clone());
        }
        if !self.auth.is_empty() {
            let basic = aws_smithy_types::base64::encode(self.auth.as_bytes());
            req.headers_mut()
                .insert("Authorization", format!("Basic {basic}"));
        }
        let connector = crate::http::trusting(&self.ca_pem, "Consul")?;
        let (status, body) = crate::http::exchange(&connector, req, TIMEOUT)
            .await
            .map_err(|why| format!("Consul at {}: {why}", self.addr))?;
        match status {
            200 => {
                let entries: Vec<serde_json::Value> =
                    serde_json::from_slice(&body).map_err(|e| {
                        format!("Consul at {}: its answer is not a key list: {e}", self.addr)
                    })?;
                let Some(entry) = entries.first() else {
                    return Ok(None);
                };
                match entry["Value"].as_str() {
                    None => Ok(Some(Vec::new())),
                    Some(v) => aws_smithy_types::base64::decode(v).map(Some).map_err(|e| {
                        format!("Consul at {}: the value is not base64: {e}", self.addr)
                    }),
                }
            }
            404 => Ok(None),
            _ => {
                let text = String::from_utf8_lossy(&body).trim().to_string();
                let hint = if status == 403 && self.token.is_empty() {
                    "; no token was sent: set CONSUL_HTTP_TOKEN"
                } else {
                    ""
                };
                // Consul's client's words, and Consul's reason.
                Err(format!(
                    "Unexpected response code: {status} ({text}) from Consul at {}{hint}",
                    self.addr
                ))
            }
        }
    }
}

/// `key` escaped for a URL path, its `/` kept (as Go's URL does).
fn path_escape(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_environment_says_where_consul_is_as_consuls_client_reads_it() {
        let c = Client::from_env(env(&[])).unwrap();
        assert_eq!(c.addr, "http://127.0.0.1:8500");
        assert_eq!(c.token, "");
        let c = Client::from_env(env(&[
            ("CONSUL_HTTP_ADDR", "consul.internal:8501"),
            ("CONSUL_HTTP_SSL", "true"),
            ("CONSUL_HTTP_TOKEN", "t1"),
            ("CONSUL_HTTP_AUTH", "u:p"),
            ("CONSUL_NAMESPACE", "team"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "https://consul.internal:8501");
        assert_eq!((c.token.as_str(), c.auth.as_str()), ("t1", "u:p"));
        assert_eq!(c.namespace, "team");
        // A scheme in the address wins over CONSUL_HTTP_SSL.
        let c = Client::from_env(env(&[
            ("CONSUL_HTTP_ADDR", "http://127.0.0.1:1/"),
            ("CONSUL_HTTP_SSL", "1"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "http://127.0.0.1:1");
        // The token file wins over the token, as in Consul's client.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let c = Client::from_env(env(&[
            ("CONSUL_HTTP_TOKEN", "t1"),
            ("CONSUL_HTTP_TOKEN_FILE", f.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(c.token, "from-file");
    }

    #[test]
    fn unsafe_or_unknown_settings_are_refused_by_name() {
        let err = |pairs: &[(&str, &str)]| Client::from_env(env(pairs)).unwrap_err();
        assert!(err(&[("CONSUL_HTTP_SSL_VERIFY", "false")]).contains("always verifies"));
        assert_eq!(
            err(&[("CONSUL_CLIENT_CERT", "/c.pem")]),
            "CONSUL_CLIENT_CERT is not supported by kiln yet"
        );
        assert_eq!(
            err(&[("CONSUL_HTTP_ADDR", "ftp://x")]),
            "Unknown protocol scheme: ftp"
        );
        assert!(err(&[("CONSUL_HTTP_ADDR", "unix:///run/consul.sock")]).contains("unix socket"));
        assert!(err(&[("CONSUL_HTTP_TOKEN_FILE", "/nonexistent")])
            .starts_with("Error loading token file: /nonexistent"));
        assert!(err(&[("CONSUL_CACERT", "/nonexistent")]).starts_with("CONSUL_CACERT /nonexistent"));
    }

    #[test]
    fn keys_are_escaped_for_the_path_and_keep_their_slashes() {
        assert_eq!(path_escape("app/db pass"), "app/db%20pass");
        assert_eq!(path_escape("a?b#c"), "a%3Fb%23c");
    }
}
