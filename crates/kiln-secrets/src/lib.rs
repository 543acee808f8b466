//! Clients of the secret stores kiln reads: Vault ([`vault`]) for the `vault` template
//! function and amazon-ebs's `vault_aws_engine`, AWS Secrets Manager ([`aws`]) for the
//! `aws_secretsmanager` template function, and Consul's KV store ([`consul`]) for
//! `consul_key`. [`Stores`] answers the template functions: each
//! secret is read once a run, and every value it gives is masked in all output from then on.

pub mod aws;
pub mod consul;
pub mod http;
pub mod vault;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// A JSON value as the text a template function gives: strings as they are, anything else
/// as JSON.
pub(crate) fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The member `key` of the Vault secret `answer` read at `path`: under `data.data` for the KV
/// engine's version 2, under `data` for version 1 (Packer's rule and words).
pub fn vault_value(answer: &serde_json::Value, key: &str) -> Result<String, String> {
    let data = &answer["data"];
    if let Some(v2) = data.get("data") {
        return v2
            .get(key)
            .map(text)
            .ok_or_else(|| "Vault path does not contain the requested key".to_string());
    }
    data.get(key).map(text).ok_or_else(|| {
        let warnings: Vec<String> = answer["warnings"]
            .as_array()
            .map(|w| w.iter().map(text).collect())
            .unwrap_or_default();
        format!(
            "Vault data was empty at the given path. Warnings: {}",
            warnings.join("; ")
        )
    })
}

/// Runs `fut` to its end on a runtime of its own, on another thread: the template functions
/// are called from plain and async code alike.
pub fn block_on<F: Future + Send>(fut: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for a secret store's call")
                .block_on(fut)
        })
        .join()
        .expect("a secret store's call")
    })
}

/// The secret stores the template functions read.
#[derive(Default)]
pub struct Stores {
    /// Vault's answers by path, Secrets Manager's secrets by name: a secret used in several
    /// places, or for several keys, is read once.
    read: Mutex<HashMap<String, Result<serde_json::Value, String>>>,
}

impl Stores {
    /// What `read` fetches for `what`, fetched once.
    fn once(
        &self,
        what: String,
        read: impl Future<Output = Result<serde_json::Value, String>> + Send,
    ) -> Result<serde_json::Value, String> {
        let mut cache = self.read.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(what).or_insert_with(|| block_on(read)).clone()
    }
}

/// Masks a value read from a store, and gives it back.
fn secret(value: String) -> String {
    kiln_core::redact::hide([value.as_str()]);
    value
}

impl kiln_template::secrets::SecretStores for Stores {
    fn vault(&self, path: &str, key: &str) -> Result<String, String> {
        let client = vault::Client::from_env(|k| std::env::var(k).ok())?;
        if client.token.is_empty() {
            return Err("Must set VAULT_TOKEN env var (or run `vault login`) in order to use vault template function".into());
        }
        let path = path.trim_start_matches('/').to_string();
        let answer = self.once(format!("vault\n{path}"), async {
            client
                .read(&path)
                .await?
                .ok_or_else(|| "Vault Secret does not exist at the given path".to_string())
        })?;
        vault_value(&answer, key).map(secret)
    }

    fn aws_secret(&self, name: &str, key: &str) -> Result<String, String> {
        if name.is_empty() {
            return Err("At least one secret name must be provided".into());
        }
        let answer = self.once(format!("aws\n{name}"), async {
            aws::secret_string(name)
                .await
                .map(serde_json::Value::String)
        })?;
        aws::value_of(answer.as_str().unwrap_or_default(), key).map(secret)
    }

    /// Packer's rules and words: a missing key and an empty value are errors.
    fn consul_key(&self, key: &str) -> Result<String, String> {
        let client = consul::Client::from_env(|k| std::env::var(k).ok())
            .map_err(|why| format!("error getting consul client: {why}"))?;
        // `/app/db` and `app/db` are one key to Consul: read once.
        let path = key.strip_prefix('/').unwrap_or(key);
        let answer = self.once(format!("consul\n{path}"), async {
            match client.get(key).await {
                Ok(Some(v)) => Ok(serde_json::Value::String(
                    String::from_utf8_lossy(&v).into_owned(),
                )),
                Ok(None) => Err(format!("key does not exist at the given path: {key}")),
                Err(why) => Err(format!("error reading consul key: {why}")),
            }
        })?;
        match answer.as_str().unwrap_or_default() {
            "" => Err(format!("value is empty at path {key}")),
            v => Ok(secret(v.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_values_come_from_kv_version_1_or_2() {
        let v2 = serde_json::json!({"data": {"data": {"pw": "two", "n": 7}, "metadata": {}}});
        assert_eq!(vault_value(&v2, "pw").unwrap(), "two");
        assert_eq!(vault_value(&v2, "n").unwrap(), "7");
        assert_eq!(
            vault_value(&v2, "none").unwrap_err(),
            "Vault path does not contain the requested key"
        );
        let v1 = serde_json::json!({"data": {"pw": "one"}, "warnings": ["w1", "w2"]});
        assert_eq!(vault_value(&v1, "pw").unwrap(), "one");
        assert_eq!(
            vault_value(&v1, "none").unwrap_err(),
            "Vault data was empty at the given path. Warnings: w1; w2"
        );
    }

    #[test]
    fn a_store_call_runs_from_plain_and_async_code() {
        assert_eq!(block_on(async { 7 }), 7);
        let rt = tokio::runtime::Runtime::new().unwrap();
        assert_eq!(rt.block_on(async { block_on(async { 8 }) }), 8);
    }
}
