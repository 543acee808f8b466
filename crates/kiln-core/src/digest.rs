//! File digests, as lowercase hex: the `checksum` post-processor writes them, the `qemu`
//! builder checks `iso_checksum` with them.

use md5::Digest;
use std::io::Read;
use std::path::Path;

/// The algorithms [`hash_file`] knows, by Packer's names.
pub const KINDS: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Hashes a file with the named algorithm (one of [`KINDS`]; another is sha512); returns
/// lowercase hex.
pub fn hash_file(kind: &str, path: &Path) -> std::io::Result<String> {
    fn run<D: Digest>(mut d: D, path: &Path) -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            d.update(&buf[..n]);
        }
        Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
    match kind {
        "md5" => run(md5::Md5::new(), path),
        "sha1" => run(sha1::Sha1::new(), path),
        "sha224" => run(sha2::Sha224::new(), path),
        "sha256" => run(sha2::Sha256::new(), path),
        "sha384" => run(sha2::Sha384::new(), path),
        _ => run(sha2::Sha512::new(), path),
    }
}

/// The SHA-1 of `data` as lowercase hex (Packer names cached downloads by it).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1::Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
