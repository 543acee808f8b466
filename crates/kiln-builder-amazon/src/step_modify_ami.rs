//! Shares the AMIs (in every region) and their snapshots: `ami_users`, `ami_groups`,
//! `snapshot_users`, `snapshot_groups`, and sets `ami_product_codes`, as Packer's
//! StepModifyAMIAttributes.

use crate::client::api_err;
use crate::config::Config;
use crate::state::State;
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    CreateVolumePermission, CreateVolumePermissionModifications, LaunchPermission,
    LaunchPermissionModifications, PermissionGroup,
};
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::Result;

/// The sharing step.
pub struct StepModifyAmiAttributes {
    /// Options.
    pub config: Config,
}

#[async_trait]
impl Step<State> for StepModifyAmiAttributes {
    fn name(&self) -> &'static str {
        "StepModifyAMIAttributes"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        let share_image = !c.ami_users.is_empty() || !c.ami_groups.is_empty();
        let share_snaps = !c.snapshot_users.is_empty() || !c.snapshot_groups.is_empty();
        let codes = !c.ami_product_codes.is_empty();
        if !share_image && !share_snaps && !codes {
            return Ok(());
        }
        for (region, ami) in &s.amis {
            if codes {
                cx.ui
                    .say(&format!("Modifying attributes on AMI ({})...", ami.id));
                ami.ec2
                    .modify_image_attribute()
                    .image_id(&ami.id)
                    .set_product_codes(Some(c.ami_product_codes.clone()))
                    .send()
                    .await
                    .map_err(|e| api_err(&format!("ModifyImageAttribute ({region})"), e))?;
            }
            if share_image {
                cx.ui
                    .say(&format!("Modifying attributes on AMI ({})...", ami.id));
                let mut add = Vec::new();
                for u in &c.ami_users {
                    add.push(LaunchPermission::builder().user_id(u).build());
                }
                for g in &c.ami_groups {
                    add.push(
                        LaunchPermission::builder()
                            .group(PermissionGroup::from(g.as_str()))
                            .build(),
                    );
                }
                ami.ec2
                    .modify_image_attribute()
                    .image_id(&ami.id)
                    .launch_permission(
                        LaunchPermissionModifications::builder()
                            .set_add(Some(add))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| api_err(&format!("ModifyImageAttribute ({region})"), e))?;
            }
            if share_snaps {
                for snap in &ami.snapshots {
                    cx.ui
                        .say(&format!("Modifying attributes on snapshot ({snap})..."));
                    let mut add = Vec::new();
                    for u in &c.snapshot_users {
                        add.push(CreateVolumePermission::builder().user_id(u).build());
                    }
                    for g in &c.snapshot_groups {
                        add.push(
                            CreateVolumePermission::builder()
                                .group(PermissionGroup::from(g.as_str()))
                                .build(),
                        );
                    }
                    ami.ec2
                        .modify_snapshot_attribute()
                        .snapshot_id(snap)
                        .create_volume_permission(
                            CreateVolumePermissionModifications::builder()
                                .set_add(Some(add))
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| api_err(&format!("ModifySnapshotAttribute ({region})"), e))?;
                }
            }
        }
        Ok(())
    }
}
