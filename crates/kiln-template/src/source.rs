//! Source files and byte spans inside them, for diagnostics.

use std::fmt;
use std::sync::Arc;

/// A file (or other named input) kept in memory so errors can quote it.
#[derive(Debug)]
pub struct Source {
    /// The name shown to users: the path as given on the command line.
    pub name: String,
    /// The full text.
    pub text: String,
    /// Written in HCL2: its values convert as HCL converts them (a bool in a string option is
    /// `"true"`, where Packer's JSON decoding makes it `"1"`).
    pub hcl: bool,
}

impl Source {
    /// Wraps a named text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
            hcl: false,
        })
    }

    /// Wraps a named HCL2 text.
    pub fn new_hcl(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
            hcl: true,
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

/// A byte range in a [`Source`].
#[derive(Clone)]
pub struct Span {
    /// The file the range is in.
    pub src: Arc<Source>,
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

impl Span {
    /// Makes a span.
    pub fn new(src: &Arc<Source>, start: usize, end: usize) -> Span {
        Span {
            src: src.clone(),
            start,
            end,
        }
    }

    /// 1-based line and column of the start.
    pub fn line_col(&self) -> (usize, usize) {
        self.src.line_col(self.start)
    }

    /// A span of `len` bytes starting `offset` bytes into this one.
    pub fn sub(&self, offset: usize, len: usize) -> Span {
        let start = (self.start + offset).min(self.src.text.len());
        Span::new(&self.src, start, (start + len).min(self.src.text.len()))
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (l, c) = self.line_col();
        write!(f, "{}:{}:{}", self.src.name, l, c)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
