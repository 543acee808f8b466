//! Plugin interfaces (builder, provisioner, post-processor) and the one registry that maps
//! type names such as `"amazon-ebs"` to constructors.

use crate::artifact::ArtifactRef;
use crate::ui::BuildUi;
use crate::Result;
use async_trait::async_trait;
use kiln_comm::Communicator;
use kiln_template::interp::Context;
use kiln_template::{Diagnostic, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a plugin needs to know about the build it serves.
#[derive(Clone)]
pub struct BuildInfo {
    /// Build name (`{{build_name}}`, the manifest's `name`).
    pub name: String,
    /// The name the build is shown by (`==> NAME: ...`, the artifact list): the build name,
    /// or an HCL2 build's `type.name`.
    pub display: String,
    /// Builder type.
    pub builder_type: String,
    /// Interpolation context (variables, build name, run time) for rendering templates
    /// that were left for later (`{{.Path}}`, `{{build "ID"}}`).
    pub interp: Context,
    /// The run's id (`packer_run_uuid` in manifests).
    pub run_uuid: String,
    /// Where steps record the resources they create outside the machine.
    pub journal: Arc<crate::journal::Journal>,
    /// `-force`: builders replace existing outputs instead of refusing.
    pub force: bool,
}

impl BuildInfo {
    /// The variables Packer gives scripts: `PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE`, and
    /// `PACKER_HTTP_ADDR` when the builder serves files over HTTP.
    pub fn packer_env(&self, data: &GeneratedData) -> Vec<(String, String)> {
        let mut env = vec![
            ("PACKER_BUILD_NAME".to_string(), self.name.clone()),
            ("PACKER_BUILDER_TYPE".to_string(), self.builder_type.clone()),
        ];
        for (key, var) in [
            ("PackerHTTPAddr", "PACKER_HTTP_ADDR"),
            ("PackerHTTPIP", "PACKER_HTTP_IP"),
            ("PackerHTTPPort", "PACKER_HTTP_PORT"),
        ] {
            if let Some(v) = data.get(key).filter(|v| !is_placeholder(v)) {
                env.push((var.to_string(), v.clone()));
            }
        }
        env
    }
}

/// What a builder needs while running.
pub struct BuildCx {
    /// This build's output.
    pub ui: BuildUi,
    /// Cancelled on SIGINT/SIGTERM.
    pub cancel: CancellationToken,
    /// The build.
    pub info: BuildInfo,
    /// `-on-error` policy.
    pub on_error: OnError,
    /// `-debug`: pause between steps.
    pub debug: bool,
    /// Runs the provisioners when the builder's machine is ready.
    pub hook: Arc<dyn Hook>,
}

/// Packer's `-on-error` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Clean up everything (default).
    Cleanup,
    /// Stop without cleaning up.
    Abort,
    /// Ask on the terminal: clean up, abort or retry the step.
    Ask,
    /// Run the error-cleanup provisioner, then stop without cleaning up.
    RunCleanupProvisioner,
}

impl std::str::FromStr for OnError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "cleanup" => OnError::Cleanup,
            "abort" => OnError::Abort,
            "ask" => OnError::Ask,
            "run-cleanup-provisioner" => OnError::RunCleanupProvisioner,
            _ => {
                return Err(format!(
                    "-on-error must be one of \"cleanup\", \"abort\", \"ask\", \"run-cleanup-provisioner\", not \"{s}\""
                ))
            }
        })
    }
}

/// Data a builder produced for `{{ build "Key" }}` (ID, SSH keys, addresses, …).
pub type GeneratedData = BTreeMap<String, String>;

/// The keys `{{ build "Key" }}` always knows in Packer, whatever the builder.
pub const BUILD_DATA_KEYS: &[&str] = &[
    "ID",
    "Host",
    "Port",
    "User",
    "Password",
    "ConnType",
    "PackerRunUUID",
    "PackerHTTPIP",
    "PackerHTTPPort",
    "PackerHTTPAddr",
    "SSHPublicKey",
    "SSHPrivateKey",
    "WinRMPassword",
];

/// What Packer 1.6.6 renders for a known key the builder did not set (Go's nil).
pub const NO_VALUE: &str = "<no value>";

/// Packer's values for a builder without an HTTP server or an instance id.
pub const HTTP_IP_NOT_IMPLEMENTED: &str = "ERR_HTTP_IP_NOT_IMPLEMENTED_BY_BUILDER";
/// See [`HTTP_IP_NOT_IMPLEMENTED`].
pub const HTTP_PORT_NOT_IMPLEMENTED: &str = "ERR_HTTP_PORT_NOT_IMPLEMENTED_BY_BUILDER";
/// See [`HTTP_IP_NOT_IMPLEMENTED`].
pub const HTTP_ADDR_NOT_IMPLEMENTED: &str = "ERR_HTTP_ADDR_NOT_IMPLEMENTED_BY_BUILDER";
/// See [`HTTP_IP_NOT_IMPLEMENTED`].
pub const ID_NOT_IMPLEMENTED: &str = "ERR_ID_NOT_IMPLEMENTED_BY_BUILDER";

