//! What the `ansible` and `ansible-local` provisioners share: reading ansible-playbook's output
//! to name the failed task and host, and quoting arguments.

pub mod output;

/// What a galaxy requirements file asks for: `(roles, collections)`. A plain list (the old
/// format) is roles; the mapping format has `roles:` and/or `collections:` keys. They are
/// installed separately, because `ansible-galaxy install -r FILE -p PATH` skips collections.
pub fn galaxy_wants(path: &str) -> std::io::Result<(bool, bool)> {
    let text = std::fs::read_to_string(path)?;
    let has_key = |k: &str| text.lines().any(|l| l.trim_end() == k);
    let collections = has_key("collections:");
    Ok((!collections || has_key("roles:"), collections))
}
