//! The instance profile: the template's (`iam_instance_profile`, looked up first unless
//! `skip_profile_validation`), or a temporary role and instance profile made from
//! `temporary_iam_instance_profile_policy_document`, journaled and deleted at cleanup, as
//! Packer's StepIamInstanceProfile.

use crate::config::{Config, PolicyDocument};
use crate::state::State;
use crate::wait::{self, Poll, Wait};
use async_trait::async_trait;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
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
pub fn iam_err<E: std::error::Error + ProvideErrorMetadata + 'static, R: std::fmt::Debug>(
    call: &str,
    e: SdkError<E, R>,
) -> Error {
    crate::client::service_err("IAM", call, e)
}

/// The id a create call returned; when IAM refused the call, its journal intent is settled
/// (nothing was made) and the error named.
fn settle<T, E, R>(
    s: &State,
    cx: &BuildCx,
    kind: &str,
    name: &str,
    call: &str,
    out: std::result::Result<T, SdkError<E, R>>,
    id: impl Fn(&T) -> Option<String>,
) -> Result<String>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match out {
        Ok(o) => Ok(id(&o).unwrap_or_default()),
        Err(e) => {
            s.refused(cx, kind, name, &e);
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

fn iam_tags(s: &State, cx: &BuildCx) -> Vec<aws_sdk_iam::types::Tag> {
    s.kiln_tags(cx)
        .into_iter()
        .filter_map(|t| {
            aws_sdk_iam::types::Tag::builder()
                .key(t.key().unwrap_or_default())
                .value(t.value().unwrap_or_default())
                .build()
                .ok()
        })
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
                    .get_instance_profile()
                    .instance_profile_name(&c.iam_instance_profile)
                    .send()
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
            .create_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await;
        let id = settle(s, cx, PROFILE, &name, "CreateInstanceProfile", out, |o| {
            o.instance_profile()
                .map(|p| p.instance_profile_id().to_string())
        })?;
        s.journal(cx, PROFILE, &name, &id, Event::Created);
        self.profile = Some(name.clone());
        // kiln's tags, for reapers, where the policy allows tagging (Packer's documented
        // policy does not include iam:Tag*, so creation does not depend on it).
        let _ = s
            .iam
            .tag_instance_profile()
            .instance_profile_name(&name)
            .set_tags(Some(tags.clone()))
            .send()
            .await;
        let iam = s.iam.clone();
        until_exists(
            &format!("instance profile {name}"),
            self.wait,
            cx,
            "GetInstanceProfile",
            || {
                iam.get_instance_profile()
                    .instance_profile_name(&name)
                    .send()
            },
        )
        .await?;

        cx.ui.say(&format!(
            "Creating temporary role for this instance: {name}"
        ));
        s.journal(cx, ROLE, &name, "", Event::Intent);
        let out = s
            .iam
            .create_role()
            .role_name(&name)
            .description("Temporary role for Packer")
            .assume_role_policy_document(TRUST_POLICY)
            .send()
            .await;
        let id = settle(s, cx, ROLE, &name, "CreateRole", out, |o| {
            o.role().map(|r| r.role_id().to_string())
        })?;
        s.journal(cx, ROLE, &name, &id, Event::Created);
        self.role = Some(name.clone());
        let _ = s
            .iam
            .tag_role()
            .role_name(&name)
            .set_tags(Some(tags))
            .send()
            .await;
        until_exists(&format!("role {name}"), self.wait, cx, "GetRole", || {
            iam.get_role().role_name(&name).send()
        })
        .await?;

        cx.ui
            .say(&format!("Attaching policy to the temporary role: {name}"));
        s.iam
            .put_role_policy()
            .role_name(&name)
            .policy_name(&name)
            .policy_document(policy_json(doc))
            .send()
            .await
            .map_err(|e| iam_err("PutRolePolicy", e))?;
        s.iam
            .add_role_to_instance_profile()
            .role_name(&name)
            .instance_profile_name(&name)
            .send()
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

/// Waits for a new IAM entity to be visible (`get` answers NoSuchEntity until it is).
async fn until_exists<T, E, R, F, Fut>(
    what: &str,
    w: Wait,
    cx: &BuildCx,
    call: &str,
    get: F,
) -> Result<()>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
{
    wait::until(&format!("{what} to exist"), w, &cx.cancel, || async {
        match get().await {
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
pub async fn clean(
    iam: &aws_sdk_iam::Client,
    kind: &str,
    name: &str,
) -> std::result::Result<(), String> {
    let gone = |code: Option<&str>| code == Some("NoSuchEntity");
    let fail = |call: &str, e: Error| format!("{call}: {e}");
    match kind {
        ROLE => {
            match iam
                .list_instance_profiles_for_role()
                .role_name(name)
                .send()
                .await
            {
                Ok(out) => {
                    for p in out.instance_profiles() {
                        let _ = iam
                            .remove_role_from_instance_profile()
                            .instance_profile_name(p.instance_profile_name())
                            .role_name(name)
                            .send()
                            .await;
                    }
                }
                Err(e) if gone(e.code()) => return Ok(()),
                Err(e) => return Err(fail("ListInstanceProfilesForRole", iam_err("", e))),
            }
            if let Ok(out) = iam.list_role_policies().role_name(name).send().await {
                for policy in out.policy_names() {
                    let _ = iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send()
                        .await;
                }
            }
            match iam.delete_role().role_name(name).send().await {
                Ok(_) => Ok(()),
                Err(e) if gone(e.code()) => Ok(()),
                Err(e) => Err(fail("DeleteRole", iam_err("", e))),
            }
        }
        _ => {
            match iam
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
            {
                Ok(out) => {
                    for r in out
                        .instance_profile()
                        .map(|p| p.roles())
                        .unwrap_or_default()
                    {
                        let _ = iam
                            .remove_role_from_instance_profile()
                            .instance_profile_name(name)
                            .role_name(r.role_name())
                            .send()
                            .await;
                    }
                }
                Err(e) if gone(e.code()) => return Ok(()),
                Err(e) => return Err(fail("GetInstanceProfile", iam_err("", e))),
            }
            // IAM may take a moment to see the role detached.
            for attempt in 0..10 {
                match iam
                    .delete_instance_profile()
                    .instance_profile_name(name)
                    .send()
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) if gone(e.code()) => return Ok(()),
                    Err(e) if e.code() == Some("DeleteConflict") && attempt < 9 => {
                        tokio::time::sleep(Duration::from_secs(1)).await
                    }
                    Err(e) => return Err(fail("DeleteInstanceProfile", iam_err("", e))),
                }
            }
            Ok(())
        }
    }
}
