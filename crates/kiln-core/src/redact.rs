//! Secret redaction: every sensitive value is replaced by `<sensitive>` in every form a
//! template can produce it in: as written, JSON/Go-escaped, shell-quoted, and base64.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
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
        for s in secrets {
            let s = s.as_ref();
            if s.is_empty() {
                continue;
            }
            needles.push(s.to_string());
            secrets_plain.push(s.to_string());
            let json = serde_json::to_string(s).unwrap_or_default();
            let json = &json[1..json.len() - 1];
            needles.push(json.to_string());
            // Go's encoding/json (and so Packer's plugins) also escapes <, > and &.
            needles.push(
                json.replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026"),
            );
            // Shell quoting: inside single quotes, and backslash-escaped inside double quotes.
            needles.push(s.replace('\'', "'\\''"));
            needles.push(s.replace('\'', "'\"'\"'"));
            needles.push(shell_double_quoted(s));
            // The template functions that transform text: urlquery, html.
            needles.push(kiln_template::interp::query_escape(s));
            needles.push(kiln_template::interp::html_escape(s));
            // base64 of the secret inside a larger text depends on its alignment: cover all
            // three, keeping only the characters made of the secret's bits alone; in both
            // the standard and the URL-safe alphabets.
            for engine in [&STANDARD, &URL_SAFE] {
                for pad in 0..3 {
                    let mut prefixed = vec![0u8; pad];
                    prefixed.extend_from_slice(s.as_bytes());
                    let enc = engine.encode(&prefixed);
                    let from = (pad * 8).div_ceil(6);
                    let to = prefixed.len() * 8 / 6;
                    if to > from {
                        needles.push(enc[from..to].to_string());
                    }
                }
            }
        }
        // Derived spellings shorter than this would mask unrelated text.
        needles.retain(|n| n.len() >= 4 || secrets_plain.contains(n));
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// This redactor and `more`'s secrets together.
    pub fn merged(&self, more: &Redactor) -> Redactor {
        let mut needles = self.needles.clone();
        needles.extend(more.needles.iter().cloned());
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

/// Secrets a plugin learns while it runs (credentials read from a secret store), masked
/// from then on in every line the UI and the log write, whatever their own redactor.
static LEARNED: std::sync::RwLock<Redactor> = std::sync::RwLock::new(Redactor {
    needles: Vec::new(),
});

/// Values shorter than this that a plugin learns are not masked: nobody declared them
/// secret, and masking `1` or `yes` everywhere would garble every line.
pub const SHORTEST_LEARNED: usize = 4;

/// Masks `secrets` from now on, in this process's every output (but values shorter than
/// [`SHORTEST_LEARNED`] characters).
pub fn hide<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) {
    let secrets: Vec<S> = secrets
        .into_iter()
        .filter(|s| s.as_ref().chars().count() >= SHORTEST_LEARNED)
        .collect();
    let more = Redactor::new(secrets);
    if more.is_empty() {
        return;
    }
    let mut learned = LEARNED.write().unwrap_or_else(|e| e.into_inner());
    *learned = learned.merged(&more);
}

/// Masks the secrets [`hide`] was given.
pub fn redact_learned(text: &str) -> String {
    LEARNED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .redact(text)
}

/// `s` as it appears between double quotes in a shell script: `\`, `"`, `$` and a backquote
/// take a backslash.
fn shell_double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
    fn masks_go_json_shell_url_html_and_url_safe_base64_forms() {
        let secret = "p<a>&$s`w\"d/?+ ok";
        let r = Redactor::new([secret]);
        let forms = [
            r#"{"k":"p\u003ca\u003e\u0026$s`w\"d/?+ ok"}"#.to_string(),
            format!("export X=\"{}\"", shell_double_quoted(secret)),
            "https://h/?q=p%3Ca%3E%26%24s%60w%22d%2F%3F%2B+ok".to_string(),
            "<b>p&lt;a&gt;&amp;$s`w&#34;d/?+ ok</b>".to_string(),
        ];
        for form in forms {
            let red = r.redact(&form);
            assert!(red.contains(MASK), "not masked: {form} -> {red}");
            assert!(!red.contains("s`w"), "{form} -> {red}");
        }
        let url = base64::engine::general_purpose::URL_SAFE;
        for prefix in ["", "a", "ab"] {
            let enc = url.encode(format!("{prefix}{secret}??>>"));
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

    #[test]
    fn learned_secrets_are_masked_from_then_on_with_their_other_spellings() {
        assert_eq!(redact_learned("k learned-w8 v"), "k learned-w8 v");
        hide(["learned-w8"]);
        hide(["", "yes"]);
        assert_eq!(redact_learned("yes, learned-w8"), format!("yes, {MASK}"));
        assert_eq!(redact_learned("k learned-w8 v"), format!("k {MASK} v"));
        assert!(!redact_learned(&STANDARD.encode("xx learned-w8")).contains("bGVhcm5lZC13O"));
        // What was learned before stays masked.
        hide(["another-one"]);
        assert_eq!(
            redact_learned("learned-w8 another-one"),
            format!("{MASK} {MASK}")
        );
    }
}
