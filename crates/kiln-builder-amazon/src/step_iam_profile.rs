//! The instance profile: the template's (`iam_instance_profile`, looked up first unless
//! `skip_profile_validation`), or a temporary role and instance profile made from
//! `temporary_iam_instance_profile_policy_document`, journaled and deleted at cleanup, as
//! Packer's StepIamInstanceProfile.

use crate::config::{Config, PolicyDocument};
use crate::iam::{tag_params, Iam, IamError, Node};
use crate::state::State;
use crate::wait::{self, Poll, Wait};
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use std::time::Duration;

/// Journal kinds.
pub const ROLE: &str = "iam:role";
/// Journal kinds.
pub const PROFILE: &str = "iam:instance-profile";

/// Who may assume the temporary role: EC2 instances.
const TRUST_POLICY: &str = r#"{"Version": "2012-10-17","Statement": [{"Effect": "Allow","Principal": {"Service": "ec2.amazonaws.com"},"Action": "sts:AssumeRole"}]}"#;

/// Provides the instance profile.
pub struct StepIamInstanceProfile {
    /// Options.
    pub config: Config,
    /// Waiting policy for the new profile to be visible.
    pub wait: Wait,
    role: Option<String>,
    profile: Option<String>,
}

impl StepIamInstanceProfile {
    /// The step.
    pub fn new(config: Config, wait: Wait) -> Self {
        StepIamInstanceProfile {
            config,
            wait,
            role: None,
            profile: None,
        }
    }
}

/// An IAM call's error, named.
pub fn iam_err(call: &str, e: IamError) -> Error {
    Error::msg(format!("IAM {call} failed: {e}"))
}

/// The id a create call returned; when IAM refused the call, its journal intent is settled
/// (nothing was made) and the error named.
fn settle(
    s: &State,
    cx: &BuildCx,
    kind: &str,
    name: &str,
    call: &str,
    out: Result<Node, IamError>,
    id: &str,
) -> Result<String> {
    match out {
        Ok(o) => Ok(o.text(id).to_string()),
        Err(e) => {
            if matches!(e, IamError::Refused { .. }) {
                s.journal(cx, kind, name, "", Event::Deleted);
            }
            Err(iam_err(call, e))
        }
    }
}

/// The policy as IAM takes it: JSON with Packer's field names.
fn policy_json(doc: &PolicyDocument) -> String {
    let mut doc = doc.clone();
    if doc.version.is_empty() {
        doc.version = "2012-10-17".into();
    }
    serde_json::to_string(&doc).expect("policy serializes")
}

/// kiln's tags (run, build, expiry) as TagRole and TagInstanceProfile take them.
fn iam_tags(s: &State, cx: &BuildCx) -> Vec<(String, String)> {
    let tags: Vec<(String, String)> = s
        .kiln_tags(cx)
        .into_iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    tag_params(&tags)
}

/// Parameters with borrowed names, as [`Iam::call`] takes them.
fn params<'a>(
    named: &'a [(&'a str, &'a str)],
    more: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    named
        .iter()
        .copied()
        .chain(more.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect()
}

#[async_trait]
impl Step<State> for StepIamInstanceProfile {
    fn name(&self) -> &'static str {
        "StepIamInstanceProfile"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        // Run again (-on-error=ask, retry): what the last attempt made goes first.
        if self.role.is_some() || self.profile.is_some() {
            self.cleanup(cx, s).await;
        }
        let c = &self.config;
        if !c.iam_instance_profile.is_empty() {
            if !c.skip_profile_validation {
                s.iam
                    .call(
                        "GetInstanceProfile",
                        &[("InstanceProfileName", &c.iam_instance_profile)],
                    )
                    .await
                    .map_err(|e| {
                        Error::msg(format!(
                            "Couldn't find specified instance profile {}: {}",
                            c.iam_instance_profile,
                            iam_err("GetInstanceProfile", e)
                        ))
                    })?;
            }
            s.instance_profile = Some(c.iam_instance_profile.clone());
            return Ok(());
        }
        let Some(doc) = &c.temporary_iam_instance_profile_policy_document else {
            return Ok(());
        };
        let name = format!("packer-{}", uuid::Uuid::new_v4());
        let tags = iam_tags(s, cx);

