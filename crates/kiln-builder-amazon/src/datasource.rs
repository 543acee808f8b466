//! The `amazon-ami` data source (Packer's amazon plugin): the newest AMI, or the only one,
//! that `filters` and `owners` find, with amazon-ebs's access options (`region`,
//! `access_key`, `profile`, `assume_role`, ...). Its attributes: `id`, `name`,
//! `creation_date`, `owner`, `owner_name`, `tags`.

use crate::config::{AmiFilter, Config};
use aws_sdk_ec2::types::Filter;

/// The data source's options besides the access ones.
const OWN: &[&str] = &[
    "filters",
    "filter",
    "owners",
    "most_recent",
    "include_deprecated",
];

/// Reads the data source with `config` (the block's arguments).
pub async fn ami(config: &serde_json::Value) -> Result<serde_json::Value, String> {
    let obj = config.as_object().cloned().unwrap_or_default();
    let (own, access): (serde_json::Map<_, _>, serde_json::Map<_, _>) = obj
        .into_iter()
        .partition(|(k, _)| OWN.contains(&k.as_str()));
    let mut filter: AmiFilter = serde_json::from_value(serde_json::Value::Object(
        own.into_iter()
            .filter(|(k, _)| k != "include_deprecated")
            .collect(),
    ))
    .map_err(|e| e.to_string())?;
    for kv in std::mem::take(&mut filter.filter) {
        filter.filters.insert(kv.key, kv.value);
    }
    if filter.filters.is_empty() && filter.owners.is_empty() {
        return Err("filters or owners must be set".into());
    }
    let c: Config = serde_json::from_value(serde_json::Value::Object(access)).map_err(|e| {
        format!("{e} (amazon-ami takes filters, owners, most_recent and the access options)")
    })?;
    let ec2 = crate::client::ec2(&c).await;
    let mut req = ec2.describe_images();
    for (k, v) in &filter.filters {
        req = req.filters(Filter::builder().name(k).values(v).build());
    }
    for o in &filter.owners {
        req = req.owners(o);
    }
    let out = req
        .send()
        .await
        .map_err(|e| crate::client::api_err("DescribeImages", e).to_string())?;
    let mut images = out.images().to_vec();
    if images.is_empty() {
        return Err(
            "No AMI was found matching filters; try a broader search, or check the owners".into(),
        );
    }
    if images.len() > 1 && !filter.most_recent {
        return Err(format!(
            "Your query returned more than one result ({} AMIs). Please try a more specific search, or set most_recent to true.",
            images.len()
        ));
    }
    // RFC 3339 times of one format sort as text.
    images.sort_by(|a, b| a.creation_date().cmp(&b.creation_date()));
    let image = images.pop().expect("not empty");
    let tags: serde_json::Map<String, serde_json::Value> = image
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().into(),
            )
        })
        .collect();
    Ok(serde_json::json!({
        "id": image.image_id().unwrap_or_default(),
        "name": image.name().unwrap_or_default(),
        "creation_date": image.creation_date().unwrap_or_default(),
        "owner": image.owner_id().unwrap_or_default(),
        "owner_name": image.image_owner_alias().unwrap_or_default(),
        "tags": tags,
    }))
}
