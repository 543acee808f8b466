//! HCL's canonical layout, as `packer fmt` writes it (HCL 2.6's rules, which Packer 1.6.6
//! uses): only the spaces between tokens change. Each line is indented two spaces per bracket
//! left open by the lines above it; tokens are spaced by what they are (`f(a, b)`,
//! `{ a = 1 }`, `x[0].y`, `-1` but `a - 1`); the `=` of attributes on consecutive lines are
//! aligned, and so are their trailing comments. Line breaks, the insides of strings, heredocs
//! and comments are kept as they are, and so is anything the lines do not balance.
//!
//! The source is read with a tokenizer of its own that splits text as HCL's scanner does
//! (templates inside strings and heredocs, `${`/`%{` sequences closed by the matching `}`),
//! since the rules are about tokens, not the syntax tree.

/// What a token is, as far as the layout rules care.
use unicode_segmentation::UnicodeSegmentation;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    OQuote,
    CQuote,
    OHeredoc,
    CHeredoc,
    /// Text inside a quoted string.
    QuotedLit,
    /// Text inside a heredoc.
    StringLit,
    /// A line break inside a quoted string (a syntax error; kept as it is).
    QuotedNewline,
    /// `${` or `${~`.
    Interp,
    /// `%{` or `%{~`.
    Control,
    /// The `}` or `~}` closing an interpolation or directive.
    SeqEnd,
    Ident,
    Number,
    Comment,
    Newline,
    /// `=`
    Equal,
    EqualOp,
    NotEqual,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Bang,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Question,
    Colon,
    Comma,
    Dot,
    Ellipsis,
    FatArrow,
    /// Anything else (`;`, `~`, a stray character): spaced like an operand.
    Other,
    /// Nothing: before the first token or after the last one of a cell.
    Nil,
    Eof,
}

#[derive(Debug)]
struct Tok {
    k: K,
    start: usize,
    end: usize,
    /// Spaces written before the token.
    spaces: usize,
}

enum Mode {
    /// Expressions; `from` is where the `${` or `%{` that opened it starts (none at the top).
    Main {
        from: Option<usize>,
    },
    Quoted {
        from: usize,
    },
    Heredoc {
        from: usize,
        marker: String,
        line_start: bool,
    },
}

/// Text HCL cannot read: a string, heredoc or template sequence it never closes, or a
/// heredoc's closing marker followed by a comment (HCL reads that line as text of the
/// heredoc; hcl-edit, which kiln parses with, would end the heredoc there).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Where it opens (a byte offset).
    pub at: usize,
    /// What it is, for messages.
    pub what: String,
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    at: usize,
    last_end: usize,
    toks: Vec<Tok>,
    modes: Vec<Mode>,
    /// Open braces, interpolations included.
    braces: usize,
    /// The brace depth at which each open interpolation or directive ends.
    returns: Vec<usize>,
    /// Each bracket (`{`, `[`, `(`) still open and where.
    opens: Vec<(u8, usize)>,
    error: Option<Malformed>,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_start(c)
}

