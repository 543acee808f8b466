//! Secret redaction: every sensitive value is replaced by `<sensitive>` in every form a
//! template can produce it in: as written, JSON/Go-escaped, shell-quoted, and base64.

use base64::Engine as _;

/// What replaces a secret.
pub const MASK: &str = "<sensitive>";

/// The set of secrets to hide, with each one's alternative spellings.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is masked whole.
    needles: Vec<String>,
}

impl Redactor {
    /// Builds a redactor for these secret values (empty values are ignored).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Redactor {
        let mut needles = Vec::new();
        let mut secrets_plain = Vec::new();
        let b64 = base64::engine::general_purpose::STANDARD;
        for s in secrets {
            let s = s.as_ref();
            if s.is_empty() {
                continue;
            }
            needles.push(s.to_string());
            secrets_plain.push(s.to_string());
            let json = serde_json::to_string(s).unwrap_or_default();
            needles.push(json[1..json.len() - 1].to_string());
            needles.push(s.replace('\'', "'\\''"));
            needles.push(s.replace('\'', "'\"'\"'"));
            // base64 of the secret inside a larger text depends on its alignment: cover all
            // three, keeping only the characters made of the secret's bits alone.
            for pad in 0..3 {
                let mut prefixed = vec![0u8; pad];
                prefixed.extend_from_slice(s.as_bytes());
                let enc = b64.encode(&prefixed);
                let from = (pad * 8).div_ceil(6);
                let to = prefixed.len() * 8 / 6;
                if to > from {
                    needles.push(enc[from..to].to_string());
                }
            }
        }
        // Derived spellings shorter than this would mask unrelated text.
        needles.retain(|n| n.len() >= 4 || secrets_plain.contains(n));
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// True when there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Masks every secret in `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_form() {
        let r = Redactor::new(["s3cr\"et'pw"]);
        assert_eq!(r.redact("x s3cr\"et'pw y"), format!("x {MASK} y"));
        assert_eq!(
            r.redact(r#"{"p":"s3cr\"et'pw"}"#),
            format!(r#"{{"p":"{MASK}"}}"#)
        );
        assert!(!r.redact("echo 's3cr\"et'\\''pw'").contains("et'"));
        let b64 = base64::engine::general_purpose::STANDARD;
        for prefix in ["", "a", "ab", "abc"] {
            let enc = b64.encode(format!("{prefix}s3cr\"et'pw-tail"));
            let red = r.redact(&enc);
            assert!(red.contains(MASK), "{prefix:?}: {enc} -> {red}");
        }
    }

    #[test]
    fn empty_secret_is_ignored() {
        let r = Redactor::new([""]);
        assert!(r.is_empty());
        assert_eq!(r.redact("abc"), "abc");
    }
}
