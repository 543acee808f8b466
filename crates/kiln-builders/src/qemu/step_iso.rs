//! Finds the ISO (or disk image) and checks it against `iso_checksum` before anything boots
//! from it. A local file is used in place. A URL is downloaded into the cache
//! (`PACKER_CACHE_DIR`, default `packer_cache`; or `iso_target_path`), named as Packer names
//! it (the SHA-1 of the checksum, or of the URL without one), unless a file there already
//! matches the checksum. `iso_urls` are tried in order; a checksum file given as a URL is
//! fetched first.

use super::builder::State;
use super::config::{checksum_in, file_name_of, Source, Sum};
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Verifies the ISO.
pub struct StepIso;

/// How often a download's progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Whether the file at `path` has the digest `want` of algorithm `kind`.
async fn matches(cx: &BuildCx, path: &Path, kind: &str, want: &str) -> Result<bool> {
    let (file, k) = (path.to_path_buf(), kind.to_string());
    let hashing = tokio::task::spawn_blocking(move || kiln_core::digest::hash_file(&k, &file));
    let got = tokio::select! {
        r = hashing => r
            .map_err(|e| Error::msg(format!("hashing {}: {e}", path.display())))?
            .map_err(|e| Error::msg(format!("reading {}: {e}", path.display())))?,
        _ = cx.cancel.cancelled() => return Err(Error::Cancelled),
    };
    Ok(got == want)
}

/// Where a download of `url` is kept.
pub(super) fn cache_target(s: &State, url: &str) -> PathBuf {
    let c = &s.settings.c;
    let key = if c.iso_checksum.is_empty() || c.iso_checksum == "none" {
        url
    } else {
        c.iso_checksum.as_str()
    };
    let name = kiln_core::digest::sha1_hex(key.as_bytes());
    let target = &c.iso_target_path;
    if target.is_empty() {
        let dir = std::env::var("PACKER_CACHE_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "packer_cache".into());
        return Path::new(&dir).join(format!("{name}.{}", c.iso_target_extension));
    }
    if Path::new(target).extension().is_none() {
        return Path::new(target).join(format!("{name}.{}", c.iso_target_extension));
    }
    PathBuf::from(target)
}

impl StepIso {
    /// The digest to check against, fetching a remote checksum file once.
    async fn digest(
        cx: &BuildCx,
        s: &State,
        cached: &mut Option<(String, String)>,
    ) -> Result<Option<(String, String)>> {
        match &s.settings.checksum {
            Sum::None => Ok(None),
            Sum::Known(k, h) => Ok(Some((k.clone(), h.clone()))),
            Sum::Remote(url) => {
                if cached.is_none() {
                    cx.ui.say(&format!("Fetching the checksum file {url}"));
                    let text = fetch_checksum_file(url, cx).await?;
                    let first = match &s.settings.iso_sources[0] {
                        Source::Local(p) | Source::Remote(p) => p.clone(),
                    };
                    *cached =
                        Some(checksum_in(&text, &file_name_of(&first), url).map_err(Error::msg)?);
                }
                Ok(cached.clone())
            }
        }
    }

    /// A remote source, downloaded (or found in the cache) and verified.
    async fn fetch(
        cx: &BuildCx,
        s: &State,
        url: &str,
        sum: Option<&(String, String)>,
    ) -> Result<String> {
        let target = cache_target(s, url);
        if let Some((kind, want)) = sum {
            if target.is_file() && matches(cx, &target, kind, want).await? {
                cx.ui.say(&format!("Using the cached {}", target.display()));
                return Ok(target.display().to_string());
            }
        }
        let ui = cx.ui.clone();
        let last = Mutex::new(Instant::now());
        let progress = move |got: u64, total: Option<u64>| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < PROGRESS_EVERY {
                return;
            }
            *last = Instant::now();
            let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
            ui.message(&match total {
                Some(t) => format!(
                    "{:.1} of {:.1} MiB ({:.0}%)",
                    mib(got),
                    mib(t),
                    got as f64 * 100.0 / t.max(1) as f64
                ),
                None => format!("{:.1} MiB", mib(got)),
            });
        };
        let started = Instant::now();
        let got = match crate::download::download(url, &target, &cx.cancel, &progress).await {
            Ok(n) => n,
            Err(_) if cx.cancel.is_cancelled() => return Err(Error::Cancelled),
            Err(e) => {
                cx.ui.say(&format!("Download failed {e}"));
                return Err(Error::msg(e));
            }
        };
        kiln_core::log::log(format_args!(
            "[INFO] downloaded {got} bytes in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        if let Some((kind, want)) = sum {
            if !matches(cx, &target, kind, want).await? {
                cx.ui.say(&format!(
                    "Checksum did not match, removing {}",
                    target.display()
                ));
                let _ = std::fs::remove_file(&target);
                return Err(Error::msg(format!(
                    "Checksums did not match for {}: expected {kind} {want}",
                    target.display()
                )));
            }
        }
        cx.ui.say(&format!("{url} => {}", target.display()));
        Ok(target.display().to_string())
    }
}

/// A checksum file's text.
async fn fetch_checksum_file(url: &str, cx: &BuildCx) -> Result<String> {
    crate::download::fetch_text(url, &cx.cancel)
        .await
        .map_err(|e| {
            if cx.cancel.is_cancelled() {
                Error::Cancelled
            } else {
                Error::msg(format!("iso_checksum: {e}"))
            }
        })
}

#[async_trait]
impl Step<State> for StepIso {
    fn name(&self) -> &'static str {
        "StepDownload"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        cx.ui.say("Retrieving ISO");
        let mut fetched_sum = None;
        let sum = Self::digest(cx, s, &mut fetched_sum).await?;
        let mut errors = vec![];
        for source in s.settings.iso_sources.clone() {
            let found = match &source {
                Source::Local(path) => {
                    cx.ui.say(&format!("Using file in place: {path}"));
                    match &sum {
                        Some((kind, want)) if !matches(cx, Path::new(path), kind, want).await? => {
                            Err(Error::msg(format!(
                                "Checksums did not match for {path}: expected {kind} {want}"
                            )))
                        }
                        Some((kind, _)) => {
                            cx.ui
                                .message(&format!("{kind} checksum of {path} verified"));
                            Ok(path.clone())
                        }
                        None => Ok(path.clone()),
                    }
                }
                // iso_skip_cache: QEMU (or qemu-img) reads it over HTTP, which needs a server
                // that serves byte ranges; nothing is downloaded.
                Source::Remote(url) if s.settings.c.iso_skip_cache => {
                    match crate::download::serves_byte_ranges(url).await {
                        Ok(true) => {
                            cx.ui
                                .say(&format!("Using {url} in place: QEMU reads it over HTTP"));
                            Ok(url.clone())
                        }
                        Ok(false) => Err(Error::msg(format!(
                            "No byte serving support. The HTTP server must support Accept-Ranges=bytes ({url})"
                        ))),
                        Err(e) => Err(Error::msg(e)),
                    }
                }
                Source::Remote(url) => {
                    cx.ui.say(&format!("Trying {url}"));
                    Self::fetch(cx, s, url, sum.as_ref()).await
                }
            };
            match found {
                Ok(path) => {
                    s.iso_path = Some(path);
                    return Ok(());
                }
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.len() == 1 {
            return Err(Error::msg(errors.remove(0)));
        }
        Err(Error::msg(format!(
            "error downloading ISO: [{}]",
            errors.join("; ")
        )))
    }
}
