//! Stops the instance and registers the AMI (deregistering a same-named one with
//! `force_deregister`), waits for it, tags it and its snapshots. If the build fails or is
//! interrupted after the AMI exists, cleanup deregisters it and deletes its snapshots, so a
//! failed build leaves no image behind.

use crate::client::{api_err, throttled};
use crate::config::Config;
use crate::state::{image_key, RegionAmi, State};
use crate::step_run_instance::wait_for;
use crate::wait::{self, Poll, Wait};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ImageState, InstanceStateName, Tag};
use kiln_core::journal::Event;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// The last step: marks the build successful, so the AMI step's cleanup keeps the AMI.
pub struct StepMarkSuccess {
    /// Shared with [`StepCreateAmi`].
    pub keep: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait]
impl Step<State> for StepMarkSuccess {
    fn name(&self) -> &'static str {
        "StepMarkSuccess"
    }

    async fn run(&mut self, _cx: &BuildCx, _s: &mut State) -> Result<()> {
        self.keep.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Stops the instance before imaging.
pub struct StepStopInstance {
    /// Waiting policy.
    pub wait: Wait,
    /// `disable_stop_instance`: the instance stops itself (e.g. Windows sysprep); only wait.
    pub disable_stop: bool,
    /// A spot instance of a one-time request, which EC2 cannot stop: imaged running, as
    /// Packer does.
    pub spot: bool,
    /// `ena_support`, set on the stopped instance when given.
    pub ena_support: Option<bool>,
    /// `sriov_support`.
    pub sriov_support: bool,
}

#[async_trait]
impl Step<State> for StepStopInstance {
    fn name(&self) -> &'static str {
        "StepStopEBSBackedInstance"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let id = s.instance_id.clone().expect("instance launched");
        if self.spot {
            return Ok(());
        }
        if self.disable_stop {
            cx.ui
                .say("Automatic instance stop disabled. Please stop instance manually.");
        } else {
            cx.ui.say("Stopping the source instance...");
            s.ec2
                .stop_instances()
                .instance_ids(&id)
                .send()
                .await
                .map_err(|e| api_err("StopInstances", e))?;
        }
        cx.ui.say("Waiting for the instance to stop...");
        wait_for(s, &id, InstanceStateName::Stopped, self.wait, &cx.cancel).await?;
        // Packer's StepModifyEBSBackedInstance: enhanced networking for the image.
        if let Some(ena) = self.ena_support {
            cx.ui.say(&format!(
                "{} enhanced networking (ENA)",
                if ena { "Enabling" } else { "Disabling" }
            ));
            s.ec2
                .modify_instance_attribute()
                .instance_id(&id)
                .ena_support(
                    aws_sdk_ec2::types::AttributeBooleanValue::builder()
                        .value(ena)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_err("ModifyInstanceAttribute", e))?;
        }
        if self.sriov_support {
            cx.ui.say("Enabling Enhanced Networking (SR-IOV)...");
            s.ec2
                .modify_instance_attribute()
                .instance_id(&id)
                .sriov_net_support(
                    aws_sdk_ec2::types::AttributeValue::builder()
                        .value("simple")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_err("ModifyInstanceAttribute", e))?;
        }
        Ok(())
    }
}