        cx.ui.say(&format!(
            "Creating temporary instance profile for this instance: {name}"
        ));
        s.journal(cx, PROFILE, &name, "", Event::Intent);
        let out = s
            .iam
            .call("CreateInstanceProfile", &[("InstanceProfileName", &name)])
            .await;
        let id = settle(
            s,
            cx,
            PROFILE,
            &name,
            "CreateInstanceProfile",
            out,
            "InstanceProfile/InstanceProfileId",
        )?;
        s.journal(cx, PROFILE, &name, &id, Event::Created);
        self.profile = Some(name.clone());
        // kiln's tags, for reapers, where the policy allows tagging (Packer's documented
        // policy does not include iam:Tag*, so creation does not depend on it).
        let _ = s
            .iam
            .call(
                "TagInstanceProfile",
                &params(&[("InstanceProfileName", &name)], &tags),
            )
            .await;
        let profile = [("InstanceProfileName", name.as_str())];
        let what = format!("instance profile {name}");
        until_exists(&s.iam, &what, self.wait, cx, "GetInstanceProfile", &profile).await?;

        cx.ui.say(&format!(
            "Creating temporary role for this instance: {name}"
        ));
        s.journal(cx, ROLE, &name, "", Event::Intent);
        let out = s
            .iam
            .call(
                "CreateRole",
                &[
                    ("RoleName", &name),
                    ("Description", "Temporary role for Packer"),
                    ("AssumeRolePolicyDocument", TRUST_POLICY),
                ],
            )
            .await;
        let id = settle(s, cx, ROLE, &name, "CreateRole", out, "Role/RoleId")?;
        s.journal(cx, ROLE, &name, &id, Event::Created);
        self.role = Some(name.clone());
        let _ = s
            .iam
            .call("TagRole", &params(&[("RoleName", &name)], &tags))
            .await;
        let role = [("RoleName", name.as_str())];
        let what = format!("role {name}");
        until_exists(&s.iam, &what, self.wait, cx, "GetRole", &role).await?;

        cx.ui
            .say(&format!("Attaching policy to the temporary role: {name}"));
        s.iam
            .call(
                "PutRolePolicy",
                &[
                    ("RoleName", &name),
                    ("PolicyName", &name),
                    ("PolicyDocument", &policy_json(doc)),
                ],
            )
            .await
            .map_err(|e| iam_err("PutRolePolicy", e))?;
        s.iam
            .call(
                "AddRoleToInstanceProfile",
                &[("RoleName", &name), ("InstanceProfileName", &name)],
            )
            .await
            .map_err(|e| iam_err("AddRoleToInstanceProfile", e))?;
        s.instance_profile = Some(name);
        s.temporary_instance_profile = true;
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        // Packer's order and messages (detach, policy, role, profile), through the same
        // look-then-delete as `kiln cleanup`, so a call that failed in transport but worked
        // is no obstacle; a failure is tried again a few times before it is reported.
        for attempt in 0..3 {
            if self.role.is_none() && self.profile.is_none() {
                return;
            }
            if attempt == 0 {
                if self.role.is_some() {
                    if self.profile.is_some() {
                        cx.ui
                            .say("Detaching temporary role from instance profile...");
                    }
                    cx.ui.say("Removing policy from temporary role...");
                    cx.ui.say("Deleting temporary role...");
                }
                if self.profile.is_some() {
                    cx.ui.say("Deleting temporary instance profile...");
                }
            } else {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let mut errors = Vec::new();
            for (kind, what, slot) in [
                (ROLE, "role", &mut self.role),
                (PROFILE, "instance profile", &mut self.profile),
            ] {
                let Some(name) = slot.clone() else { continue };
                match clean(&s.iam, kind, &name).await {
                    Ok(()) => {
                        s.journal(cx, kind, &name, "", Event::Deleted);
                        *slot = None;
                    }
                    Err(e) => {
                        errors.push(format!("{e}. Please delete the {what} manually: {name}"))
                    }
                }
            }
            if attempt == 2 {
                for e in errors {
                    cx.ui.error(&e);
                }
            }
        }
    }
}

