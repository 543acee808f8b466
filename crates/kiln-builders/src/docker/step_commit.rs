//! `docker commit` of the container (author, changes and message as given): the image is the
//! artifact. It is in the journal until the build succeeds, and removed if the build fails
//! or is interrupted after the commit, so a failed build leaves no image behind.

use super::builder::State;
use super::{journal, IMAGE};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Commits the container.
pub struct StepCommit;

/// The `docker commit` arguments.
pub(super) fn commit_args(s: &State, container: &str) -> Vec<String> {
    let c = &s.config;
    let mut a = vec!["commit".to_string()];
    if !c.author.is_empty() {
        a.extend(["--author".into(), c.author.clone()]);
    }
    for change in &c.changes {
        a.extend(["--change".into(), change.clone()]);
    }
    if !c.message.is_empty() {
        a.extend(["--message".into(), c.message.clone()]);
    }
    a.push(container.into());
    a
}

#[async_trait]
impl Step<State> for StepCommit {
    fn name(&self) -> &'static str {
        "StepCommit"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let container = s.container.clone().unwrap_or_default();
        cx.ui.say("Committing the container");
        let args = commit_args(s, &container);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let image = kiln_comm::docker::docker(&args)
            .await
            .map_err(|e| Error::msg(format!("Error committing container: {e}")))?;
        journal(cx, IMAGE, &container, &image, Event::Created);
        cx.ui.message(&format!("Image ID: {image}"));
        s.image = Some(image);
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        let Some(image) = s.image.clone() else {
            return;
        };
        let container = s.container.clone().unwrap_or_default();
        if s.succeeded {
            journal(cx, IMAGE, &container, &image, Event::Released);
            return;
        }
        cx.ui
            .say(&format!("Removing the image of the failed build: {image}"));
        match kiln_comm::docker::docker(&["rmi", &image]).await {
            Err(e) if !super::gone(&e.to_string()) => {
                cx.ui.error(&format!("Error removing image {image}: {e}"))
            }
            _ => {
                journal(cx, IMAGE, &container, &image, Event::Deleted);
                s.image = None;
            }
        }
    }
}
