//! Post-processors: each type is a folder with its `config.rs` and its logic.

pub mod artifice;
pub mod checksum;
pub mod compress;
pub mod docker_import;
pub mod docker_push;
pub mod docker_save;
pub mod docker_tag;
pub mod manifest;
pub mod shell_local;
pub mod vagrant;

use kiln_core::plugin::{BuildInfo, Registry};
use kiln_core::{Error, Result};
use kiln_template::interp::{render, TVal};

/// Registers this crate's post-processor types.
pub fn register(r: &mut Registry) {
    r.post_processor("manifest", manifest::new);
    r.post_processor("checksum", checksum::new);
    r.post_processor("compress", compress::new);
    r.post_processor("shell-local", shell_local::new);
    r.post_processor("artifice", artifice::new);
    r.post_processor("docker-tag", docker_tag::new);
    r.post_processor("docker-save", docker_save::new);
    r.post_processor("docker-import", docker_import::new);
    r.post_processor("docker-push", docker_push::new);
    r.post_processor("vagrant", vagrant::new);
}

/// Renders an output-path template with Packer's `{{.BuildName}}`, `{{.BuilderType}}` and
/// any extra fields.
pub(crate) fn render_output(
    template: &str,
    info: &BuildInfo,
    extra: &[(&str, &str)],
) -> Result<String> {
    let mut data = vec![
        ("BuildName", TVal::from(info.name.as_str())),
        ("BuilderType", TVal::from(info.builder_type.as_str())),
    ];
    data.extend(extra.iter().map(|(k, v)| (*k, TVal::from(*v))));
    render(template, &info.interp.with_data(data)).map_err(|e| Error::msg(format!("output: {e}")))
}