/// True for the values that stand for "not set" in build data.
pub fn is_placeholder(v: &str) -> bool {
    v == NO_VALUE || v.starts_with("ERR_") && v.ends_with("_NOT_IMPLEMENTED_BY_BUILDER")
}

/// Fills in every key of [`BUILD_DATA_KEYS`] the builder did not set, as Packer renders it.
pub fn complete_build_data(data: &GeneratedData) -> GeneratedData {
    let mut d = data.clone();
    for k in BUILD_DATA_KEYS {
        d.entry(k.to_string())
            .or_insert_with(|| NO_VALUE.to_string());
    }
    d
}

/// The provisioning hook a builder calls once its machine is reachable.
#[async_trait]
pub trait Hook: Send + Sync {
    /// Runs every provisioner of the build over `comm`.
    async fn provision(
        &self,
        cx: &BuildCx,
        comm: Arc<dyn Communicator>,
        data: &GeneratedData,
    ) -> Result<()>;
    /// Runs the error-cleanup provisioner (if any) after a failure.
    async fn error_cleanup(
        &self,
        cx: &BuildCx,
        comm: Arc<dyn Communicator>,
        data: &GeneratedData,
    ) -> Result<()>;
}

/// A builder: creates a machine, lets the hook provision it, captures an artifact.
#[async_trait]
pub trait Builder: Send + Sync {
    /// Runs the whole build; `None` when it produces no artifact.
    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>>;

    /// Values of its configuration that are secrets (cloud keys, tokens): masked in all
    /// output like sensitive variables.
    fn secrets(&self) -> Vec<String> {
        vec![]
    }

    /// `kiln build -dry-run`: checks what can be checked without creating anything (lookups,
    /// the cloud's own permission checks) and says what the build would make; an error when
    /// the build could not run.
    async fn dry_run(&self, cx: &BuildCx) -> Result<()> {
        cx.ui
            .say("Nothing to check: this builder creates nothing outside this machine.");
        Ok(())
    }
}

/// What a provisioner gets to work with.
pub struct ProvisionCx<'a> {
    /// Output.
    pub ui: &'a BuildUi,
    /// The machine.
    pub comm: Arc<dyn Communicator>,
    /// Cancelled on interrupt or timeout.
    pub cancel: CancellationToken,
    /// The build.
    pub info: &'a BuildInfo,
    /// What the builder produced so far.
    pub data: &'a GeneratedData,
}

/// A provisioner.
#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Configures the machine.
    async fn provision(&self, cx: &ProvisionCx<'_>) -> Result<()>;
}

/// What a post-processor returns.
pub struct PostProcessed {
    /// The new artifact (None halts the chain).
    pub artifact: Option<ArtifactRef>,
    /// Whether the input artifact should be kept by default.
    pub keep_input: bool,
    /// Keep the input even if the user set `keep_input_artifact: false`.
    pub force_keep_input: bool,
}

/// What a post-processor gets to work with.
pub struct PostCx<'a> {
    /// Output (`==> name (type): ...`).
    pub ui: &'a BuildUi,
    /// Cancelled on interrupt.
    pub cancel: CancellationToken,
    /// The build.
    pub info: &'a BuildInfo,
}

/// A post-processor.
#[async_trait]
pub trait PostProcessor: Send + Sync {
    /// Processes an artifact.
    async fn post_process(&self, cx: &PostCx<'_>, input: ArtifactRef) -> Result<PostProcessed>;

    /// Values of its configuration that are secrets (a registry password): masked in all
    /// output like sensitive variables.
    fn secrets(&self) -> Vec<String> {
        vec![]
    }
}

/// What a plugin constructor sees besides its configuration.
pub struct PrepareCx<'a> {
    /// The build.
    pub info: &'a BuildInfo,
    /// Directory of the template file (relative paths in configs are relative to the working
    /// directory, as in Packer; this is for functions that need it).
    pub template_dir: Option<&'a std::path::Path>,
}

/// The values among `values` that are set, for [`Builder::secrets`].
pub fn set_values(values: &[&String]) -> Vec<String> {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.to_string())
        .collect()
}

