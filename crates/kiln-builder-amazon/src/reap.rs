//! `kiln cleanup -expired`: finds in EC2 and IAM the temporary resources kiln tagged
//! `kiln:expires` whose time has passed, for the cleaners, without a journal. A run's journal
//! is lost with the machine that ran it (a CI runner that is thrown away, a disk that died);
//! the tags are not. What a build keeps (its AMI and the AMI's snapshots) has its
//! `kiln:expires` tag removed when the build succeeds, and is never found here.

use crate::client::{self, api_err};
use crate::step_iam_profile::{iam_err, PROFILE, ROLE};
use aws_sdk_ec2::types::{Filter, Tag};
use kiln_core::journal::{Event, Record};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;

/// Every page of the describe or list call `req` (each page's `$next` token passed back with
/// `$set`), or its error, in words (`fail`). A loop rather than the SDK's paginator streams,
/// which cost the crate most of a minute of compile time.
macro_rules! every_page {
    ($req:expr, $next:ident, $set:ident, $fail:expr) => {{
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = $req.$set(token.take()).send().await.map_err($fail)?;
            token = page.$next().filter(|t| !t.is_empty()).map(str::to_string);
            pages.push(page);
            if token.is_none() {
                break pages;
            }
        }
    }};
}

/// The tag that says when a temporary resource may be reaped.
const EXPIRES: &str = "kiln:expires";

/// What the tags of one resource say: its run, its build, and whether it has expired.
struct Tagged {
    run: String,
    build: String,
    expired: bool,
}

impl Tagged {
    fn of<'a>(
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Tagged {
        let tags: BTreeMap<&str, &str> = tags.into_iter().collect();
        let get = |k: &str| tags.get(k).copied().unwrap_or_default().to_string();
        Tagged {
            run: get("kiln:run"),
            build: get("kiln:build"),
            // A time kiln did not write is not kiln's to judge.
            expired: tags
                .get(EXPIRES)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t < now),
        }
    }

    fn of_ec2(tags: &[Tag], now: chrono::DateTime<chrono::Utc>) -> Tagged {
        Tagged::of(
            tags.iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            now,
        )
    }

    /// The record a cleaner deletes the resource from, or none while it has not expired.
    fn record(self, kind: &str, key: &str, id: &str, region: &str) -> Option<Record> {
        self.expired.then(|| Record {
            ts: chrono::Utc::now().timestamp(),
            run: self.run,
            build: self.build,
            kind: kind.to_string(),
            key: key.to_string(),
            id: id.to_string(),
            place: [("region".to_string(), region.to_string())]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            event: Event::Created,
        })
    }
}

/// The registered reaper: the expired resources in each of `regions` (none named: the
/// standard chain's region), and in IAM.
pub fn reaper(
    regions: Vec<String>,
) -> Pin<Box<dyn Future<Output = Result<Vec<Record>, String>> + Send>> {
    Box::pin(async move {
        let now = chrono::Utc::now();
        let regions = if regions.is_empty() {
            vec![String::new()]
        } else {
            regions
        };
        let mut found = Vec::new();
        for region in &regions {
            let mut c = crate::cleanup::minimal_config();
            c.region = region.clone();
            found.extend(in_region(&client::ec2(&c).await, now).await?);
        }
        let iam = client::iam(&crate::cleanup::minimal_config()).await;
        found.extend(in_iam(&iam, now).await?);
        Ok(found)
    })
}

