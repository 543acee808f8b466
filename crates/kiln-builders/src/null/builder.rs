//! The `null` builder's run: connect (unless `communicator` is `none`), provision, report an
//! artifact with nothing in it.

use super::config::parse;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_comm::Communicator;
use kiln_core::artifact::{Artifact, ArtifactRef};
use kiln_core::connect::{ConnInfo, ConnectState, StepConnect};
use kiln_core::plugin::{BuildCx, Builder, GeneratedData, PrepareCx};
use kiln_core::step::{run_steps, ProvisionState, Step, StepProvision};
use kiln_core::Result;
use kiln_template::{Diagnostic, Value};
use std::sync::Arc;

/// Builder id, as Packer reports it.
pub const BUILDER_ID: &str = "fnoeding.null";

/// Makes a `null` builder from its configuration.
pub fn new(config: &Value, _cx: &PrepareCx) -> Result<Box<dyn Builder>, Diagnostic> {
    Ok(Box::new(NullBuilder {
        config: parse(config)?,
    }))
}

struct NullBuilder {
    config: CommConfig,
}

struct State {
    run_uuid: String,
    comm: Option<Arc<dyn Communicator>>,
    conn: Option<ConnInfo>,
}

impl ProvisionState for State {
    fn communicator(&self) -> Option<Arc<dyn Communicator>> {
        self.comm.clone()
    }
    fn generated_data(&self) -> GeneratedData {
        let mut d = self.conn.as_ref().map(ConnInfo::data).unwrap_or_default();
        d.insert("ID".to_string(), "Null".to_string());
        d.insert("PackerRunUUID".to_string(), self.run_uuid.clone());
        d
    }
}

impl ConnectState for State {
    fn set_communicator(&mut self, comm: Arc<dyn Communicator>, info: ConnInfo) {
        self.comm = Some(comm);
        self.conn = Some(info);
    }
}

#[async_trait]
impl Builder for NullBuilder {
    async fn run(&self, cx: &BuildCx) -> Result<Option<ArtifactRef>> {
        let mut state = State {
            run_uuid: cx.info.run_uuid.clone(),
            comm: None,
            conn: None,
        };
        let steps: Vec<Box<dyn Step<State>>> = vec![
            Box::new(StepConnect::new(self.config.clone())),
            Box::new(StepProvision::new()),
        ];
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
