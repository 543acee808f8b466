//! `kiln cleanup` for EC2: deletes what a dead run's journal says it left, found by id, or by
//! the key recorded before creation (key pair or group name, RunInstances client token, AMI
//! name) when the run died before learning the id.

use crate::client::{self, code};
use crate::config::Config;
use aws_sdk_ec2::types::{Filter, InstanceStateName};
use kiln_core::journal::Record;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The options of a builder that only deletes: the standard chain's credentials, region and
/// endpoints.
pub(crate) fn minimal_config() -> Config {
    kiln_template::decode::decode(&kiln_template::Value::from_json(&serde_json::json!({
        "source_ami": "-", "instance_type": "-", "ami_name": "cleanup"
    })))
    .expect("minimal config decodes")
}

fn config_for(r: &Record) -> Config {
    let mut c = minimal_config();
    c.region = r.place.get("region").cloned().unwrap_or_default();
    c.custom_endpoint_ec2 = r.place.get("endpoint").cloned().unwrap_or_default();
    c.profile = r.place.get("profile").cloned().unwrap_or_default();
    c.shared_credentials_file = r.place.get("credentials_file").cloned().unwrap_or_default();
    if let Some(role) = r.place.get("role_arn") {
        c.assume_role = Some(crate::config::AssumeRole {
            role_arn: role.clone(),
            external_id: r.place.get("external_id").cloned().unwrap_or_default(),
            ..Default::default()
        });
    }
    if let Some(name) = r.place.get("vault_name") {
        let get = |k: &str| r.place.get(k).cloned().unwrap_or_default();
        c.vault_aws_engine = Some(crate::vault::VaultAwsEngine {
            name: name.clone(),
            role_arn: get("vault_role_arn"),
            engine_name: get("vault_engine"),
            ..Default::default()
        });
    }
    if r.place.contains_key("mfa") {
        c.mfa_code = std::env::var("KILN_MFA_CODE").unwrap_or_default();
    }
    c
}

fn gone<E: aws_sdk_ec2::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_ec2::error::SdkError<E, R>,
) -> bool {
    code(e).is_some_and(|c| c.contains("NotFound"))
}

/// The AMI name in an image's journal key (`NAME@REGION`, `NAME@REGION@encrypted`; older
/// journals: `NAME`).
fn image_name(r: &Record) -> String {
    let key = r.key.strip_suffix("@encrypted").unwrap_or(&r.key);
    let region = r.place.get("region").map(String::as_str).unwrap_or("");
    match key.rsplit_once('@') {
        Some((name, at)) if at == region => name.to_string(),
        _ => key.to_string(),
    }
}

async fn clean(r: Record) -> Result<(), String> {
    // A run whose profile's role needed MFA: without a code the base credentials would reach
    // another account, where everything looks already gone.
    if r.place.contains_key("mfa") && std::env::var("KILN_MFA_CODE").map_or(true, |v| v.is_empty())
    {
        return Err(
            "its run assumed a role with an MFA code: run kiln cleanup with KILN_MFA_CODE set to a current code"
                .into(),
        );
    }
    if r.kind.starts_with("iam:") {
        let iam = client::iam(&config_for(&r)).await;
        return crate::step_iam_profile::clean(&iam, &r.kind, &r.key).await;
    }
    let ec2 = client::ec2(&config_for(&r)).await;
    let err = |call: &str, e: String| format!("{call}: {e}");
    match r.kind.as_str() {
        "ec2:instance" => {
            let ids: Vec<String> = if !r.id.is_empty() {
                vec![r.id.clone()]
            } else {
                // Matched on the instances' client token (not every EC2 API implements the
                // client-token filter).
                let out =
                    ec2.describe_instances().send().await.map_err(|e| {
                        err("DescribeInstances", client::api_err("", e).to_string())
                    })?;
                out.reservations()
                    .iter()
                    .flat_map(|x| x.instances())
                    .filter(|i| i.client_token() == Some(r.key.as_str()))
                    .filter_map(|i| i.instance_id())
                    .map(str::to_string)
                    .collect()
            };
            for id in ids {
                // Its volumes launched to outlive it go with it (the AMI, if any, is the
                // dead run's leftover too, or was finished: its mapping is its own).
                if let Some(inst) = crate::step_run_instance::look_at(&ec2, &id).await {
                    crate::step_run_instance::release_volumes(&ec2, &inst).await;
                }
                match ec2.terminate_instances().instance_ids(&id).send().await {
                    Ok(_) => {}
                    Err(e) if gone(&e) => continue,
                    Err(e) => {
                        return Err(err(
                            "TerminateInstances",
                            client::api_err("", e).to_string(),
                        ))
                    }
                }
                for _ in 0..300 {
                    let out = ec2.describe_instances().instance_ids(&id).send().await;
                    let state = out.ok().and_then(|o| {
                        o.reservations()
                            .iter()
                            .flat_map(|x| x.instances())
                            .next()
                            .and_then(|i| i.state().and_then(|s| s.name()).cloned())
                    });
                    if matches!(state, None | Some(InstanceStateName::Terminated)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            Ok(())
        }
        "ec2:image" => {
            let images = if !r.id.is_empty() {
                ec2.describe_images().image_ids(&r.id).send().await
            } else {
                ec2.describe_images()
                    .owners("self")
                    .filters(
                        Filter::builder()
                            .name("name")
                            .values(image_name(&r))
                            .build(),
                    )
                    .send()
                    .await
            };
            let images = match images {
                Ok(o) => o.images().to_vec(),
                Err(e) if gone(&e) => vec![],
                Err(e) => return Err(err("DescribeImages", client::api_err("", e).to_string())),
            };
            let mut ids: Vec<String> = images
                .iter()
                .filter_map(|i| i.image_id())
                .map(str::to_string)
                .collect();
            // Already deregistered, its snapshots perhaps not: they are found by its id.
            if ids.is_empty() && !r.id.is_empty() {
                ids.push(r.id.clone());
            }
            for id in ids {
                crate::step_create_ami::deregister(&ec2, &id, &[])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        "ec2:security-group" => {
            let req = ec2.delete_security_group();
            let req = if r.id.is_empty() {
                req.group_name(&r.key)
            } else {
                req.group_id(&r.id)
            };
            for attempt in 0..60 {
                match req.clone().send().await {
                    Ok(_) => return Ok(()),
                    Err(e) if gone(&e) => return Ok(()),
                    Err(e)
                        if code(&e).as_deref() == Some("DependencyViolation") && attempt < 59 =>
                    {
                        tokio::time::sleep(Duration::from_secs(1)).await
                    }
                    Err(e) => {
                        return Err(err(
                            "DeleteSecurityGroup",
                            client::api_err("", e).to_string(),
                        ))
                    }
                }
            }
            Ok(())
        }
        // Found by `kiln cleanup -expired`: a volume an instance left (launched to outlive it).
        "ec2:volume" => match ec2.delete_volume().volume_id(&r.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(err("DeleteVolume", client::api_err("", e).to_string())),
        },
        // Found by `kiln cleanup -expired`: a snapshot whose image is gone.
        "ec2:snapshot" => match ec2.delete_snapshot().snapshot_id(&r.id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(err("DeleteSnapshot", client::api_err("", e).to_string())),
        },
        "ec2:key-pair" => match ec2.delete_key_pair().key_name(&r.key).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(err("DeleteKeyPair", client::api_err("", e).to_string())),
        },
        other => Err(format!("unknown resource kind {other}")),
    }
}

/// The registered cleaner.
pub fn cleaner(r: Record) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
    Box::pin(clean(r))
}
