//! Copies the AMI to `ami_regions` (all at once, each waited for in its region) and makes the
//! encrypted boot image of `encrypt_boot` (an encrypted copy in the build region that replaces
//! the first AMI, as Packer does). Each copy is temporary in the journal until the build
//! succeeds; a failed or interrupted build deregisters every copy it made.

use crate::client::{self, api_err};
use crate::config::Config;
use crate::state::{image_key, RegionAmi, State};
use crate::step_create_ami::{deregister, snapshots_of, wait_available};
use crate::wait::Wait;
use async_trait::async_trait;
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// The copy step.
pub struct StepAmiRegionCopy {
    /// Options.
    pub config: Config,
    /// Waiting policy.
    pub wait: Wait,
    /// Set when the whole build succeeded: the copies stay.
    pub keep: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Copies made, by region.
    made: Vec<String>,
}

impl StepAmiRegionCopy {
    /// The step.
    pub fn new(
        config: Config,
        wait: Wait,
        keep: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        StepAmiRegionCopy {
            config,
            wait,
            keep,
            made: vec![],
        }
    }
}

/// Where copies go: every `ami_regions` entry once, and the build region itself only when the
/// boot volume is to be encrypted (its copy is the encrypted one).
pub fn targets(c: &Config, build_region: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &c.ami_regions {
        if r != build_region && !out.contains(r) {
            out.push(r.clone());
        }
    }
    if c.encrypt_boot == Some(true) && !c.skip_save_build_region {
        out.insert(0, build_region.to_string());
    }
    out
}

