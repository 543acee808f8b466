//! Data sources (`data "TYPE" "NAME" { ... }` in HCL2 templates, Packer 1.7 and later):
//! read-only lookups made while the template loads, whose results are `data.TYPE.NAME.ATTR`.
//! `null` (its `input` as `output`) is answered here; the others need cloud clients, which
//! this crate does without: the program installs them once.

use std::sync::OnceLock;

/// What a data source read: its attributes, and the strings among them that are secrets
/// (masked in all output).
pub type Read = (serde_json::Value, Vec<String>);

/// Reads data sources.
pub trait DataSources: Send + Sync {
    /// The types it reads.
    fn kinds(&self) -> Vec<&'static str>;
    /// Reads a data source of type `kind` with `config` (the block's arguments).
    fn read(&self, kind: &str, config: &serde_json::Value) -> Result<Read, String>;
}

static SOURCES: OnceLock<Box<dyn DataSources>> = OnceLock::new();

/// Installs the data sources (the first installation wins).
pub fn install(sources: Box<dyn DataSources>) {
    let _ = SOURCES.set(sources);
}

/// Every type kiln reads.
pub fn kinds() -> Vec<&'static str> {
    let mut k = vec!["null"];
    if let Some(s) = SOURCES.get() {
        k.extend(s.kinds());
    }
    k.sort();
    k
}

/// Reads a data source: `null` here, the others through the installed sources.
pub fn read(kind: &str, config: &serde_json::Value) -> Result<Read, String> {
    if kind == "null" {
        let obj = config.as_object().cloned().unwrap_or_default();
        if let Some(k) = obj.keys().find(|k| *k != "input") {
            return Err(format!("the null data source takes input, not {k}"));
        }
        let input = obj
            .get("input")
            .cloned()
            .ok_or("the null data source needs input")?;
        return Ok((serde_json::json!({ "output": input }), vec![]));
    }
    match SOURCES.get() {
        Some(s) if s.kinds().contains(&kind) => s.read(kind, config),
        _ => Err(format!(
            "unknown data source type \"{kind}\"; kiln reads {}",
            kinds().join(", ")
        )),
    }
}
