//! Starts the container: `docker run` with Packer's flags (devices, capabilities,
//! `privileged`, tmpfs, the volumes and the shared directory at `container_dir`), then the
//! rendered `run_command`. kiln names the container (`kiln-` and the journal key) unless
//! `run_command` names it, so that a container whose id the run never learnt is found by
//! `kiln cleanup`: a name, unlike a label, does not pass into a committed image. Removed
//! (`docker rm -f`: killed and deleted) at cleanup.

use super::builder::State;
use super::{journal, CONTAINER};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use kiln_template::interp::TVal;

/// Runs the container.
pub struct StepRun {
    /// The journal key: the container's name.
    key: String,
    /// Whether `docker run` was started (then a container may exist without its id known).
    started: bool,
}

impl StepRun {
    /// A step for a container of a fresh name.
    pub fn new() -> StepRun {
        StepRun {
            key: format!("kiln-{}", uuid::Uuid::new_v4().simple()),
            started: false,
        }
    }
}

/// The name `run_command` gives the container (`--name N` or `--name=N`), if any.
fn named(run_command: &[String]) -> Option<String> {
    let mut args = run_command.iter();
    while let Some(a) = args.next() {
        if a == "--" {
            return None;
        }
        if a == "--name" {
            return args.next().cloned();
        }
        if let Some(n) = a.strip_prefix("--name=") {
            return Some(n.to_string());
        }
    }
    None
}

/// The `docker run` arguments, `run_command` rendered with `{{.Image}}`; the container is
/// called `name` unless `run_command` names it.
pub(super) fn run_args(cx: &BuildCx, s: &State, name: &str) -> Result<Vec<String>> {
    let c = &s.config;
    let mut a = vec!["run".to_string()];
    let flag = |a: &mut Vec<String>, name: &str, values: &[String]| {
        for v in values {
            a.extend([name.to_string(), v.clone()]);
        }
    };
    flag(&mut a, "--device", &c.device);
    flag(&mut a, "--cap-add", &c.cap_add);
    flag(&mut a, "--cap-drop", &c.cap_drop);
    if c.privileged {
        a.push("--privileged".into());
    }
    flag(&mut a, "--tmpfs", &c.tmpfs);
    for (host, guest) in &c.volumes {
        a.extend(["-v".into(), format!("{host}:{guest}")]);
    }
    if let Some(dir) = &s.temp_dir {
        a.extend([
            "-v".into(),
            format!("{}:{}", dir.display(), c.container_dir),
        ]);
    }
    let data = cx
        .info
        .interp
        .with_data([("Image", TVal::Str(c.image.clone()))]);
    let rendered = c
        .run_command
        .iter()
        .map(|v| {
            kiln_template::interp::render(v, &data)
                .map_err(|e| Error::msg(format!("run_command: {}", e.message)))
        })
        .collect::<Result<Vec<_>>>()?;
    if named(&rendered).is_none() {
        a.extend(["--name".into(), name.to_string()]);
    }
    a.extend(rendered);
    Ok(a)
}

#[async_trait]
impl Step<State> for StepRun {
    fn name(&self) -> &'static str {
        "StepRun"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let args = run_args(cx, s, &self.key)?;
        if let Some(name) = named(&args[1..]) {
            self.key = name;
        }
        cx.ui.say("Starting docker container...");
        cx.ui
            .message(&format!("Run command: docker {}", args.join(" ")));
        journal(cx, CONTAINER, &self.key, "", Event::Intent);
        self.started = true;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = kiln_comm::docker::docker(&args).await.map_err(|e| {
            Error::msg(format!(
                "Error running container: Docker exited with a non-zero exit status: {e}"
            ))
        })?;
        // `docker run -d` prints the id alone; pulling output may come before it.
        let id = id.lines().last().unwrap_or_default().trim().to_string();
        journal(cx, CONTAINER, &self.key, &id, Event::Created);
        cx.ui.message(&format!("Container ID: {id}"));
        s.container = Some(id);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(id) = s.container.take() else {
            if !self.started {
                return;
            }
            // A run that failed may still have made one (its name finds it).
            if let Err(e) = super::cleaner(self.record(cx, "")).await {
                cx.ui.error(&format!("Error removing the container: {e}"));
            } else {
                journal(cx, CONTAINER, &self.key, "", Event::Deleted);
            }
            return;
        };
        cx.ui.say(&format!("Killing the container: {id}"));
        match kiln_comm::docker::docker(&["rm", "-f", &id]).await {
            Err(e) if !super::gone(&e.to_string()) => {
                cx.ui.error(&format!("Error removing container {id}: {e}"))
            }
            _ => journal(cx, CONTAINER, &self.key, &id, Event::Deleted),
        }
    }
}

impl StepRun {
    /// This step's container as a journal record, for the cleaner.
    fn record(&self, cx: &BuildCx, id: &str) -> kiln_core::journal::Record {
        kiln_core::journal::Record {
            ts: 0,
            run: String::new(),
            build: cx.info.name.clone(),
            kind: CONTAINER.into(),
            key: self.key.clone(),
            id: id.into(),
            place: super::daemon_place().into_iter().collect(),
            event: Event::Intent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::named;

    #[test]
    fn a_name_in_run_command_is_found() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            named(&v(&["-d", "--name", "web", "--", "img"])),
            Some("web".into())
        );
        assert_eq!(named(&v(&["--name=web", "img"])), Some("web".into()));
        assert_eq!(named(&v(&["-d", "--", "img", "--name", "x"])), None);
        assert_eq!(named(&v(&["-d", "-i", "img"])), None);
    }
}
