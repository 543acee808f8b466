//! The SSH key: the template's, or a temporary key pair (ed25519 by default, or rsa with
//! temporary_key_pair_bits) made here, imported into EC2 and deleted at cleanup.

use crate::client::api_err;
use crate::state::State;
use async_trait::async_trait;
use kiln_comm::config::CommConfig;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// Provides the key.
pub struct StepKeyPair {
    /// Communicator options.
    pub comm: CommConfig,
}

impl StepKeyPair {
    /// Whether the build makes a temporary key pair (the template gives no credentials).
    pub fn temporary(&self) -> bool {
        self.comm.ssh_private_key_file.is_empty()
            && self.comm.ssh_password.is_empty()
            && !self.comm.ssh_agent_auth
    }

    /// The step.
    pub fn new(comm: CommConfig) -> StepKeyPair {
        StepKeyPair { comm }
    }
}

#[async_trait]
impl Step<State> for StepKeyPair {
    fn name(&self) -> &'static str {
        "StepKeyPair"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        if !self.temporary() {
            if !self.comm.ssh_keypair_name.is_empty() {
                s.key_name = Some(self.comm.ssh_keypair_name.clone());
            }
            cx.ui.say("Using the SSH credentials from the template");
            return Ok(());
        }
        let name = match self.comm.temporary_key_pair_name.as_str() {
            "" => format!("packer_{}", uuid::Uuid::new_v4()),
            named => named.to_string(),
        };
        // The key is made here and only its public half goes to EC2: the private key never
        // crosses the network (CreateKeyPair would send it back in the response).
        let pair = kiln_comm::keys::generate(
            &self.comm.temporary_key_pair_type,
            self.comm.temporary_key_pair_bits,
            &name,
        )
        .map_err(Error::from)?;
        cx.ui.say(&format!("Creating temporary keypair: {name}"));
        s.journal(cx, "ec2:key-pair", &name, "", Event::Intent);
        let out = s
            .ec2
            .import_key_pair()
            .key_name(&name)
            .public_key_material(aws_sdk_ec2::primitives::Blob::new(
                pair.public_openssh.as_bytes(),
            ))
            .tag_specifications(s.kiln_tag_spec(cx, aws_sdk_ec2::types::ResourceType::KeyPair, &[]))
            .send()
            .await
            .map_err(|e| {
                s.refused(cx, "ec2:key-pair", &name, &e);
                api_err("ImportKeyPair", e)
            })?;
        s.journal(
            cx,
            "ec2:key-pair",
            &name,
            out.key_pair_id().unwrap_or_default(),
            Event::Created,
        );
        // The state owns it from here (it may go while the AMI is made).
        s.temporary_key_pair = Some(name.clone());
        s.key_name = Some(name);
        s.private_key = Some(pair.private_openssh.clone());
        s.public_key = Some(pair.public_openssh.clone());
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        if let Some(name) = s.temporary_key_pair.take() {
            cx.ui.say("Deleting temporary keypair...");
            match s.ec2.delete_key_pair().key_name(&name).send().await {
                Ok(_) => s.journal(cx, "ec2:key-pair", &name, "", Event::Deleted),
                Err(e) => cx.ui.error(&format!(
                    "Error cleaning up keypair {name}: {}",
                    api_err("DeleteKeyPair", e)
                )),
            }
        }
    }
}