/// Makes a builder from its (interpolated) configuration.
pub type BuilderFactory = fn(&Value, &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic>;
/// Makes a provisioner.
pub type ProvisionerFactory = fn(&Value, &PrepareCx) -> Result<Box<dyn Provisioner>, Diagnostic>;
/// Makes a post-processor.
pub type PostProcessorFactory =
    fn(&Value, &PrepareCx) -> Result<Box<dyn PostProcessor>, Diagnostic>;

/// Deletes one resource a dead run left behind (from its journal record).
pub type Cleaner =
    fn(
        crate::journal::Record,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// Releases what a plugin holds for the whole run (a Vault lease its builds share), once
/// every build is done, in `kiln build` and in `kiln cleanup`; returns warnings for the user.
pub type RunEnd = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send>>;

/// Finds in the cloud the temporary resources whose tagged expiry has passed, as records for
/// the cleaners (`kiln cleanup -expired`: their journals may be lost), in the regions named
/// (none: the default one).
pub type Reaper = fn(
    Vec<String>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<crate::journal::Record>, String>> + Send>,
>;

/// Every plugin type kiln knows, by name.
#[derive(Default)]
pub struct Registry {
    cleaners: BTreeMap<&'static str, Cleaner>,
    reapers: BTreeMap<&'static str, Reaper>,
    run_ends: Vec<RunEnd>,
    builders: BTreeMap<&'static str, BuilderFactory>,
    rendered_at_build: BTreeMap<&'static str, &'static [&'static str]>,
    provisioners: BTreeMap<&'static str, ProvisionerFactory>,
    post_processors: BTreeMap<&'static str, PostProcessorFactory>,
}

impl Registry {
    /// Registers a builder type.
    pub fn builder(&mut self, name: &'static str, f: BuilderFactory) {
        self.builders.insert(name, f);
    }
    /// Registers a builder type whose options `fields` it renders itself at build time
    /// (Packer's `Exclude`), not the plan.
    pub fn builder_rendering(
        &mut self,
        name: &'static str,
        f: BuilderFactory,
        fields: &'static [&'static str],
    ) {
        self.builders.insert(name, f);
        self.rendered_at_build.insert(name, fields);
    }
    /// The options of a builder type that it renders itself at build time.
    pub fn rendered_at_build(&self, name: &str) -> &'static [&'static str] {
        self.rendered_at_build.get(name).copied().unwrap_or(&[])
    }
    /// Registers a provisioner type.
    pub fn provisioner(&mut self, name: &'static str, f: ProvisionerFactory) {
        self.provisioners.insert(name, f);
    }
    /// Registers a post-processor type.
    pub fn post_processor(&mut self, name: &'static str, f: PostProcessorFactory) {
        self.post_processors.insert(name, f);
    }
    /// Registers the cleaner for journal records whose kind starts with `prefix` (`ec2:`).
    pub fn cleaner(&mut self, prefix: &'static str, f: Cleaner) {
        self.cleaners.insert(prefix, f);
    }
    /// Registers a cloud's reaper, by the cloud's name.
    pub fn reaper(&mut self, cloud: &'static str, f: Reaper) {
        self.reapers.insert(cloud, f);
    }
    /// The reapers, by cloud.
    pub fn reapers(&self) -> impl Iterator<Item = (&'static str, Reaper)> + '_ {
        self.reapers.iter().map(|(k, v)| (*k, *v))
    }
    /// Registers what to run once the run's builds are done.
    pub fn at_run_end(&mut self, f: RunEnd) {
        self.run_ends.push(f);
    }
    /// Runs every [`RunEnd`]; their warnings.
    pub async fn end_run(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for f in &self.run_ends {
            warnings.extend(f().await);
        }
        warnings
    }
    /// The cleaner for a resource kind.
    pub fn get_cleaner(&self, kind: &str) -> Option<Cleaner> {
        self.cleaners
            .iter()
            .find(|(p, _)| kind.starts_with(*p))
            .map(|(_, f)| *f)
    }
    /// The builder constructor for a type.
    pub fn get_builder(&self, name: &str) -> Result<BuilderFactory, String> {
        lookup(&self.builders, name, "builder")
    }
    /// The provisioner constructor for a type.
    pub fn get_provisioner(&self, name: &str) -> Result<ProvisionerFactory, String> {
        lookup(&self.provisioners, name, "provisioner")
    }
    /// The post-processor constructor for a type.
    pub fn get_post_processor(&self, name: &str) -> Result<PostProcessorFactory, String> {
        lookup(&self.post_processors, name, "post-processor")
    }
}

fn lookup<F: Copy>(map: &BTreeMap<&'static str, F>, name: &str, what: &str) -> Result<F, String> {
    map.get(name).copied().ok_or_else(|| {
        let near = kiln_template::decode::nearest(name, map.keys().copied());
        match near {
            Some(n) => format!("unknown {what} type \"{name}\"; did you mean \"{n}\"?"),
            None => format!(
                "unknown {what} type \"{name}\"; known types: {}",
                map.keys().copied().collect::<Vec<_>>().join(", ")
            ),
        }
    })
}