/// Waits for a new IAM entity to be visible (`call` answers NoSuchEntity until it is).
async fn until_exists(
    iam: &Iam,
    what: &str,
    w: Wait,
    cx: &BuildCx,
    call: &str,
    params: &[(&str, &str)],
) -> Result<()> {
    wait::until(&format!("{what} to exist"), w, &cx.cancel, || async {
        match iam.call(call, params).await {
            Ok(_) => Ok(Poll::Ready(())),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(Poll::Pending("not found yet".into())),
            Err(e) if e.code() == Some("Throttling") => Ok(Poll::Throttled),
            Err(e) => Err(iam_err(call, e)),
        }
    })
    .await
}

/// `kiln cleanup` of a temporary role or instance profile: detaches what holds it, then
/// deletes it (already gone is done).
pub async fn clean(iam: &Iam, kind: &str, name: &str) -> std::result::Result<(), String> {
    let gone = |e: &IamError| e.code() == Some("NoSuchEntity");
    let fail = |call: &str, e: IamError| format!("{call}: {}", iam_err("", e));
    match kind {
        ROLE => {
            let role = [("RoleName", name)];
            match iam.call("ListInstanceProfilesForRole", &role).await {
                Ok(out) => {
                    for p in out.texts("InstanceProfiles/member/InstanceProfileName") {
                        let _ = iam
                            .call(
                                "RemoveRoleFromInstanceProfile",
                                &[("InstanceProfileName", &p), ("RoleName", name)],
                            )
                            .await;
                    }
                }
                Err(e) if gone(&e) => return Ok(()),
                Err(e) => return Err(fail("ListInstanceProfilesForRole", e)),
            }
            if let Ok(out) = iam.call("ListRolePolicies", &role).await {
                for policy in out.texts("PolicyNames/member") {
                    let _ = iam
                        .call(
                            "DeleteRolePolicy",
                            &[("RoleName", name), ("PolicyName", &policy)],
                        )
                        .await;
                }
            }
            match iam.call("DeleteRole", &role).await {
                Ok(_) => Ok(()),
                Err(e) if gone(&e) => Ok(()),
                Err(e) => Err(fail("DeleteRole", e)),
            }
        }
        _ => {
            let profile = [("InstanceProfileName", name)];
            match iam.call("GetInstanceProfile", &profile).await {
                Ok(out) => {
                    for r in out.texts("InstanceProfile/Roles/member/RoleName") {
                        let _ = iam
                            .call(
                                "RemoveRoleFromInstanceProfile",
                                &[("InstanceProfileName", name), ("RoleName", &r)],
                            )
                            .await;
                    }
                }
                Err(e) if gone(&e) => return Ok(()),
                Err(e) => return Err(fail("GetInstanceProfile", e)),
            }
            // IAM may take a moment to see the role detached.
            for attempt in 0..10 {
                match iam.call("DeleteInstanceProfile", &profile).await {
                    Ok(_) => return Ok(()),
                    Err(e) if gone(&e) => return Ok(()),
                    Err(e) if e.code() == Some("DeleteConflict") && attempt < 9 => {
                        tokio::time::sleep(Duration::from_secs(1)).await
                    }
                    Err(e) => return Err(fail("DeleteInstanceProfile", e)),
                }
            }
            Ok(())
        }
    }
}
