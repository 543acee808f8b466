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