/// Creates the AMI.
pub struct StepCreateAmi {
    /// Options.
    pub config: Config,
    /// Waiting policy.
    pub wait: Wait,
    /// Set when the whole build succeeded (the engine's post-processors run after this).
    pub keep: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Waits until the AMI `ami` is available; fails if EC2 says it failed.
pub(crate) async fn wait_available(
    ec2: &aws_sdk_ec2::Client,
    ami: &str,
    w: Wait,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<aws_sdk_ec2::types::Image> {
    wait::until(&format!("AMI {ami} to be available"), w, cancel, || async {
        let out = match ec2.describe_images().image_ids(ami).send().await {
            Ok(o) => o,
            Err(e) if throttled(&e) => return Ok(Poll::Throttled),
            Err(e) => return Err(api_err("DescribeImages", e)),
        };
        image_poll(ami, out.images().first())
    })
    .await
}

/// What one look at the AMI says: available, failed, or still pending.
fn image_poll(
    ami: &str,
    img: Option<&aws_sdk_ec2::types::Image>,
) -> Result<Poll<aws_sdk_ec2::types::Image>> {
    let Some(img) = img else {
        return Ok(Poll::Pending("not visible yet".into()));
    };
    Ok(match img.state() {
        Some(ImageState::Available) => Poll::Ready(img.clone()),
        Some(ImageState::Failed) | Some(ImageState::Error) => {
            return Err(Error::msg(format!(
                "AMI {ami} failed: {}",
                img.state_reason()
                    .and_then(|r| r.message())
                    .unwrap_or("no reason given")
            )))
        }
        other => Poll::Pending(other.map(|s| s.as_str().to_string()).unwrap_or_default()),
    })
}

/// Tags the snapshots in `ids` that are not in `tagged` yet, and adds them there. EC2 lists
/// an image's snapshots while it is still pending: tagged then, a snapshot carries kiln's
/// tags for as long as it exists, and nothing is left to tag once the AMI is ready.
async fn tag_new_snapshots(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    tags: &[Tag],
    tagged: &std::sync::Mutex<Vec<String>>,
) -> Result<()> {
    let new: Vec<String> = {
        let done = tagged.lock().expect("tagged lock");
        ids.iter()
            .filter(|id| !done.contains(id))
            .cloned()
            .collect()
    };
    if new.is_empty() {
        return Ok(());
    }
    ec2.create_tags()
        .set_resources(Some(new.clone()))
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .map_err(|e| api_err("CreateTags", e))?;
    tagged.lock().expect("tagged lock").extend(new);
    Ok(())
}

/// The snapshot ids an image lists.
pub(crate) fn snapshots_of(image: &aws_sdk_ec2::types::Image) -> Vec<String> {
    image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect()
}

/// Every snapshot of an AMI: those it lists (`known`, and its block device mappings while it
/// exists) and those EC2 made for it, found by the AMI id in their description ("Created by
/// CreateImage(i-…) for ami-…"), which also finds them before the AMI lists them, and after it
/// is gone.
pub(crate) async fn image_snapshots(
    ec2: &aws_sdk_ec2::Client,
    ami: &str,
    known: &[String],
) -> Result<Vec<String>> {
    let mut snaps = known.to_vec();
    let mut add = |id: Option<&str>| {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            if !snaps.iter().any(|s| s == id) {
                snaps.push(id.to_string());
            }
        }
    };
    match ec2.describe_images().image_ids(ami).send().await {
        Ok(out) => {
            for m in out.images().iter().flat_map(|i| i.block_device_mappings()) {
                add(m.ebs().and_then(|e| e.snapshot_id()));
            }
        }
        Err(e) if crate::client::code(&e).is_some_and(|c| c.contains("NotFound")) => {}
        Err(e) => return Err(api_err("DescribeImages", e)),
    }
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name("description")
                .values(format!("*{ami}*"))
                .build(),
        )
        .send()
        .await
        .map_err(|e| api_err("DescribeSnapshots", e))?;
    for snap in out.snapshots() {
        add(snap.snapshot_id());
    }
    Ok(snaps)
}

/// The regions where the build's AMI will carry `ami_name`: the build region (unless
/// skip_save_build_region) and every copy's.
fn final_regions(c: &Config, build_region: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !c.skip_save_build_region {
        out.push(build_region.to_string());
    }
    for r in crate::step_ami_regions::targets(c, build_region) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The account's AMIs already named `ami_name` where the build will register it.
pub(crate) async fn named_images(
    s: &State,
    c: &Config,
) -> Result<Vec<(String, aws_sdk_ec2::Client, aws_sdk_ec2::types::Image)>> {
    let mut found = Vec::new();
    for region in final_regions(c, &s.region) {
        let ec2 = if region == s.region {
            s.ec2.clone()
        } else {
            crate::client::ec2_in(&s.shared, c, Some(&region))
        };
        let out = ec2
            .describe_images()
            .owners("self")
            .filters(Filter::builder().name("name").values(&c.ami_name).build())
            .send()
            .await
            .map_err(|e| api_err(&format!("DescribeImages ({region})"), e))?;
        for img in out.images() {
            found.push((region.clone(), ec2.clone(), img.clone()));
        }
    }
    Ok(found)
}

/// The error for an AMI name already in use.
fn name_taken(c: &Config, region: &str, id: &str) -> Error {
    Error::msg(format!(
        "AMI Name: '{}' is used by an existing AMI: {id} in {region} (set force_deregister to replace it)",
        c.ami_name
    ))
}

/// Packer's StepPreValidate: before anything is created, the AMI name must be free wherever
/// the build will register it (or force_deregister set, which replaces it later).
pub struct StepPreValidate {
    /// Options.
    pub config: Config,
}

#[async_trait]
impl Step<State> for StepPreValidate {
    fn name(&self) -> &'static str {
        "StepPreValidate"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        if c.skip_create_ami {
            return Ok(());
        }
        if c.skip_save_build_region && crate::step_ami_regions::targets(c, &s.region).is_empty() {
            return Err(Error::msg(format!(
                "skip_save_build_region needs a region other than the build region ({}) in ami_regions, or the build would keep no AMI",
                s.region
            )));
        }
        if c.force_deregister {
            cx.ui
                .say("Force Deregister flag found, skipping prevalidating AMI Name");
            return Ok(());
        }
        cx.ui
            .say(&format!("Prevalidating AMI Name: {}", c.ami_name));
        if let Some((region, _, img)) = named_images(s, c).await?.into_iter().next() {
            return Err(name_taken(c, &region, img.image_id().unwrap_or_default()));
        }
        Ok(())
    }
}

