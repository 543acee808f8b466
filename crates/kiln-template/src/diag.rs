//! User-facing diagnostics: a message, where it happened, the line itself with a caret, a hint.

use crate::source::Span;
use std::fmt;

/// An error a user can act on. Rendered as `file:line:col: message`, then the offending line
/// with a caret under the column, then an optional hint.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where, when the error comes from a file.
    pub span: Option<Span>,
    /// What the user probably meant, or how to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no location.
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            hint: None,
        }
    }

    /// A diagnostic at a location (if known).
    pub fn at(span: Option<&Span>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: span.cloned(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// For a plugin's check of its configuration `config`: a diagnostic without a location
    /// is placed at the first option of `config` its message names (`ami_name must be ...`),
    /// (but `type`), or else at `config` itself.
    pub fn or_in(mut self, config: &crate::Value) -> Diagnostic {
        if self.span.is_some() {
            return self;
        }
        let named = |key: &str| {
            self.message.match_indices(key).find_map(|(at, _)| {
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let before = self.message[..at].chars().next_back();
                let after = self.message[at + key.len()..].chars().next();
                (!before.is_some_and(word) && !after.is_some_and(word)).then_some(at)
            })
        };
        self.span = config
            .as_object()
            .into_iter()
            .flatten()
            // (`type` names the plugin, not an option: "wrong type" is not about it.)
            .filter(|m| m.key != "type")
            .filter_map(|m| named(&m.key).map(|at| (at, m)))
            .min_by_key(|(at, _)| *at)
            .and_then(|(_, m)| m.key_span.clone())
            .or_else(|| config.span.clone());
        self
    }

    /// Prefixes the message with a context such as `builders[0]`.
    pub fn context(mut self, ctx: impl fmt::Display) -> Diagnostic {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            None => write!(f, "{}", self.message)?,
            Some(span) => {
                let (line, col) = span.line_col();
                writeln!(f, "{}:{}:{}: {}", span.src.name, line, col, self.message)?;
                let width = line.to_string().len();
                if line > 1 {
                    let prev = span.src.line_text(line - 1);
                    writeln!(f, "{:>width$} | {}", line - 1, prev)?;
                }
                let text = span.src.line_text(line);
                writeln!(f, "{line:>width$} | {text}")?;
                let pad: String = text
                    .chars()
                    .take(col - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "{:>width$} | {pad}^", "")?;
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Several diagnostics reported together (Packer reports all template errors at once).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Ok when empty, the list otherwise.
    pub fn into_result(self) -> Result<(), Diagnostics> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    fn at(d: &Diagnostic) -> (usize, usize) {
        d.span.as_ref().expect("placed").line_col()
    }

    #[test]
    fn a_plugins_error_is_placed_at_the_first_option_it_names() {
        let src = Source::new(
            "t.json",
            "{\"type\": \"x\",\n \"ssh_port\": 22,\n \"ami_name\": \"a\", \"ssh\": 1}",
        );
        let v = crate::json::parse(&src).unwrap();
        let d = Diagnostic::new("amazon-ebs: ami_name must be between 3 and 128 characters long");
        assert_eq!(at(&d.or_in(&v)), (3, 2));
        // The earliest named in the message wins; a key inside a longer word does not count.
        let d = Diagnostic::new("ssh_port clashes with ami_name");
        assert_eq!(at(&d.or_in(&v)), (2, 2));
        let d = Diagnostic::new("an ssh_ option");
        assert_eq!(at(&d.or_in(&v)), (1, 1));
        // `type` is the plugin's name, not an option; no option named: the object.
        assert_eq!(at(&Diagnostic::new("wrong type for x").or_in(&v)), (1, 1));
        // A diagnostic that knows where it is stays there.
        let placed = Diagnostic::new("ami_name").or_in(&v);
        let again = Diagnostic::at(placed.span.as_ref(), "ssh_port").or_in(&v);
        assert_eq!(at(&again), (3, 2));
    }
}
