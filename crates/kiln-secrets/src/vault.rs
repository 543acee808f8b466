//! A Vault client: where Vault is and how to reach it, from the variables Vault's own client
//! reads (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE`, `VAULT_CACERT`, ...), and reads of
//! its secrets over the same HTTP and TLS stack as the AWS SDK.

use aws_smithy_types::body::SdkBody;
use std::time::Duration;

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
        let ca_pem = crate::http::ca_certificates(
            ("VAULT_CACERT", var("VAULT_CACERT")),
            ("VAULT_CAPATH", var("VAULT_CAPATH")),
        )?;
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

    /// Reads the secret at `path` (under `/v1/`): its JSON, `None` when Vault has nothing
    /// there, or what went wrong, in words.
    pub async fn read(&self, path: &str) -> Result<Option<serde_json::Value>, String> {
        let answer = self.call("GET", path, None).await?;
        let errors = answer.errors();
        match (answer.status, answer.json) {
            (200..=299, Some(json)) if json.is_object() => Ok(Some(json)),
            (404, _) if errors.is_empty() => Ok(None),
            (status, _) => Err(self.refusal("GET", path, status, errors, &answer.text)),
        }
    }

    /// Revokes a lease (`PUT /v1/sys/leases/revoke`): Vault deletes what it made for it (the
    /// IAM user of an IAM-user role) now rather than when the lease ends. Revoking a lease
    /// that is already gone succeeds, as Vault answers.
    pub async fn revoke(&self, lease_id: &str) -> Result<(), String> {
        let body = serde_json::json!({ "lease_id": lease_id }).to_string();
        let answer = self.call("PUT", "sys/leases/revoke", Some(body)).await?;
        match answer.status {
            200..=299 => Ok(()),
            status => Err(self.refusal(
                "PUT",
                "sys/leases/revoke",
                status,
                answer.errors(),
                &answer.text,
            )),
        }
    }

    /// Sends one request to `/v1/{path}`, again after an unreachable Vault or a 5xx as
    /// `VAULT_MAX_RETRIES` allows: Vault's answer, or why there was none.
    async fn call(&self, method: &str, path: &str, body: Option<String>) -> Result<Answer, String> {
        let connector = crate::http::trusting(&self.ca_pem, "Vault")?;
        let url = format!("{}/v1/{path}", self.addr);
        let mut attempt = 0;
        loop {
            let mut req = aws_smithy_runtime_api::http::Request::new(
                body.clone().map_or_else(SdkBody::empty, SdkBody::from),
            );
            req.set_uri(url.as_str())
                .map_err(|e| format!("bad Vault address {:?}: {e}", self.addr))?;
            req.set_method(method)
                .map_err(|e| format!("{method} {url}: {e}"))?;
            req.headers_mut().insert("X-Vault-Request", "true");
            if body.is_some() {
                req.headers_mut().insert("Content-Type", "application/json");
            }
            if !self.token.is_empty() {
                req.headers_mut()
                    .insert("X-Vault-Token", self.token.clone());
            }
            if !self.namespace.is_empty() {
                req.headers_mut()
                    .insert("X-Vault-Namespace", self.namespace.clone());
            }
            let answer = crate::http::exchange(&connector, req, self.timeout).await;
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
            return Ok(Answer {
                status,
                json: serde_json::from_slice(&body).ok(),
                text: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
    }

    /// Vault's refusal of `method /v1/path`, in words: its errors, or its answer's text.
    fn refusal(
        &self,
        method: &str,
        path: &str,
        status: u16,
        errors: Vec<String>,
        text: &str,
    ) -> String {
        let why = if errors.is_empty() {
            text.to_string()
        } else {
            errors.join("; ")
        };
        let hint = if status == 403 && self.token.is_empty() {
            "; no token was sent: set VAULT_TOKEN or run `vault login`"
        } else {
            ""
        };
        format!(
            "Vault at {} answered {status} to {method} /v1/{path}: {why}{hint}",
            self.addr
        )
    }
}

/// One answer from Vault.
struct Answer {
    status: u16,
    /// Its body as JSON, when it is.
    json: Option<serde_json::Value>,
    /// Its body as text.
    text: String,
}

impl Answer {
    /// The `errors` Vault's answer lists.
    fn errors(&self) -> Vec<String> {
        self.json
            .as_ref()
            .and_then(|j| j["errors"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
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
}
