//! Splitting a command's output into lines, the same for every communicator: any bytes
//! (invalid UTF-8 shown lossily), `\n` or `\r\n` ends, a last line without an end kept.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Splits a byte stream into lines.
#[derive(Default)]
pub(crate) struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    /// Takes the next bytes; hands `emit` every line they complete, without its `\n` and
    /// trailing `\r`.
    pub(crate) fn push(&mut self, data: &[u8], mut emit: impl FnMut(String)) {
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            emit(text.trim_end_matches('\r').to_string());
        }
    }

    /// Hands `emit` what is left after the last `\n`, if anything.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.buf.is_empty() {
            emit(
                String::from_utf8_lossy(&self.buf)
                    .trim_end_matches('\r')
                    .to_string(),
            );
            self.buf.clear();
        }
    }
}

/// Reads `r` to its end and hands each of its lines to `emit`.
pub(crate) async fn each_line(mut r: impl AsyncRead + Unpin, mut emit: impl FnMut(String)) {
    let mut lines = Lines::default();
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => lines.push(&buf[..n], &mut emit),
        }
    }
    lines.finish(emit);
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn splits_lines_across_chunks() {
        let mut l = Lines::default();
        let mut got = Vec::new();
        l.push(b"ab", |s| got.push(s));
        l.push(b"c\r\nd\n", |s| got.push(s));
        l.push(b"tail", |s| got.push(s));
        l.finish(|s| got.push(s));
        assert_eq!(got, ["abc", "d", "tail"]);
    }
}
