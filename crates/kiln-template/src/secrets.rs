//! The template functions that read secret stores: `vault` (Vault's KV engines),
//! `aws_secretsmanager` (AWS Secrets Manager) and `consul_key` (Consul's KV store). Their clients need HTTP, TLS and the AWS
//! credential chain, which this crate does without: the program installs them once, and until
//! it does the functions say they are not available.

use std::sync::OnceLock;

/// Reads secrets for the template functions. Each value it returns is a secret: the
/// implementation masks it in all output.
pub trait SecretStores: Send + Sync {
    /// `{{ vault `path` `key` }}`: the member `key` of the secret at `path` (KV version 1 or 2).
    fn vault(&self, path: &str, key: &str) -> Result<String, String>;
    /// `{{ aws_secretsmanager `name` `key` }}`: the secret's current value, or with `key`
    /// (which may be empty when the JSON secret has one member) a member of its JSON.
    fn aws_secret(&self, name: &str, key: &str) -> Result<String, String>;
    /// `{{ consul_key `key` }}`: the value of a key in Consul's KV store.
    fn consul_key(&self, key: &str) -> Result<String, String>;
}

static STORES: OnceLock<Box<dyn SecretStores>> = OnceLock::new();

/// Installs the stores the template functions read (the first installation wins).
pub fn install(stores: Box<dyn SecretStores>) {
    let _ = STORES.set(stores);
}

/// The installed stores, if any.
pub(crate) fn stores() -> Option<&'static dyn SecretStores> {
    STORES.get().map(|s| s.as_ref())
}
