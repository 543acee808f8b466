//! BGZF (blocked gzip, as used by htslib): a series of gzip members of at most 64 KiB each,
//! each carrying its compressed size in a `BC` extra field, ending with an empty member.

use std::io::{Read, Write};

const BLOCK: usize = 0xff00;

/// Compresses `input` into BGZF.
pub fn compress(
    input: &mut impl Read,
    mut out: impl Write,
    level: flate2::Compression,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; BLOCK];
    loop {
        let mut n = 0;
        while n < BLOCK {
            let r = input.read(&mut buf[n..])?;
            if r == 0 {
                break;
            }
            n += r;
        }
        write_block(&mut out, &buf[..n], level)?;
        if n == 0 {
            break;
        }
    }
    out.flush()
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
