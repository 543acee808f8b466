//! `compress`: packs an artifact's files into one archive; the format follows the output's
//! extension (`.tar.gz`/`.tgz`, `.gz`, `.zip`, `.tar`, `.lz4`, `.bgzf`).

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
    /// Overrides the format taken from the extension.
    #[serde(default)]
    pub format: String,
    /// 0 (none) to 9 (best); -1 means the default (6).
    #[serde(default = "default_level")]
    pub compression_level: i32,
}

fn default_output() -> String {
    "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz".into()
}

fn default_level() -> i32 {
    -1
}

/// Archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// tar + gzip
    TarGz,
    /// gzip of one file
    Gz,
    /// zip
    Zip,
    /// plain tar
    Tar,
    /// lz4 frame of one file
    Lz4,
    /// blocked gzip of one file
    Bgzf,
}

impl Format {
    /// The format for an output path (or an explicit `format`).
    pub fn detect(output: &str, explicit: &str) -> Result<Format, String> {
        let name = if explicit.is_empty() {
            output.to_string()
        } else {
            format!(".{explicit}")
        };
        let f = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Format::TarGz
        } else if name.ends_with(".gz") {
            Format::Gz
        } else if name.ends_with(".zip") {
            Format::Zip
        } else if name.ends_with(".tar") {
            Format::Tar
        } else if name.ends_with(".lz4") {
            Format::Lz4
        } else if name.ends_with(".bgzf") {
            Format::Bgzf
        } else {
            return Err(format!(
                "output \"{output}\": unknown archive format; use .tar.gz, .tgz, .gz, .zip, .tar, .lz4 or .bgzf"
            ));
        };
        Ok(f)
    }

    fn name(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Gz => "gzip",
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Lz4 => "lz4",
            Format::Bgzf => "bgzf",
        }
    }
}

/// Makes a `compress` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    let c: Config = decode(config)?;
    if !(-1..=9).contains(&c.compression_level) {
        return Err(Diagnostic::new(format!(
            "compression_level must be between -1 and 9, not {}",
            c.compression_level
        )));
    }
    if !c.output.contains("{{") {
        Format::detect(&c.output, &c.format).map_err(Diagnostic::new)?;
    }
    Ok(Box::new(Compress { config: c }))
}

struct Compress {
    config: Config,
}

/// Writes `files` into `output` in `format`.
pub fn compress(files: &[String], output: &str, format: Format, level: u32) -> std::io::Result<()> {
    let single = || -> std::io::Result<&String> {
        match files {
            [one] => Ok(one),
            _ => Err(std::io::Error::other(format!(
                "{} compresses exactly one file, but the artifact has {}: use .tar.gz or .zip",
                format.name(),
                files.len()
            ))),
        }
    };
    if let Some(dir) = Path::new(output).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let out = BufWriter::new(File::create(output)?);
    let gz_level = flate2::Compression::new(level);
    match format {
        Format::TarGz => {
            let gz = flate2::write::GzEncoder::new(out, gz_level);
            write_tar(files, gz)?.finish()?.flush()?;
        }
        Format::Tar => {
            write_tar(files, out)?.flush()?;
        }
        Format::Gz => {
            let mut gz = flate2::write::GzEncoder::new(out, gz_level);
            std::io::copy(&mut File::open(single()?)?, &mut gz)?;
            gz.finish()?.flush()?;
        }
        Format::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(out);
            std::io::copy(&mut File::open(single()?)?, &mut enc)?;
            enc.finish().map_err(std::io::Error::other)?.flush()?;
        }
        Format::Bgzf => {
            bgzf::compress(&mut File::open(single()?)?, out, gz_level)?;
        }
        Format::Zip => {
            let mut zip = zip::ZipWriter::new(out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(level as i64))
                .large_file(true);
            for f in files {
                zip.start_file(base_name(f), opts)
                    .map_err(std::io::Error::other)?;
                std::io::copy(&mut File::open(f)?, &mut zip)?;
            }
            zip.finish().map_err(std::io::Error::other)?.flush()?;
        }
    }
    Ok(())
}

fn base_name(f: &str) -> String {
    Path::new(f)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| f.to_string())
}

/// Entries are named by base name with fixed mode and time, as Packer writes them, so archives
/// of the same files are byte-identical.
fn write_tar<W: Write>(files: &[String], w: W) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(w);
    for f in files {
        let mut file = File::open(f)?;
        let len = file.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, base_name(f), (&mut file).take(len))?;
    }
    tar.into_inner()
}

#[async_trait]
impl PostProcessor for Compress {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let output = crate::render_output(&self.config.output, cx.info, &[])?;
        let format = Format::detect(&output, &self.config.format).map_err(Error::msg)?;
        let level = if self.config.compression_level < 0 {
            6
        } else {
            self.config.compression_level as u32
        };
        let files = input.files();
        cx.ui.say(&format!(
            "Compressing {} file(s) into {output} ({})",
            files.len(),
            format.name()
        ));
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

    #[test]
    fn every_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, b"hello world\n".repeat(1000)).unwrap();
        let a = a.display().to_string();
        for ext in ["tar.gz", "tgz", "gz", "zip", "tar", "lz4", "bgzf"] {
            let out = dir.path().join(format!("out.{ext}")).display().to_string();
            let f = Format::detect(&out, "").unwrap();
            compress(std::slice::from_ref(&a), &out, f, 6).unwrap();
            let mut data = Vec::new();
            let raw = File::open(&out).unwrap();
            match f {
                Format::TarGz => {
                    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(raw));
                    let mut e = t.entries().unwrap().next().unwrap().unwrap();
                    assert_eq!(e.path().unwrap().to_str(), Some("a.txt"));
                    e.read_to_end(&mut data).unwrap();
                }
                Format::Tar => {
                    let mut t = tar::Archive::new(raw);
                    t.entries()
                        .unwrap()
                        .next()
                        .unwrap()
                        .unwrap()
                        .read_to_end(&mut data)
                        .unwrap();
                }
                Format::Gz | Format::Bgzf => {
                    flate2::read::MultiGzDecoder::new(raw)
                        .read_to_end(&mut data)
                        .unwrap();
                }
                Format::Lz4 => {
                    lz4_flex::frame::FrameDecoder::new(raw)
                        .read_to_end(&mut data)
                        .unwrap();
                }
                Format::Zip => {
                    let mut z = zip::ZipArchive::new(raw).unwrap();
                    z.by_name("a.txt").unwrap().read_to_end(&mut data).unwrap();
                }
            }
            assert_eq!(data, b"hello world\n".repeat(1000), "{ext}");
        }
    }

    #[test]
    fn single_file_formats_refuse_many_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.gz").display().to_string();
        let e = compress(&["a".into(), "b".into()], &out, Format::Gz, 6).unwrap_err();
        assert!(e.to_string().contains("exactly one file"));
        assert!(Format::detect("x.rar", "").is_err());
    }
}