/// The expired instances, images, snapshots, volumes, security groups and key pairs of one
/// region.
async fn in_region(
    ec2: &aws_sdk_ec2::Client,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Record>, String> {
    let region = crate::state::region_of(ec2);
    let tagged = || Filter::builder().name("tag-key").values(EXPIRES).build();
    let fail = |call: &str, e: kiln_core::Error| format!("{call} in {region}: {e}");
    let mut found = Vec::new();

    let reservations = every_page!(
        ec2.describe_instances().filters(tagged()),
        next_token,
        set_next_token,
        |e| fail("DescribeInstances", api_err("", e))
    );
    for i in reservations
        .iter()
        .flat_map(|o| o.reservations())
        .flat_map(|r| r.instances())
    {
        let state = i.state().and_then(|s| s.name()).map(|n| n.as_str());
        if matches!(state, Some("terminated" | "shutting-down")) {
            continue;
        }
        let id = i.instance_id().unwrap_or_default();
        found.extend(Tagged::of_ec2(i.tags(), now).record("ec2:instance", id, id, &region));
    }

    // Every image of the account: the snapshots of those that stay are not touched.
    let images = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .map_err(|e| fail("DescribeImages", api_err("", e)))?;
    let mut kept_snapshots = HashSet::new();
    for image in images.images() {
        let id = image.image_id().unwrap_or_default();
        let key = crate::state::image_key(image.name().unwrap_or_default(), &region);
        match Tagged::of_ec2(image.tags(), now).record("ec2:image", &key, id, &region) {
            Some(r) => found.push(r),
            None => kept_snapshots.extend(
                image
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                    .map(str::to_string),
            ),
        }
    }
    let snapshots = every_page!(
        ec2.describe_snapshots().owner_ids("self").filters(tagged()),
        next_token,
        set_next_token,
        |e| fail("DescribeSnapshots", api_err("", e))
    );
    for snap in snapshots.iter().flat_map(|o| o.snapshots()) {
        let id = snap.snapshot_id().unwrap_or_default();
        if !kept_snapshots.contains(id) {
            found.extend(Tagged::of_ec2(snap.tags(), now).record("ec2:snapshot", id, id, &region));
        }
    }

    // Volumes no instance holds: launched to outlive the instance, by a run that died before
    // it set them to go with it.
    let volumes = every_page!(
        ec2.describe_volumes()
            .filters(tagged())
            .filters(Filter::builder().name("status").values("available").build()),
        next_token,
        set_next_token,
        |e| fail("DescribeVolumes", api_err("", e))
    );
    for v in volumes.iter().flat_map(|o| o.volumes()) {
        let id = v.volume_id().unwrap_or_default();
        found.extend(Tagged::of_ec2(v.tags(), now).record("ec2:volume", id, id, &region));
    }

    let groups = every_page!(
        ec2.describe_security_groups().filters(tagged()),
        next_token,
        set_next_token,
        |e| fail("DescribeSecurityGroups", api_err("", e))
    );
    for g in groups.iter().flat_map(|o| o.security_groups()) {
        found.extend(Tagged::of_ec2(g.tags(), now).record(
            "ec2:security-group",
            g.group_name().unwrap_or_default(),
            g.group_id().unwrap_or_default(),
            &region,
        ));
    }

    let pairs = ec2
        .describe_key_pairs()
        .filters(tagged())
        .send()
        .await
        .map_err(|e| fail("DescribeKeyPairs", api_err("", e)))?;
    for k in pairs.key_pairs() {
        found.extend(Tagged::of_ec2(k.tags(), now).record(
            "ec2:key-pair",
            k.key_name().unwrap_or_default(),
            k.key_pair_id().unwrap_or_default(),
            &region,
        ));
    }
    Ok(found)
}

/// Every page of an IAM list call's `path` members (IAM pages with IsTruncated and Marker).
async fn iam_pages(
    iam: &crate::iam::Iam,
    call: &str,
    path: &[&str],
) -> Result<Vec<crate::iam::Node>, String> {
    let mut members = Vec::new();
    let mut marker = String::new();
    loop {
        let mut params = vec![];
        if !marker.is_empty() {
            params.push(("Marker", marker.as_str()));
        }
        let page = iam
            .call(call, &params)
            .await
            .map_err(|e| format!("{call}: {}", iam_err("", e)))?;
        members.extend(page.all(path).into_iter().cloned());
        marker = page.text("Marker").to_string();
        if page.text("IsTruncated") != "true" || marker.is_empty() {
            return Ok(members);
        }
    }
}

/// The expired temporary roles and instance profiles (named `packer-…`, as Packer names them,
/// and tagged by kiln: Packer's own carry no kiln tags).
async fn in_iam(
    iam: &crate::iam::Iam,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Record>, String> {
    let iam_tags = |tags: Vec<(String, String)>| {
        Tagged::of(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)
    };
    let mut found = Vec::new();
    for p in iam_pages(iam, "ListInstanceProfiles", &["InstanceProfiles", "member"]).await? {
        let name = p.text("InstanceProfileName");
        if name.starts_with("packer-") {
            found.extend(iam_tags(p.tags()).record(PROFILE, name, "", ""));
        }
    }
    for r in iam_pages(iam, "ListRoles", &["Roles", "member"]).await? {
        let name = r.text("RoleName");
        if !name.starts_with("packer-") {
            continue;
        }
        // ListRoles leaves the tags out.
        let tags = iam
            .call("ListRoleTags", &[("RoleName", name)])
            .await
            .map_err(|e| format!("ListRoleTags of {name}: {}", iam_err("", e)))?;
        found.extend(iam_tags(tags.tags()).record(ROLE, name, "", ""));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_past_expiry_in_kilns_format_is_expired() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let t = |v: &str| Tagged::of([("kiln:expires", v), ("kiln:run", "r1")], now);
        assert!(t("2026-05-31T23:59:59Z").expired);
        assert!(!t("2026-06-01T00:00:01Z").expired);
        assert!(!t("tomorrow").expired);
        assert!(!Tagged::of([("kiln:run", "r1")], now).expired);
        let r = t("2026-01-01T00:00:00Z")
            .record("ec2:key-pair", "packer_x", "key-1", "us-east-1")
            .unwrap();
        assert_eq!(
            (r.run.as_str(), r.key.as_str(), r.id.as_str()),
            ("r1", "packer_x", "key-1")
        );
        assert_eq!(r.place["region"], "us-east-1");
        assert!(t("2027-01-01T00:00:00Z")
            .record("ec2:key-pair", "k", "", "")
            .is_none());
    }
}
