//! `compress`: packs an artifact's files into one archive. As Packer, the output's last two
//! extensions choose: `.tar` or `.zip` archive; `.gz`, `.lz4`, `.bgzf` or `.xz` compress (a
//! `.tar` before them archives first); no extension or an unknown one means tar + gzip.

use async_trait::async_trait;
use kiln_core::artifact::{ArtifactRef, FileArtifact};
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::Deserialize;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

mod bgzf;

/// Builder id of the artifact.
pub const BUILDER_ID: &str = "packer.post-processor.compress";

/// `compress` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Archive path template.
    #[serde(default = "default_output")]
    pub output: String,
    /// Appended to the output as an extension to choose the format.
    #[serde(default)]
    pub format: String,
    /// 1 (fastest) to 9 (best); -1 and 0 mean the default (6), above 9 means 9 (as Packer).
    #[serde(default = "default_level")]
    pub compression_level: i32,
}

fn default_output() -> String {
    "packer_{{.BuildName}}_{{.BuilderType}}".into()
}

fn default_level() -> i32 {
    -1
}

/// How the files are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// A tar archive.
    Tar,
    /// A zip archive (compressed entries, never compressed again).
    Zip,
}

/// How the (packed) stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// gzip.
    Gzip,
    /// An lz4 frame.
    Lz4,
    /// Blocked gzip (htslib's BGZF).
    Bgzf,
    /// xz.
    Xz,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Lz4 => "lz4",
            Algorithm::Bgzf => "bgzf",
            Algorithm::Xz => "xz",
        }
    }
}

/// An archive and/or a compression: what an output name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Packing, if any (none: exactly one file, compressed as it is).
    pub archive: Option<Archive>,
    /// Compression, if any.
    pub algorithm: Option<Algorithm>,
}

impl Format {
    /// Packer's detection from the output name (with `.format` appended when set).
    pub fn detect(output: &str, explicit: &str) -> Format {
        let name = if explicit.is_empty() {
            output.to_string()
        } else {
            format!("{output}.{explicit}")
        };
        // The groups of Packer's `\.([a-z0-9]+)`, in order.
        let exts: Vec<&str> = name
            .split('.')
            .skip(1)
            .filter_map(|part| {
                let n = part
                    .bytes()
                    .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    .count();
                (n > 0).then(|| &part[..n])
            })
            .collect();
        let tar_gz = Format {
            archive: Some(Archive::Tar),
            algorithm: Some(Algorithm::Gzip),
        };
        let Some((&last, rest)) = exts.split_last() else {
            return tar_gz;
        };
        let mut f = Format {
            archive: (rest.last() == Some(&"tar")).then_some(Archive::Tar),
            algorithm: None,
        };
        match last {
            "tar" => f.archive = Some(Archive::Tar),
            "zip" => f.archive = Some(Archive::Zip),
            "gz" => f.algorithm = Some(Algorithm::Gzip),
            "lz4" => f.algorithm = Some(Algorithm::Lz4),
            "bgzf" => f.algorithm = Some(Algorithm::Bgzf),
            "xz" => f.algorithm = Some(Algorithm::Xz),
            _ => return tar_gz,
        }
        f
    }
}

/// Makes a `compress` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    if c.compression_level < -1 {
        return Err(Diagnostic::new(format!(
            "compression_level must be -1 (the default) or 1 to 9, not {}",
            c.compression_level
        )));
    }
    Ok(Box::new(Compress { config: c }))
}

struct Compress {
    config: Config,
}

/// Packer's levels: -1 and 0 mean the default, above 9 means 9.
fn effective_level(level: i32) -> u32 {
    match level {
        ..=0 => 6,
        l => l.min(9) as u32,
    }
}

/// A writer that finishes its compression when done.
enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
    Bgzf(bgzf::Writer<W>),
    Xz(xz2::write::XzEncoder<W>),
}

impl<W: Write> Compressor<W> {
    fn new(algorithm: Option<Algorithm>, out: W, level: u32) -> Compressor<W> {
        match algorithm {
            None => Compressor::None(out),
            Some(Algorithm::Gzip) => Compressor::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level),
            )),
            Some(Algorithm::Lz4) => Compressor::Lz4(lz4_flex::frame::FrameEncoder::new(out)),
            Some(Algorithm::Bgzf) => {
                Compressor::Bgzf(bgzf::Writer::new(out, flate2::Compression::new(level)))
            }
            Some(Algorithm::Xz) => Compressor::Xz(xz2::write::XzEncoder::new(out, level)),
        }
    }

    fn finish(self) -> std::io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Lz4(e) => e.finish().map_err(std::io::Error::other),
            Compressor::Bgzf(e) => e.finish(),
            Compressor::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Lz4(e) => e.write(buf),
            Compressor::Bgzf(e) => e.write(buf),
            Compressor::Xz(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Lz4(e) => e.flush(),
            Compressor::Bgzf(e) => e.flush(),
            Compressor::Xz(e) => e.flush(),
        }
    }
}