#[async_trait]
impl Step<State> for StepAmiRegionCopy {
    fn name(&self) -> &'static str {
        "StepAMIRegionCopy"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        let regions = targets(c, &s.region);
        let Some(source) = s.ami_id.clone() else {
            return Ok(());
        };
        if regions.is_empty() {
            return Ok(());
        }
        let encrypt = c.encrypt_boot == Some(true);
        // Start every copy, recording each before and after it is made.
        let mut started = Vec::new();
        for region in &regions {
            let ec2 = client::ec2_in(&s.shared, c, Some(region));
            let kms = c
                .region_kms_key_ids
                .get(region)
                .cloned()
                .filter(|k| !k.is_empty())
                .or_else(|| {
                    (!c.kms_key_id.is_empty() && region == &s.region).then(|| c.kms_key_id.clone())
                });
            cx.ui.say(&format!(
                "Copying/Encrypting AMI ({source}) to other regions..."
            ));
            cx.ui.message(&format!("Copying to: {region}"));
            // The encrypted copy in the build region shares the first AMI's name and region:
            // its journal key is marked so the two are told apart.
            let key = if region == &s.region {
                format!("{}@encrypted", image_key(&c.ami_name, region))
            } else {
                image_key(&c.ami_name, region)
            };
            let place: Vec<(String, String)> = s
                .place
                .iter()
                .map(|(k, v)| {
                    if k == "region" {
                        (k.clone(), region.clone())
                    } else {
                        (k.clone(), v.clone())
                    }
                })
                .collect();
            let place_refs: Vec<(&str, &str)> = place
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            cx.info.journal.record(
                &cx.info.name,
                "ec2:image",
                &key,
                "",
                &place_refs,
                Event::Intent,
            );
            let mut req = ec2
                .copy_image()
                .source_image_id(&source)
                .source_region(&s.region)
                .name(&c.ami_name)
                .client_token(uuid::Uuid::new_v4().to_string());
            if !s.rendered.ami_description.is_empty() {
                req = req.description(&s.rendered.ami_description);
            }
            if encrypt || kms.is_some() {
                req = req.encrypted(true);
            }
            if let Some(k) = &kms {
                req = req.kms_key_id(k);
            }
            let out = match req.send().await {
                Ok(o) => o,
                Err(e) => {
                    if matches!(e, aws_sdk_ec2::error::SdkError::ServiceError(_)) {
                        cx.info.journal.record(
                            &cx.info.name,
                            "ec2:image",
                            &key,
                            "",
                            &place_refs,
                            Event::Deleted,
                        );
                    }
                    return Err(api_err("CopyImage", e));
                }
            };
            let id = out.image_id().unwrap_or_default().to_string();
            cx.info.journal.record(
                &cx.info.name,
                "ec2:image",
                &key,
                &id,
                &place_refs,
                Event::Created,
            );
            self.made.push(region.clone());
            s.amis.insert(
                region.clone(),
                RegionAmi {
                    id: id.clone(),
                    snapshots: vec![],
                    key,
                    ec2: ec2.clone(),
                },
            );
            started.push((region.clone(), id, ec2));
        }
        // Wait for them all at once.
        let w = self.wait;
        let cancel = &cx.cancel;
        let waits = started.iter().map(|(region, id, ec2)| async move {
            let image = wait_available(ec2, id, w, cancel).await?;
            Ok::<_, Error>((region.clone(), snapshots_of(&image)))
        });
        // As in the build region: tags on the copy and its snapshots, snapshot_tags over
        // them on the snapshots.
        let image_tags = s.with_kiln_tags(cx, &[&s.rendered.tags]);
        let snapshot_tags = s.with_kiln_tags(cx, &[&s.rendered.tags, &s.rendered.snapshot_tags]);
        let same = s.rendered.snapshot_tags.is_empty();
        for result in futures_join_all(waits).await {
            let (region, snapshots) = result?;
            let copy = s.amis.get_mut(&region).expect("recorded above");
            copy.snapshots = snapshots;
            let mut resources = vec![copy.id.clone()];
            if same {
                resources.extend(copy.snapshots.iter().cloned());
            }
            copy.ec2
                .create_tags()
                .set_resources(Some(resources))
                .set_tags(Some(image_tags.clone()))
                .send()
                .await
                .map_err(|e| api_err("CreateTags", e))?;
            if !same && !copy.snapshots.is_empty() {
                copy.ec2
                    .create_tags()
                    .set_resources(Some(copy.snapshots.clone()))
                    .set_tags(Some(snapshot_tags.clone()))
                    .send()
                    .await
                    .map_err(|e| api_err("CreateTags", e))?;
            }
        }
        if c.skip_save_build_region {
            // Only the copies are kept: the build region's intermediary AMI goes.
            cx.ui.say(&format!(
                "Deregistering the intermediary AMI {source} (skip_save_build_region)..."
            ));
            deregister(&s.ec2, &source, &s.snapshot_ids).await?;
            let key = s.ami_key.clone();
            s.journal(cx, "ec2:image", &key, &source, Event::Deleted);
            s.amis.remove(&s.region);
            s.ami_id = None;
            s.snapshot_ids.clear();
        }
        if encrypt && !c.skip_save_build_region {
            // The encrypted copy replaces the first, unencrypted AMI, which goes.
            cx.ui.say(&format!(
                "Deregistering the unencrypted AMI {source} and deleting its snapshots..."
            ));
            deregister(&s.ec2, &source, &s.snapshot_ids).await?;
            let key = s.ami_key.clone();
            s.journal(cx, "ec2:image", &key, &source, Event::Deleted);
            // From here this step owns the build region's AMI (its cleanup, its release).
            s.ami_id = None;
            s.snapshot_ids = s
                .amis
                .get(&s.region)
                .map(|a| a.snapshots.clone())
                .unwrap_or_default();
        }
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        if self.keep.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for region in std::mem::take(&mut self.made) {
            let Some(copy) = s.amis.remove(&region) else {
                continue;
            };
            cx.ui.say(&format!(
                "Deregistering the copy {} in {region} because the build failed...",
                copy.id
            ));
            match deregister(&copy.ec2, &copy.id, &copy.snapshots).await {
                Ok(()) => {
                    let place: Vec<(&str, &str)> = vec![("region", region.as_str())];
                    cx.info.journal.record(
                        &cx.info.name,
                        "ec2:image",
                        &copy.key,
                        &copy.id,
                        &place,
                        Event::Deleted,
                    )
                }
                Err(e) => cx.ui.error(&format!(
                    "Error cleaning up AMI {} in {region}: {e}",
                    copy.id
                )),
            }
        }
    }
}

/// Runs the futures concurrently and returns their results in order.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                results[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future finished"))
        .collect()
}
