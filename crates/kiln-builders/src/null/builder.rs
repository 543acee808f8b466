//! The `null` builder's run: provision, then report an artifact with nothing in it.

use super::config::Config;
use async_trait::async_trait;
use kiln_comm::Communicator;
use kiln_core::artifact::{Artifact, ArtifactRef};
use kiln_core::plugin::{BuildCx, Builder, GeneratedData, PrepareCx};
use kiln_core::step::{run_steps, ProvisionState, Step, StepProvision};
use kiln_core::Result;
use kiln_template::{decode::decode, Diagnostic, Value};
use std::sync::Arc;

/// Builder id, as Packer reports it.
pub const BUILDER_ID: &str = "fnoeding.null";

/// Makes a `null` builder from its configuration.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    let c: Config = decode(config)?;
    c.validate()?;
    Ok(Box::new(NullBuilder { config: c }))
}

struct NullBuilder {
    config: Config,
}

struct State {
    run_uuid: String,
    communicator: String,
}

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        None
    }
    fn generated_data(&self) -> GeneratedData {
        [
            ("ID".to_string(), "Null".to_string()),
            ("PackerRunUUID".to_string(), self.run_uuid.clone()),
            ("ConnType".to_string(), self.communicator.clone()),
        ]
        .into_iter()
        .collect()
    }
}

#[async_trait]
impl Builder for NullBuilder {
    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let mut state = State {
            run_uuid: cx.info.run_uuid.clone(),
            communicator: self.config.communicator.clone(),
        };
        let steps: Vec<Box<dyn Step<State>>> = vec![Box::new(StepProvision)];
        run_steps(cx, &mut state, steps).await?;
        Ok(Some(Arc::new(NullArtifact)))
    }
}

/// The `null` builder's artifact: nothing.
struct NullArtifact;

#[async_trait]
impl Artifact for NullArtifact {
    fn builder_id(&self) -> String {
        BUILDER_ID.into()
    }
    fn files(&self) -> Vec<String> {
        vec![]
    }
    fn id(&self) -> String {
        "Null".into()
    }
    fn description(&self) -> String {
        "Did not export anything. This is the null builder".into()
    }
    async fn destroy(&self) -> Result<()> {
        Ok(())
    }
}
