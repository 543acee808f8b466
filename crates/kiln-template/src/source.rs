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
    /// For a text made from another (HCL's JSON syntax, read as the native syntax it stands
    /// for): that text, where positions are shown.
    pub origin: Option<Origin>,
}

/// The text a [`Source`] was made from, and where each part of the made text came from.
#[derive(Debug)]
pub struct Origin {
    /// The text as written.
    pub text: String,
    /// Sorted by `made`: bytes from `made` on come from `from` on, one for one for `len`
    /// bytes; bytes after those stand for the last of them.
    pub anchors: Vec<Anchor>,
}

/// A part of a made text and where it came from (see [`Origin`]).
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    /// Byte offset in the made text.
    pub made: usize,
    /// Byte offset in the text as written.
    pub from: usize,
    /// How many bytes map one for one.
    pub len: usize,
}

impl Origin {
    /// The offset in the written text that `offset` in the made text stands for.
    pub fn offset(&self, offset: usize) -> usize {
        let i = self.anchors.partition_point(|a| a.made <= offset);
        let at = match i.checked_sub(1).map(|i| self.anchors[i]) {
            Some(a) => a.from + (offset - a.made).min(a.len),
            None => 0,
        };
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

impl Source {
    /// Wraps a named text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
            hcl: false,
            origin: None,
        })
    }

    /// Wraps a named HCL2 text.
    pub fn new_hcl(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
            hcl: true,
            origin: None,
        })
    }

    /// Wraps an HCL2 text made from `origin`, whose positions are shown.
    pub fn new_made(name: impl Into<String>, text: String, origin: Origin) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text,
            hcl: true,
            origin: Some(origin),
        })
    }

    /// The text positions are shown in: the one written.
    fn shown(&self) -> &str {
        self.origin.as_ref().map_or(&self.text, |o| &o.text)
    }

    /// 1-based line and column (in characters) of a byte offset.
    /// For a made text, the position in the text it was made from.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let (text, offset) = match &self.origin {
            Some(o) => (o.text.as_str(), o.offset(offset)),
            None => (self.text.as_str(), offset.min(self.text.len())),
        };
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The text of a 1-based line, without its newline (of the text written, for a made one).
    pub fn line_text(&self, line: usize) -> &str {
        self.shown()
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
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
