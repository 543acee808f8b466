//! `manifest`: appends a record of each build's artifact to a JSON file, in Packer's format.

use async_trait::async_trait;
use kiln_core::artifact::ArtifactRef;
use kiln_core::plugin::{PostCx, PostProcessed, PostProcessor, PrepareCx};
use kiln_core::{Error, Result};
use kiln_template::{decode::decode, Diagnostic, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// `manifest` configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The manifest file.
    #[serde(default = "default_output")]
    pub output: String,
    /// Record only file names, not paths.
    #[serde(default)]
    pub strip_path: bool,
    /// Leave `build_time` out.
    #[serde(default)]
    pub strip_time: bool,
    /// Extra data recorded with each build.
    #[serde(default)]
    pub custom_data: Option<BTreeMap<String, String>>,
}

fn default_output() -> String {
    "packer-manifest.json".into()
}

/// One file of an artifact.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path (or name with `strip_path`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// One build's record.
#[derive(Debug, Serialize, Deserialize)]
pub struct Build {
    /// Build name.
    pub name: String,
    /// Builder type.
    pub builder_type: String,
    /// Unix time of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_time: Option<i64>,
    /// Files, or null when there are none.
    pub files: Option<Vec<ManifestFile>>,
    /// The artifact id.
    pub artifact_id: String,
    /// The run that wrote the record.
    pub packer_run_uuid: String,
    /// `custom_data`.
    pub custom_data: Option<BTreeMap<String, String>>,
}

/// The manifest file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Every recorded build, oldest first.
    pub builds: Vec<Build>,
    /// The newest run.
    pub last_run_uuid: String,
}

/// Makes a `manifest` post-processor.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic> {
    Ok(Box::new(ManifestPp {
        config: decode(config)?,
    }))
}

struct ManifestPp {
    config: Config,
}

/// Serialises concurrent builds appending to the same manifest.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[async_trait]
impl PostProcessor for ManifestPp {
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed> {
        let output = crate::render_output(&self.config.output, cx.info, &[])?;
        let mut files = Vec::new();
        for f in input.files() {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            let name = if self.config.strip_path {
                Path::new(&f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(f)
            } else {
                f
            };
            files.push(ManifestFile { name, size });
        }
        let build = Build {
            name: cx.info.name.clone(),
            builder_type: cx.info.builder_type.clone(),
            build_time: (!self.config.strip_time).then(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0)
            }),
            files: if files.is_empty() { None } else { Some(files) },
            artifact_id: input.id(),
            packer_run_uuid: cx.info.run_uuid.clone(),
            custom_data: self.config.custom_data.clone(),
        };
        let _guard = LOCK.lock().await;
        let mut manifest = match std::fs::read_to_string(&output) {
            Ok(text) => serde_json::from_str::<Manifest>(&text)
                .map_err(|e| Error::msg(format!("{output} exists but is not a manifest: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(Error::msg(format!("reading {output}: {e}"))),
        };
        // As Packer: -force starts the file afresh, except for builds of this same run.
        if cx.info.force && manifest.last_run_uuid != cx.info.run_uuid {
            manifest = Manifest::default();
        }
        manifest.builds.push(build);
        manifest.last_run_uuid = cx.info.run_uuid.clone();
        let text =
            serde_json::to_string_pretty(&manifest).map_err(|e| Error::msg(e.to_string()))?;
        if let Some(dir) = Path::new(&output).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        // Write-then-rename so an interrupted run never leaves a truncated manifest.
        let tmp = format!("{output}.kiln-tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &output)?;
        Ok(PostProcessed {
            artifact: Some(input),
            keep_input: true,
            force_keep_input: true,
        })
    }
}