fn is_ident_continue(c: char) -> bool {
    c == '-' || unicode_ident::is_xid_continue(c)
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        let start = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Lexer {
            src,
            b: src.as_bytes(),
            at: start,
            last_end: start,
            toks: vec![],
            modes: vec![Mode::Main { from: None }],
            braces: 0,
            returns: vec![],
            opens: vec![],
            error: None,
        }
    }

    fn emit(&mut self, k: K, end: usize) {
        let start = self.at;
        self.toks.push(Tok {
            k,
            start,
            end,
            spaces: start - self.last_end,
        });
        self.last_end = end;
        self.at = end;
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.b.get(self.at + off).copied()
    }

    fn starts(&self, s: &str) -> bool {
        self.b[self.at..].starts_with(s.as_bytes())
    }

    fn char_len(&self) -> usize {
        self.src[self.at..].chars().next().map_or(1, char::len_utf8)
    }

    /// The length of a line break at `at` (`\n` or `\r\n`), if there is one.
    fn newline_at(&self, at: usize) -> Option<usize> {
        match (self.b.get(at), self.b.get(at + 1)) {
            (Some(b'\n'), _) => Some(1),
            (Some(b'\r'), Some(b'\n')) => Some(2),
            _ => None,
        }
    }

    fn run(mut self) -> Result<Vec<Tok>, Malformed> {
        while self.at < self.b.len() {
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            match self.modes.last() {
                Some(Mode::Quoted { .. }) => self.quoted(),
                Some(Mode::Heredoc { .. }) => self.heredoc(),
                _ => self.main(),
            }
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let unclosed = match self.modes.last() {
            Some(Mode::Quoted { from }) => {
                Some((*from, "this string has no closing quote".to_string()))
            }
            Some(Mode::Heredoc { from, marker, .. }) => {
                let last = self.src.rsplit('\n').next().unwrap_or_default();
                Some((
                    *from,
                    if last.trim() == marker {
                        format!("this heredoc's closing marker {marker} must be followed by a line break (the file ends on it)")
                    } else {
                        format!("this heredoc has no closing marker: a line holding only {marker}")
                    },
                ))
            }
            Some(Mode::Main { from: Some(from) }) => {
                Some((*from, "this template sequence has no closing }".to_string()))
            }
            _ => None,
        };
        if let Some((at, what)) = unclosed {
            return Err(Malformed { at, what });
        }
        if let Some(&(c, at)) = self.opens.last() {
            let close = match c {
                b'{' => '}',
                b'[' => ']',
                _ => ')',
            };
            let what = format!("this {} is never closed: a {close} is missing", c as char);
            return Err(Malformed { at, what });
        }
        self.emit(K::Eof, self.b.len());
        Ok(self.toks)
    }

    /// `${`, `%{` (with an optional `~`) open a sequence that the matching `}` closes.
    fn open_sequence(&mut self) -> bool {
        let k = match (self.peek(0), self.peek(1)) {
            (Some(b'$'), Some(b'{')) => K::Interp,
            (Some(b'%'), Some(b'{')) => K::Control,
            _ => return false,
        };
        let len = if self.peek(2) == Some(b'~') { 3 } else { 2 };
        let from = self.at;
        self.emit(k, self.at + len);
        self.braces += 1;
        self.returns.push(self.braces);
        if let Some(Mode::Heredoc { line_start, .. }) = self.modes.last_mut() {
            *line_start = false;
        }
        self.modes.push(Mode::Main { from: Some(from) });
        true
    }

    /// `$` or `%` not opening a sequence, as literal text: `$${` (an escaped `${`) as a
    /// whole, else the one character.
    fn escape_len(&self) -> Option<usize> {
        let c = self.peek(0)?;
        if c != b'$' && c != b'%' {
            return None;
        }
        if self.peek(1) == Some(c) && self.peek(2) == Some(b'{') {
            Some(if self.peek(3) == Some(b'~') { 4 } else { 3 })
        } else {
            Some(1)
        }
    }

    fn quoted(&mut self) {
        if self.open_sequence() {
            return;
        }
        let c = self.b[self.at];
        if c == b'"' {
            self.emit(K::CQuote, self.at + 1);
            self.modes.pop();
            return;
        }
        if c == b'\r' || c == b'\n' {
            let mut end = self.at;
            while matches!(self.b.get(end), Some(b'\r' | b'\n')) {
                end += 1;
            }
            self.emit(K::QuotedNewline, end);
            return;
        }
        if let Some(n) = self.escape_len() {
            self.emit(K::QuotedLit, self.at + n);
            return;
        }
        let mut end = self.at;
        loop {
            match self.b.get(end) {
                Some(b'\\') if !matches!(self.b.get(end + 1), None | Some(b'\r' | b'\n')) => {
                    end += 1;
                    end += self.src[end..].chars().next().map_or(1, char::len_utf8);
                }
                Some(b'$' | b'%' | b'"' | b'\\' | b'\r' | b'\n') | None => break,
                Some(_) => end += self.src[end..].chars().next().map_or(1, char::len_utf8),
            }
        }
        if end == self.at {
            // A backslash at the end of a line or of the file.
            let n = self.char_len();
            self.emit(K::Other, self.at + n);
        } else {
            self.emit(K::QuotedLit, end);
        }
    }

    fn heredoc(&mut self) {
        if self.open_sequence() {
            return;
        }
        let start = self.at;
        let mut end = match self.escape_len() {
            Some(n) => start + n,
            None => {
                let mut e = start;
                while !matches!(self.b.get(e), None | Some(b'$' | b'%' | b'\r' | b'\n')) {
                    e += 1;
                }
                e
            }
        };
        let Some(nl) = self.newline_at(end) else {
            if end == start {
                // A lone carriage return.
                let n = self.char_len();
                self.emit(K::Other, start + n);
            } else {
                self.emit(K::StringLit, end);
                if let Some(Mode::Heredoc { line_start, .. }) = self.modes.last_mut() {
                    *line_start = false;
                }
            }
            return;
        };
        let (closes, commented) = match self.modes.last() {
            Some(Mode::Heredoc {
                marker, line_start, ..
            }) if *line_start => {
                let line = self.src[start..end].trim();
                let after = line.strip_prefix(marker.as_str()).map(str::trim_start);
                let comment = after.is_some_and(|a| {
                    a.starts_with('#') || a.starts_with("//") || a.starts_with("/*")
                });
                (line == marker, comment.then(|| marker.clone()))
            }
            _ => (false, None),
        };
        if let Some(marker) = commented {
            let indent = end - start - self.src[start..end].trim_start().len();
            self.error = Some(Malformed {
                at: start + indent,
                what: format!(
                    "a heredoc's closing marker must be alone on its line: HCL reads this \
                     line as text of the heredoc, and kiln's parser would end the heredoc \
                     here, so kiln refuses it (move the comment after {marker} to a line of \
                     its own, or the text off the start of the line)"
                ),
            });
        }
        if closes {
            self.emit(K::CHeredoc, end);
            self.emit(K::Newline, end + nl);
            self.modes.pop();
            return;
        }
        end += nl;
        self.emit(K::StringLit, end);
        if let Some(Mode::Heredoc { line_start, .. }) = self.modes.last_mut() {
            *line_start = true;
        }
    }

    /// `<<EOT` or `<<-EOT` and its line break, if that is what starts here.
    fn heredoc_opener(&self) -> Option<(usize, String)> {
        let mut at = self.at + 2;
        if self.b.get(at) == Some(&b'-') {
            at += 1;
        }
        let rest = &self.src[at..];
        let first = rest.chars().next()?;
        if !is_ident_start(first) {
            return None;
        }
        let len: usize = rest
            .chars()
            .take_while(|&c| is_ident_continue(c))
            .map(char::len_utf8)
            .sum();
        let marker = rest[..len].to_string();
        let nl = self.newline_at(at + len)?;
        Some((at + len + nl - self.at, marker))
    }

    fn number_len(&self) -> usize {
        // A digit, then digits, dots and exponents, not ending in a dot.
        let mut at = self.at + 1;
        let mut good = at;
        loop {
            match self.b.get(at) {
                Some(c) if c.is_ascii_digit() => {
                    at += 1;
                    good = at;
                }
                Some(b'.') => at += 1,
                Some(b'e' | b'E') => {
                    let mut e = at + 1;
                    if matches!(self.b.get(e), Some(b'+' | b'-')) {
                        e += 1;
                    }
                    if self.b.get(e).is_some_and(u8::is_ascii_digit) {
                        at = e + 1;
                        good = at;
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        good - self.at
    }

    fn main(&mut self) {
        let c = self.b[self.at];
        if c == b' ' || c == b'\t' {
            self.at += 1;
            return;
        }
        let ch = self.src[self.at..].chars().next().unwrap_or('\0');
        if c.is_ascii_digit() {
            let n = self.number_len();
            return self.emit(K::Number, self.at + n);
        }
        if is_ident_start(ch) {
            let len: usize = self.src[self.at..]
                .chars()
                .take_while(|&c| is_ident_continue(c))
                .map(char::len_utf8)
                .sum();
            return self.emit(K::Ident, self.at + len);
        }
        if c == b'#' || self.starts("//") {
            let end = match self.b[self.at..].iter().position(|&c| c == b'\n') {
                Some(p) => self.at + p + 1,
                None => self.b.len(),
            };
            return self.emit(K::Comment, end);
        }
        if self.starts("/*") {
            if let Some(p) = self.src[self.at + 2..].find("*/") {
                return self.emit(K::Comment, self.at + 2 + p + 2);
            }
        }
        if let Some(n) = self.newline_at(self.at) {
            return self.emit(K::Newline, self.at + n);
        }
        for (s, k) in [
            ("...", K::Ellipsis),
            ("==", K::EqualOp),
            ("!=", K::NotEqual),
            (">=", K::Ge),
            ("<=", K::Le),
            ("&&", K::And),
            ("||", K::Or),
            ("=>", K::FatArrow),
        ] {
            if self.starts(s) {
                return self.emit(k, self.at + s.len());
            }
        }
        if self.starts("<<") {
            if let Some((len, marker)) = self.heredoc_opener() {
                let from = self.at;
                self.emit(K::OHeredoc, self.at + len);
                self.modes.push(Mode::Heredoc {
                    from,
                    marker,
                    line_start: true,
                });
                return;
            }
        }
        if matches!(c, b'{' | b'[' | b'(') {
            self.opens.push((c, self.at));
        } else if matches!(c, b']' | b')') {
            let open = if c == b']' { b'[' } else { b'(' };
            if self.opens.last().is_some_and(|&(o, _)| o == open) {
                self.opens.pop();
            }
        }
        let closing = c == b'}' || self.starts("~}");
        if closing {
            let len = if c == b'}' { 1 } else { 2 };
            let ends_sequence = self.returns.last() == Some(&self.braces);
            if ends_sequence {
                self.returns.pop();
                self.modes.pop();
            } else if self.opens.last().is_some_and(|&(o, _)| o == b'{') {
                self.opens.pop();
            }
            self.braces = self.braces.saturating_sub(1);
            let k = if ends_sequence || len == 2 {
                K::SeqEnd
            } else {
                K::CBrace
            };
            return self.emit(k, self.at + len);
        }
        let k = match c {
            b'{' => {
                self.braces += 1;
                K::OBrace
            }
            b'"' => {
                self.modes.push(Mode::Quoted { from: self.at });
                K::OQuote
            }
            b'[' => K::OBrack,
            b']' => K::CBrack,
            b'(' => K::OParen,
            b')' => K::CParen,
            b'.' => K::Dot,
            b',' => K::Comma,
            b'*' => K::Star,
            b'/' => K::Slash,
            b'%' => K::Percent,
            b'+' => K::Plus,
            b'-' => K::Minus,
            b'=' => K::Equal,
            b'<' => K::Lt,
            b'>' => K::Gt,
            b'!' => K::Bang,
            b'?' => K::Question,
            b':' => K::Colon,
            _ => K::Other,
        };
        let n = self.char_len();
        self.emit(k, self.at + n);
    }
}

fn bracket_change(k: K) -> i64 {
    match k {
        K::OBrace | K::OBrack | K::OParen | K::Control | K::Interp => 1,
        K::CBrace | K::CBrack | K::CParen | K::SeqEnd => -1,
        _ => 0,
    }
}

/// One line's tokens in three cells: the lead, the `=` and what it assigns, a trailing
/// comment. Index ranges into the token list.
#[derive(Default, Clone)]
struct Line {
    lead: std::ops::Range<usize>,
    assign: Option<std::ops::Range<usize>>,
    comment: Option<std::ops::Range<usize>>,
}

/// Whether the token after `subject` (between `before` and `after`) gets a space.
fn space_after(src: &str, subject: &Tok, before: K, after: K) -> bool {
    let s = subject.k;
    let in_keyword = s == K::Ident && &src[subject.start..subject.end] == "in";
    match () {
        _ if after == K::Newline || after == K::Nil => false,
        _ if s == K::Ident && after == K::OParen => false,
        _ if s == K::Dot || after == K::Dot => false,
        _ if after == K::Comma || after == K::Ellipsis => false,
        _ if s == K::Comma => true,
        _ if matches!(s, K::QuotedLit | K::StringLit | K::OQuote | K::OHeredoc)
            || matches!(after, K::QuotedLit | K::StringLit | K::CQuote | K::CHeredoc) =>
        {
            false
        }
        _ if in_keyword && before == K::Ident => true,
        _ if after == K::OBrack && (s == K::Ident || s == K::Number || bracket_change(s) < 0) => {
            false
        }
        // A minus after something that cannot end an operand is a negation.
        _ if s == K::Minus => !matches!(
            before,
            K::Nil
                | K::OParen
                | K::OBrace
                | K::OBrack
                | K::Equal
                | K::Colon
                | K::Comma
                | K::Question
                | K::Plus
                | K::Star
                | K::Slash
                | K::Percent
                | K::Minus
                | K::EqualOp
                | K::NotEqual
                | K::Gt
                | K::Ge
                | K::Lt
                | K::Le
                | K::And
                | K::Or
                | K::Bang
        ),
        _ if s == K::OBrace || after == K::CBrace => !(s == K::OBrace && after == K::CBrace),
        _ if matches!(s, K::Interp | K::Control) && after == K::OBrace => true,
        _ if s == K::CBrace && after == K::SeqEnd => true,
        _ if s == K::SeqEnd && matches!(after, K::Interp | K::Control) => false,
        _ if bracket_change(s) > 0 => false,
        _ if bracket_change(after) < 0 => false,
        _ => true,
    }
}

fn is_line_end(src: &str, t: &Tok) -> bool {
    t.k == K::Newline || (t.k == K::Comment && src[t.start..t.end].ends_with('\n'))
}

/// `text` in canonical layout, or the string, heredoc or template sequence it leaves open.
/// Meant for text that parses: anything else that tokenizes comes back with only spaces
/// changed.
pub fn format(text: &str) -> Result<String, Malformed> {
    let mut toks = Lexer::new(text).run()?;
    layout(text, &mut toks);
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for t in &toks {
        out.extend(std::iter::repeat_n(' ', t.spaces));
        out.push_str(&text[t.start..t.end]);
    }
    Ok(out)
}

/// What HCL's scanner refuses in `text` (see [`Malformed`]), without laying it out.
/// Also what HCL's parser refuses and hcl-edit lets pass: a quoted string (one inside an
/// interpolation too) split over lines.
pub fn scan(text: &str) -> Result<(), Malformed> {
    let toks = Lexer::new(text).run()?;
    match toks.iter().find(|t| t.k == K::QuotedNewline) {
        Some(t) => Err(Malformed {
            at: t.start,
            what: "Invalid multi-line string: a quoted string may not be split over lines; \
                   write \\n for a newline, or use a heredoc"
                .into(),
        }),
        None => Ok(()),
    }
}

/// Sets the spaces before each token as HCL's canonical layout has them.
fn layout(text: &str, toks: &mut [Tok]) {
    let n = toks.len() - 1; // the end-of-file token belongs to no line
    let mut lines = vec![];
    let mut start = 0;
    for (i, t) in toks[..n].iter().enumerate() {
        if is_line_end(text, t) {
            lines.push(Line {
                lead: start..i + 1,
                ..Line::default()
            });
            start = i + 1;
        }
    }
    lines.push(Line {
        lead: start..n,
        ..Line::default()
    });
    for line in &mut lines {
        let lead = line.lead.clone();
        if lead.is_empty() {
            continue;
        }
        if lead.len() > 1 && toks[lead.end - 1].k == K::Comment {
            line.comment = Some(lead.end - 1..lead.end);
            line.lead = lead.start..lead.end - 1;
        }
        let lead = line.lead.clone();
        if let Some(eq) = (lead.start + 1..lead.end).find(|&i| toks[i].k == K::Equal) {
            let net: i64 = (eq..lead.end).map(|i| bracket_change(toks[i].k)).sum();
            if net == 0 {
                line.assign = Some(eq..lead.end);
                line.lead = lead.start..eq;
            }
        }
    }
    indent(toks, &lines);
    space(text, toks, &lines);
    align(text, toks, &lines);
}

fn indent(toks: &mut [Tok], lines: &[Line]) {
    // Each entry: how many brackets a line left open that raised the indent one level.
    let mut open: Vec<i64> = vec![];
    for line in lines {
        if line.lead.is_empty() {
            continue;
        }
        let first = line.lead.start;
        if toks[first].k == K::Newline {
            toks[first].spaces = 0;
            continue;
        }
        let mut net = 0;
        for t in &toks[line.lead.clone()] {
            net += bracket_change(t.k);
            if t.k == K::OHeredoc {
                break;
            }
        }
        if let Some(a) = &line.assign {
            net += toks[a.clone()]
                .iter()
                .map(|t| bracket_change(t.k))
                .sum::<i64>();
        }
        if net > 0 {
            toks[first].spaces = 2 * open.len();
            open.push(net);
            continue;
        }
        let mut closed = -net;
        while closed > 0 {
            let Some(top) = open.last_mut() else { break };
            if closed >= *top {
                closed -= *top;
                open.pop();
            } else {
                *top -= closed;
                closed = 0;
            }
        }
        toks[first].spaces = 2 * open.len();
    }
}

fn space_cell(text: &str, toks: &mut [Tok], cell: std::ops::Range<usize>) {
    for i in cell.clone() {
        let before = if i > cell.start {
            toks[i - 1].k
        } else {
            K::Nil
        };
        if i + 1 < cell.end {
            let gap = space_after(text, &toks[i], before, toks[i + 1].k);
            toks[i + 1].spaces = usize::from(gap);
        }
    }
}

fn space(text: &str, toks: &mut [Tok], lines: &[Line]) {
    for line in lines {
        space_cell(text, toks, line.lead.clone());
        if let Some(a) = &line.assign {
            toks[a.start].spaces = 1;
            space_cell(text, toks, a.clone());
        }
    }
}

fn columns(text: &str, toks: &[Tok], cell: &std::ops::Range<usize>) -> usize {
    toks[cell.clone()]
        .iter()
        .map(|t| t.spaces + text[t.start..t.end].graphemes(true).count())
        .sum()
}

/// Lines in a row with an `=` have it in one column; then lines in a row with a trailing
/// comment have it in one column.
fn align(text: &str, toks: &mut [Tok], lines: &[Line]) {
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..].iter().take_while(|l| l.assign.is_some()).count();
        if run == 0 {
            i += 1;
            continue;
        }
        let chain = &lines[i..i + run];
        let widest = chain
            .iter()
            .map(|l| columns(text, toks, &l.lead))
            .max()
            .unwrap_or(0);
        for l in chain {
            let w = columns(text, toks, &l.lead);
            if let Some(a) = &l.assign {
                toks[a.start].spaces = widest - w + 1;
            }
        }
        i += run;
    }
    let width = |toks: &[Tok], l: &Line| {
        columns(text, toks, &l.lead) + l.assign.as_ref().map_or(0, |a| columns(text, toks, a))
    };
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..]
            .iter()
            .take_while(|l| l.comment.is_some())
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        let chain = &lines[i..i + run];
        let widest = chain.iter().map(|l| width(toks, l)).max().unwrap_or(0);
        for l in chain {
            let w = width(toks, l);
            if let Some(c) = &l.comment {
                toks[c.start].spaces = widest - w + 1;
            }
        }
        i += run;
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn spaces_indents_and_aligns() {
        let src = "source \"null\" \"a\" {\ncommunicator=\"none\" # c1\n\tfoo_bar   =   [1,2 ,3] // c2\n  y = {a=1, b = \"x${ 1+2 }y\"}\n   m = [for x in [1]: x*2 if x>0]\n  n = f( a , b... )\n  w = a - -1\n  blk {\n  }\n  q = {}\n}\n";
        let want = "source \"null\" \"a\" {\n  communicator = \"none\"    # c1\n  foo_bar      = [1, 2, 3] // c2\n  y            = { a = 1, b = \"x${1 + 2}y\" }\n  m            = [for x in [1] : x * 2 if x > 0]\n  n            = f(a, b...)\n  w            = a - -1\n  blk {\n  }\n  q = {}\n}\n";
        assert_eq!(format(src).unwrap(), want);
        assert_eq!(format(want).unwrap(), want, "formatting is idempotent");
    }

    #[test]
    fn heredocs_and_strings_are_kept() {
        let src = "x = <<-EOT\n      hello ${ var.x }  \n    EOT\nyy = \"a  ${ b }  c\"\n";
        let want = "x  = <<-EOT\n      hello ${var.x}  \n    EOT\nyy = \"a  ${b}  c\"\n";
        assert_eq!(format(src).unwrap(), want);
        // `$${` is an escaped `${`, not an interpolation: the brace after it is the block's.
        let esc = "a {\nb = \"$${x\"\n}\n";
        assert_eq!(format(esc).unwrap(), "a {\n  b = \"$${x\"\n}\n");
    }

    #[test]
    fn what_hcl_cannot_read_is_said_where_it_opens() {
        let at = |src: &str| format(src).unwrap_err().at;
        assert_eq!(at("a = \"x\nb = 1\n"), 4);
        assert_eq!(at("a = <<EOT\nx\n"), 4);
        let e = format("a = <<EOT\nx\nEOT").unwrap_err();
        assert!(
            e.what.contains("must be followed by a line break"),
            "{}",
            e.what
        );
        // The innermost: the quote after `${b` opens a string the line never closes.
        assert_eq!(at("a = \"${b\"\n"), 8);
        assert_eq!(at("a {\n  b = [1,\n}\n"), 10);
        // A comment after the closing marker: HCL reads the line as text of the heredoc.
        let e = format("a = <<EOT\nx\n  EOT # done\n").unwrap_err();
        assert_eq!(e.at, 14);
        assert!(
            e.what.contains("closing marker must be alone"),
            "{}",
            e.what
        );
        // A marker word followed by text is text, and a marker with spaces around closes.
        let ok = "a = <<EOT\nEOT is text\n  EOT  \n";
        assert_eq!(format(ok).unwrap(), ok);
    }

    #[test]
    fn unbalanced_lines_indent_by_what_they_open() {
        let src = "a = [\n1,\n{\nb = 2\n},\n]\nc = f(x,\ny)\n";
        let want = "a = [\n  1,\n  {\n    b = 2\n  },\n]\nc = f(x,\ny)\n";
        assert_eq!(format(src).unwrap(), want);
    }
}
