//! While EC2 makes the AMI, the stopped instance needs no network access and no key pair any
//! more: kiln moves it to its VPC's default group and deletes the temporary security group
//! and key pair then, during the wait, where Packer deletes them after it; and it sets the
//! instance's volumes to be deleted with it (the AMI has its block device mapping by then). What fails here is
//! left to the steps' cleanups, which try again as they always do.

use crate::client::api_err;
use crate::state::State;
use crate::step_run_instance::release_group;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;

/// What [`release_early`] deleted: the caller clears them from the state, so the steps'
/// cleanups leave them alone.
#[derive(Default)]
pub(crate) struct Released {
    pub group: bool,
    pub key_pair: bool,
    /// The instance's volumes are set to go with it.
    pub volumes: bool,
}

/// Deletes the temporary security group and key pair, and sets the instance's volumes to go
/// with it; says which went.
pub(crate) async fn release_early(cx: &BuildCx, s: &State) -> Released {
    let Some(instance) = s.instance_id.as_deref() else {
        return Released::default();
    };
    // Looked at once, for its VPC and its volumes, while the key pair goes.
    let instance = crate::step_run_instance::look_at(&s.ec2, instance);
    let group = s.temporary_security_group.as_deref();
    let key = s.temporary_key_pair.as_deref();
    // Said in a fixed order, whichever call answers first.
    if group.is_some() {
        cx.ui.say("Deleting temporary security group...");
    }
    if key.is_some() {
        cx.ui.say("Deleting temporary keypair...");
    }
    let group = |instance: Option<aws_sdk_ec2::types::Instance>| async move {
        let group = group?;
        if !release_group(s, &instance?, group).await {
            return None;
        }
        match s.ec2.delete_security_group().group_id(group).send().await {
            Ok(_) => {
                s.journal(
                    cx,
                    "ec2:security-group",
                    &s.temporary_security_group_name,
                    group,
                    Event::Deleted,
                );
                Some(())
            }
            Err(e) => {
                kiln_core::log::log(format_args!(
                    "[WARN] security group {group} not deleted yet (cleanup tries again): {}",
                    api_err("DeleteSecurityGroup", e)
                ));
                None
            }
        }
    };
    let key = async {
        let name = key?;
        match s.ec2.delete_key_pair().key_name(name).send().await {
            Ok(_) => {
                s.journal(cx, "ec2:key-pair", name, "", Event::Deleted);
                Some(())
            }
            Err(e) => {
                kiln_core::log::log(format_args!(
                    "[WARN] key pair {name} not deleted yet (cleanup tries again): {}",
                    api_err("DeleteKeyPair", e)
                ));
                None
            }
        }
    };
    // CreateImage has copied the instance's block device mapping into the AMI: the volumes
    // can now be set to go with the instance without changing the image.
    let looked = async {
        let instance = instance.await;
        let volumes = async {
            match &instance {
                Some(i) => crate::step_run_instance::release_volumes(&s.ec2, i).await,
                None => false,
            }
        };
        tokio::join!(group(instance.clone()), volumes)
    };
    let ((group, volumes), key_pair) = tokio::join!(looked, key);
    Released {
        group: group.is_some(),
        key_pair: key_pair.is_some(),
        volumes,
    }
}
