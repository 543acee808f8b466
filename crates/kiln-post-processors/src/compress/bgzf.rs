//! BGZF (blocked gzip, as used by htslib): a series of gzip members of at most 64 KiB each,
//! each carrying its compressed size in a `BC` extra field, ending with an empty member.

use std::io::Write;

const BLOCK: usize = 0xff00;

/// A BGZF stream: data is cut into blocks as it arrives; [`Writer::finish`] writes the last
/// block and the empty end-of-file member.
pub struct Writer<W: Write> {
    out: W,
    level: flate2::Compression,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// A BGZF writer into `out`.
    pub fn new(out: W, level: flate2::Compression) -> Writer<W> {
        Writer {
            out,
            level,
            buf: Vec::with_capacity(BLOCK),
        }
    }

    /// Writes what is buffered and the end-of-file marker; returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if !self.buf.is_empty() {
            write_block(&mut self.out, &self.buf, self.level)?;
        }
        write_block(&mut self.out, &[], self.level)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(BLOCK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BLOCK {
            write_block(&mut self.out, &self.buf, self.level)?;
            self.buf.clear();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn write_block(
    out: &mut impl Write,
    data: &[u8],
    level: flate2::Compression,
) -> std::io::Result<()> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), level);
    deflate.write_all(data)?;
    let body = deflate.finish()?;
    let mut crc = flate2::Crc::new();
    crc.update(data);
    // 18-byte header + body + 8-byte trailer.
    let bsize = (18 + body.len() + 8 - 1) as u16;
    let header = [
        0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0,
    ];
    out.write_all(&header)?;
    out.write_all(&bsize.to_le_bytes())?;
    out.write_all(&body)?;
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&(data.len() as u32).to_le_bytes())?;
    Ok(())
}
