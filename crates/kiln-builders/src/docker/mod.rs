//! The `docker` builder: provisions a container and commits it to an image, exports its file
//! system, or discards it, through the docker CLI (which follows `DOCKER_HOST` and
//! `DOCKER_CONTEXT`).

pub mod builder;
pub mod config;
mod step_commit;
mod step_connect;
mod step_export;
mod step_pull;
mod step_run;
mod step_temp_dir;

use kiln_core::journal::{Event, Record};
use kiln_core::plugin::BuildCx;
use std::future::Future;
use std::pin::Pin;

/// Journal kinds: the shared directory, the container, the committed image.
const DIR: &str = "docker:dir";
const CONTAINER: &str = "docker:container";
const IMAGE: &str = "docker:image";

/// The daemon variables set in this process, for the journal.
fn daemon_place() -> Vec<(String, String)> {
    kiln_comm::docker::DAEMON_VARS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Records what happened to one of the build's resources.
fn journal(cx: &BuildCx, kind: &str, key: &str, id: &str, event: Event) {
    let place = daemon_place();
    let place: Vec<(&str, &str)> = place
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    cx.info
        .journal
        .record(&cx.info.name, kind, key, id, &place, event);
}

/// Whether `path` is named as [`step_temp_dir`] names the shared directories.
fn is_temp_dir_name(path: &str) -> bool {
    std::path::Path::new(path)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(step_temp_dir::PREFIX))
}

/// Whether a docker error says the thing is already gone.
fn gone(e: &str) -> bool {
    e.contains("No such container") || e.contains("No such image") || e.contains("not found")
}

/// `kiln cleanup`: deletes one resource a dead run left (by id, or by the container's name
/// when the run died before learning the id), on the daemon the run used.
pub fn cleaner(r: Record) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
    Box::pin(async move {
        let env: Vec<(String, String)> = r
            .place
            .iter()
            .filter(|(k, _)| kiln_comm::docker::DAEMON_VARS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let docker = |args: Vec<String>| {
            let env = env.clone();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                kiln_comm::docker::docker_at(&env, &args)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match r.kind.as_str() {
            // Only a directory kiln names so: a journal is no licence to delete anything else.
            DIR if !is_temp_dir_name(&r.key) => {
                Err(format!("not a kiln temporary directory: {}", r.key))
            }
            DIR => match std::fs::remove_dir_all(&r.key) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("removing {}: {e}", r.key)),
            },
            CONTAINER => {
                let id = if r.id.is_empty() { &r.key } else { &r.id };
                match docker(vec!["rm".into(), "-f".into(), id.clone()]).await {
                    Err(e) if !gone(&e) => Err(e),
                    _ => Ok(()),
                }
            }
            IMAGE => match docker(vec!["rmi".into(), r.id.clone()]).await {
                Err(e) if !gone(&e) => Err(e),
                _ => Ok(()),
            },
            other => Err(format!("unknown docker resource kind {other}")),
        }
    })
}