/// Deregisters an AMI (if it is still there) and deletes all its snapshots.
pub(crate) async fn deregister(
    ec2: &aws_sdk_ec2::Client,
    ami: &str,
    known_snapshots: &[String],
) -> Result<()> {
    let snapshots = image_snapshots(ec2, ami, known_snapshots).await?;
    match ec2.deregister_image().image_id(ami).send().await {
        Ok(_) => {}
        // Deregistered already (EC2 says Unavailable for an AMI it has deregistered).
        Err(e)
            if crate::client::code(&e)
                .is_some_and(|c| c.contains("NotFound") || c == "InvalidAMIID.Unavailable") => {}
        Err(e) => return Err(api_err("DeregisterImage", e)),
    }
    for snap in snapshots {
        match ec2.delete_snapshot().snapshot_id(&snap).send().await {
            Ok(_) => {}
            Err(e) if crate::client::code(&e).is_some_and(|c| c.contains("NotFound")) => {}
            Err(e) => return Err(api_err("DeleteSnapshot", e)),
        }
    }
    Ok(())
}

#[async_trait]
impl Step<State> for StepCreateAmi {
    fn name(&self) -> &'static str {
        "StepCreateAMI"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &self.config;
        // With skip_save_build_region or encrypt_boot the first AMI is only the source of the
        // copies: it gets a name of its own (a copy into the same region needs a free name),
        // and goes once they exist.
        let name = if c.skip_save_build_region || c.encrypt_boot == Some(true) {
            format!("packer-{}", uuid::Uuid::new_v4())
        } else {
            c.ami_name.clone()
        };
        // StepPreValidate found the name free; only force_deregister has to look again (to
        // replace). A name taken since then fails CreateImage (InvalidAMIName.Duplicate).
        let taken = if c.force_deregister {
            named_images(s, c).await?
        } else {
            vec![]
        };
        for (region, ec2, img) in taken {
            let id = img.image_id().unwrap_or_default().to_string();
            let snaps: Vec<String> = if c.force_delete_snapshot {
                img.block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
                    .collect()
            } else {
                vec![]
            };
            cx.ui.say(&format!(
                "Deregistered AMI {id} in {region} (force_deregister)"
            ));
            deregister(&ec2, &id, &snaps).await?;
        }
        let instance = s.instance_id.clone().expect("instance launched");
        cx.ui
            .say(&format!("Creating AMI {name} from instance {instance}"));
        // Temporary until the build succeeds, tagged like every temporary resource, and with
        // the template's tags from the start (Packer adds them once the AMI is available).
        let mut req = s
            .ec2
            .create_image()
            .instance_id(&instance)
            .name(&name)
            .tag_specifications(s.kiln_tag_spec(
                cx,
                aws_sdk_ec2::types::ResourceType::Image,
                &[&s.rendered.tags],
            ));
        if !s.rendered.ami_description.is_empty() {
            req = req.description(&s.rendered.ami_description);
        }
        req = req.set_block_device_mappings(crate::block_devices::mappings(
            &c.ami_block_device_mappings,
        ));
        let key = image_key(&name, &s.region);
        s.ami_key = key.clone();
        s.journal(cx, "ec2:image", &key, "", Event::Intent);
        let out = req.send().await.map_err(|e| {
            s.refused(cx, "ec2:image", &key, &e);
            if crate::client::code(&e).as_deref() == Some("InvalidAMIName.Duplicate") {
                return Error::msg(format!(
                    "AMI Name: '{name}' was taken in {} while the build ran (set force_deregister to replace it)",
                    s.region
                ));
            }
            api_err("CreateImage", e)
        })?;
        let ami = out.image_id().unwrap_or_default().to_string();
        s.journal(cx, "ec2:image", &key, &ami, Event::Created);
        s.ami_id = Some(ami.clone());
        cx.ui.message(&format!("AMI: {ami}"));
        if !s.rendered.tags.is_empty() {
            cx.ui.say(&format!("Adding tags to AMI ({ami})..."));
        }
        // While EC2 makes the image: the snapshots are tagged as soon as the image lists
        // them, and the stopped instance gives up its temporary group and key pair.
        let early = cx.on_error == kiln_core::plugin::OnError::Cleanup;
        cx.ui.say("Waiting for AMI to become ready...");
        let snapshot_tags = s.with_kiln_tags(cx, &[&s.rendered.tags, &s.rendered.snapshot_tags]);
        let tagged = std::sync::Mutex::new(Vec::<String>::new());
        let (image, released) = {
            let s: &State = s;
            let (ec2, ami, tags, tagged) = (&s.ec2, &ami, &snapshot_tags, &tagged);
            // The polls pass on the snapshots they see and a task of its own tags them, so
            // that tagging never delays the next look at the AMI.
            let (seen_tx, mut seen) = tokio::sync::watch::channel(Vec::<String>::new());
            let done = tokio_util::sync::CancellationToken::new();
            let what = format!("AMI {ami} to be available");
            let wait = async {
                let seen_tx = &seen_tx;
                let r = wait::until(&what, self.wait, &cx.cancel, || async move {
                    let out = match ec2.describe_images().image_ids(ami).send().await {
                        Ok(o) => o,
                        Err(e) if throttled(&e) => return Ok(Poll::Throttled),
                        Err(e) => return Err(api_err("DescribeImages", e)),
                    };
                    if let Some(img) = out.images().first() {
                        let ids = snapshots_of(img);
                        seen_tx.send_if_modified(|v| {
                            let new = *v != ids;
                            *v = ids;
                            new
                        });
                    }
                    image_poll(ami, out.images().first())
                })
                .await;
                done.cancel();
                r
            };
            let tag = async {
                loop {
                    tokio::select! {
                        biased;
                        _ = done.cancelled() => break,
                        changed = seen.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let ids = seen.borrow_and_update().clone();
                            // A failure here is tried again once the AMI is ready.
                            if let Err(e) = tag_new_snapshots(ec2, &ids, tags, tagged).await {
                                kiln_core::log::log(format_args!("[WARN] {e}; trying again later"));
                            }
                        }
                    }
                }
            };
            let release = async {
                if early {
                    crate::release::release_early(cx, s).await
                } else {
                    crate::release::Released::default()
                }
            };
            let (image, (), released) = tokio::join!(wait, tag, release);
            (image, released)
        };
        if released.group {
            s.temporary_security_group = None;
        }
        if released.key_pair {
            s.temporary_key_pair = None;
        }
        s.volumes_released |= released.volumes;
        let image = image?;
        // What EC2 listed only once the AMI was ready (or what failed above).
        tag_new_snapshots(&s.ec2, &snapshots_of(&image), &snapshot_tags, &tagged).await?;
        s.snapshot_ids = snapshots_of(&image);
        s.amis.insert(
            s.region.clone(),
            RegionAmi {
                id: ami,
                snapshots: s.snapshot_ids.clone(),
                key,
                ec2: s.ec2.clone(),
            },
        );
        Ok(())
    }

    async fn cleanup(&mut self, cx: &BuildCx, s: &mut State) {
        // A successful build keeps its AMI. The journal still lists it as temporary until the
        // builder has cleaned up everything else and releases it: a run killed during that
        // cleanup has not produced its image, and `kiln cleanup` deregisters it.
        if self.keep.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let Some(ami) = s.ami_id.take() else { return };
        cx.ui.say(&format!(
            "Deregistering the AMI {ami} and deleting its snapshots because the build failed..."
        ));
        s.amis.remove(&s.region);
        let key = s.ami_key.clone();
        match deregister(&s.ec2, &ami, &s.snapshot_ids).await {
            Ok(()) => s.journal(cx, "ec2:image", &key, &ami, Event::Deleted),
            Err(e) => cx.ui.error(&format!("Error cleaning up AMI {ami}: {e}")),
        }
    }
}