/// Writes `files` into `output` in `format`, at compression `level` (1-9).
pub fn compress(files: &[String], output: &str, format: Format, level: u32) -> std::io::Result<()> {
    if format.archive.is_none() && files.len() != 1 {
        return Err(std::io::Error::other(format!(
            "Can only have 1 input file when not using tar/zip. Found {} files: {files:?}",
            files.len()
        )));
    }
    if let Some(dir) = Path::new(output).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let out = BufWriter::new(File::create(output)?);
    // A zip is never compressed again (its entries are): Packer's detection stops at .zip.
    if format.archive == Some(Archive::Zip) {
        return write_zip(files, out, level);
    }
    let mut stream = Compressor::new(format.algorithm, out, level);
    match format.archive {
        Some(_) => write_tar(files, &mut stream)?,
        None => {
            std::io::copy(&mut File::open(&files[0])?, &mut stream)?;
        }
    }
    stream.finish()?.flush()
}

/// Entries as Packer's: named by the path given, deflated.
fn write_zip<W: Write + std::io::Seek>(files: &[String], w: W, level: u32) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(w);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(level as i64))
        .large_file(true);
    for f in files {
        zip.start_file(f.as_str(), opts)
            .map_err(std::io::Error::other)?;
        std::io::copy(&mut File::open(f)?, &mut zip)?;
    }
    zip.finish().map_err(std::io::Error::other)?.flush()
}

/// Entries as Packer's: GNU format, named by base name, with the file's mode and owner and no
/// times (Packer clears them, so archives of the same files are identical).
fn write_tar<W: Write>(files: &[String], w: W) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut tar = tar::Builder::new(w);
    for f in files {
        let mut file = File::open(f)?;
        let meta = file.metadata()?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_mtime(0);
        set_owner(&mut header, meta.uid(), meta.gid())?;
        let name = Path::new(f)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.clone());
        let len = meta.len();
        tar.append_data(&mut header, name, (&mut file).take(len))?;
    }
    tar.into_inner()?;
    Ok(())
}

/// A tar entry's owner by number and by name, as Go's tar.FileInfoHeader records it.
pub(crate) fn set_owner(header: &mut tar::Header, uid: u32, gid: u32) -> std::io::Result<()> {
    header.set_uid(uid.into());
    header.set_gid(gid.into());
    if let Some(name) = user_name(uid) {
        header.set_username(&name)?;
    }
    if let Some(name) = group_name(gid) {
        header.set_groupname(&name)?;
    }
    Ok(())
}

/// The account name of `uid`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both live and sized as passed; the name
    // pointer it returns points into `buf`, read before `buf` is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The group name of `gid`, if it has one.
fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: as in `user_name`, for getgrgid_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(grp.gr_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[async_trait]
impl PostProcessor for Compress {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let output = crate::render_output(&self.config.output, cx.info, &[])?;
        let format = Format::detect(&output, &self.config.format);
        let level = effective_level(self.config.compression_level);
        let files = input.files();
        let compression = format
            .algorithm
            .map(Algorithm::name)
            .unwrap_or("no compression");
        if let Some(a) = format.algorithm {
            cx.ui.say(&format!(
                "Using {} compression with 1 core for {output}",
                a.name()
            ));
        }
        match (format.archive, files.as_slice()) {
            (Some(Archive::Tar), _) => cx.ui.say(&format!("Tarring {output} with {compression}")),
            (Some(Archive::Zip), _) => cx.ui.say(&format!("Zipping {output}")),
            (None, [one]) => cx.ui.say(&format!("Archiving {one} with {compression}")),
            (None, _) => {}
        }
        let out = output.clone();
        tokio::task::spawn_blocking(move || compress(&files, &out, format, level))
            .await
            .map_err(|e| Error::msg(format!("compression task failed: {e}")))?
            .map_err(|e| {
                let _ = std::fs::remove_file(&output);
                Error::msg(format!("compressing into {output}: {e}"))
            })?;
        cx.ui.say(&format!("Archive {output} completed"));
        Ok(PostProcessed {
            artifact: Some(Arc::new(FileArtifact {
                builder_id: BUILDER_ID.into(),
                id: String::new(),
                files: vec![output.clone()],
                description: format!("compressed artifacts in: {output}"),
            })),
            keep_input: false,
            force_keep_input: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(archive: Option<Archive>, algorithm: Option<Algorithm>) -> Format {
        Format { archive, algorithm }
    }

    #[test]
    fn formats_are_detected_as_packer_does() {
        use Algorithm::*;
        use Archive::*;
        for (name, explicit, want) in [
            ("out.tar.gz", "", fmt(Some(Tar), Some(Gzip))),
            ("out.tgz", "", fmt(Some(Tar), Some(Gzip))),
            ("out", "", fmt(Some(Tar), Some(Gzip))),
            ("out.rar", "", fmt(Some(Tar), Some(Gzip))),
            ("out.gz", "", fmt(None, Some(Gzip))),
            ("out.zip", "", fmt(Some(Zip), None)),
            ("out.tar", "", fmt(Some(Tar), None)),
            ("out.lz4", "", fmt(None, Some(Lz4))),
            ("out.tar.lz4", "", fmt(Some(Tar), Some(Lz4))),
            ("out.tar.bgzf", "", fmt(Some(Tar), Some(Bgzf))),
            ("out.bgzf", "", fmt(None, Some(Bgzf))),
            ("out.tar.xz", "", fmt(Some(Tar), Some(Xz))),
            ("v1.2/out", "", fmt(Some(Tar), Some(Gzip))),
            ("out", "zip", fmt(Some(Zip), None)),
            ("out.tar", "lz4", fmt(Some(Tar), Some(Lz4))),
        ] {
            assert_eq!(Format::detect(name, explicit), want, "{name} {explicit}");
        }
    }

    #[test]
    fn levels_follow_packer() {
        assert_eq!(effective_level(-1), 6);
        assert_eq!(effective_level(0), 6);
        assert_eq!(effective_level(1), 1);
        assert_eq!(effective_level(42), 9);
    }

    fn unpack(path: &str, f: Format) -> Vec<(String, Vec<u8>)> {
        let raw = File::open(path).unwrap();
        let stream: Box<dyn Read> = match f.algorithm {
            None => Box::new(raw),
            Some(Algorithm::Gzip) | Some(Algorithm::Bgzf) => {
                Box::new(flate2::read::MultiGzDecoder::new(raw))
            }
            Some(Algorithm::Lz4) => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
            Some(Algorithm::Xz) => Box::new(xz2::read::XzDecoder::new(raw)),
        };
        match f.archive {
            Some(Archive::Tar) => tar::Archive::new(stream)
                .entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let name = e.path().unwrap().display().to_string();
                    assert_eq!(e.header().mode().unwrap() & 0o777, 0o640, "{name}");
                    assert_eq!(e.header().mtime().unwrap(), 0, "{name}");
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).unwrap();
                    (name, data)
                })
                .collect(),
            Some(Archive::Zip) => {
                drop(stream);
                let mut z = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
                (0..z.len())
                    .map(|i| {
                        let mut e = z.by_index(i).unwrap();
                        let mut data = Vec::new();
                        e.read_to_end(&mut data).unwrap();
                        (e.name().to_string(), data)
                    })
                    .collect()
            }
            None => {
                let mut data = Vec::new();
                { stream }.read_to_end(&mut data).unwrap();
                vec![("-".into(), data)]
            }
        }
    }

    #[test]
    fn every_format_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, body) in [("a.txt", "hello world\n"), ("b.bin", "second\n")] {
            let p = dir.path().join(name);
            std::fs::write(&p, body.repeat(1000)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
            files.push(p.display().to_string());
        }
        let one = &files[..1];
        for ext in [
            "tar.gz", "tgz", "gz", "zip", "tar", "lz4", "tar.lz4", "bgzf", "tar.bgzf", "xz",
            "tar.xz",
        ] {
            let out = dir.path().join(format!("out.{ext}")).display().to_string();
            let f = Format::detect(&out, "");
            let input = if f.archive.is_some() { &files[..] } else { one };
            compress(input, &out, f, 6).unwrap();
            let got = unpack(&out, f);
            assert_eq!(got.len(), input.len(), "{ext}");
            for ((name, data), path) in got.iter().zip(input) {
                let want_name = match f.archive {
                    Some(Archive::Tar) => Path::new(path).file_name().unwrap().to_str().unwrap(),
                    Some(Archive::Zip) => path.as_str(),
                    None => "-",
                };
                assert_eq!(name, want_name, "{ext}");
                assert_eq!(data, &std::fs::read(path).unwrap(), "{ext}");
            }
        }
    }

    #[test]
    fn single_file_formats_refuse_many_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.gz").display().to_string();
        let f = Format::detect(&out, "");
        let e = compress(&["a".into(), "b".into()], &out, f, 6).unwrap_err();
        assert!(
            e.to_string()
                .contains("Can only have 1 input file when not using tar/zip"),
            "{e}"
        );
    }
}
