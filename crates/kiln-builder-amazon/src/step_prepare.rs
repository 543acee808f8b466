//! Packer's steps before the launch, run side by side where they do not depend on each
//! other. First what only reads: the AMI name check, the source AMI, the network. Then what
//! creates: the key pair, the security group (in the VPC found) and the instance profile.
//! The launch waits for the slowest of each group instead of the sum of all: EC2 takes a
//! tenth of a second or more per call, IAM longer, and Packer makes them one after another.
//! A failure among the reads still leaves nothing made. (A security group filter or an
//! instance profile that is not found fails with the second group, as in Packer, where
//! those steps come after the key pair: what was made beside it is deleted.)
//!
//! Each step works on a fork of the state; what the forks found and made is taken back
//! into the build's state once all of a group have finished, whether they succeeded or not,
//! so the cleanup finds everything that was made.

use crate::state::State;
use crate::step_create_ami::StepPreValidate;
use crate::step_iam_profile::StepIamInstanceProfile;
use crate::step_key_pair::StepKeyPair;
use crate::step_network_info::StepNetworkInfo;
use crate::step_security_group::StepSecurityGroup;
use crate::step_source_ami::StepSourceAmi;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::Result;

/// The steps before the launch, at once.
pub struct StepPrepare {
    /// The AMI name check.
    pub pre: StepPreValidate,
    /// The source AMI.
    pub source: StepSourceAmi,
    /// The VPC, subnet and zone.
    pub network: StepNetworkInfo,
    /// The SSH key pair.
    pub key: StepKeyPair,
    /// The security groups (after the network).
    pub group: StepSecurityGroup,
    /// The instance profile.
    pub profile: StepIamInstanceProfile,
    /// Whether `run` was entered before (an `-on-error=ask` retry).
    ran: bool,
}

impl StepPrepare {
    /// The steps, to run together.
    pub fn new(
        pre: StepPreValidate,
        source: StepSourceAmi,
        network: StepNetworkInfo,
        key: StepKeyPair,
        group: StepSecurityGroup,
        profile: StepIamInstanceProfile,
    ) -> StepPrepare {
        StepPrepare {
            pre,
            source,
            network,
            key,
            group,
            profile,
            ran: false,
        }
    }
}

#[async_trait]
impl Step<State> for StepPrepare {
    fn name(&self) -> &'static str {
        "StepPrepare"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        // Run again (-on-error=ask, retry): what the last attempt made goes first.
        if self.ran {
            self.cleanup(cx, s).await;
        }
        self.ran = true;
        kiln_core::log::log(format_args!(
            "[INFO] ({}) running steps {}, {} and {} side by side, then {}, {} and {}",
            cx.info.name,
            self.pre.name(),
            self.source.name(),
            self.network.name(),
            self.key.name(),
            self.group.name(),
            self.profile.name()
        ));
        // What only reads first, so that a failure there leaves nothing made.
        let (mut checked, mut networked) = (s.fork(), s.fork());
        let (pre_r, source_r, network_r) = tokio::join!(
            self.pre.run(cx, &mut checked),
            self.source.run(cx, s),
            self.network.run(cx, &mut networked),
        );
        s.absorb(networked);
        pre_r.and(source_r).and(network_r)?;
        let (mut keyed, mut grouped, mut profiled) = (s.fork(), s.fork(), s.fork());
        grouped.vpc_id = s.vpc_id.clone();
        let (key_r, group_r, profile_r) = tokio::join!(
            self.key.run(cx, &mut keyed),
            self.group.run(cx, &mut grouped),
            self.profile.run(cx, &mut profiled),
        );
        for fork in [keyed, grouped, profiled] {
            s.absorb(fork);
        }
        // The first failure in Packer's step order.
        key_r.and(group_r).and(profile_r)
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        // Packer's reverse order.
        self.profile.cleanup(cx, s).await;
        self.group.cleanup(cx, s).await;
        self.key.cleanup(cx, s).await;
        self.network.cleanup(cx, s).await;
        self.source.cleanup(cx, s).await;
        self.pre.cleanup(cx, s).await;
    }
}
