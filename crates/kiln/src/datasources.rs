//! The data sources HCL2 templates read while they load: `amazon-ami` (EC2, through the
//! amazon builder's client), `amazon-secretsmanager` and `amazon-parameterstore` (through the
//! secret stores' signed client, the standard AWS chain). What the last two read is masked in
//! all output.

use kiln_template::datasources::{DataSources, Read};

/// kiln's data sources.
pub struct Sources;

fn text(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_default()
        .to_string()
}

/// Refuses options a data source does not take.
fn only(config: &serde_json::Value, kind: &str, keys: &[&str]) -> Result<(), String> {
    if let Some(k) = config
        .as_object()
        .and_then(|o| o.keys().find(|k| !keys.contains(&k.as_str())))
    {
        return Err(format!(
            "{kind} takes {}, not {k} (credentials and region come from the standard AWS chain)",
            keys.join(", ")
        ));
    }
    Ok(())
}

impl DataSources for Sources {
    fn kinds(&self) -> Vec<&'static str> {
        vec![
            "amazon-ami",
            "amazon-parameterstore",
            "amazon-secretsmanager",
        ]
    }

    fn read(&self, kind: &str, config: &serde_json::Value) -> Result<Read, String> {
        match kind {
            "amazon-ami" => {
                let v = kiln_secrets::block_on(kiln_builder_amazon::datasource::ami(config))?;
                Ok((v, vec![]))
            }
            "amazon-secretsmanager" => {
                only(
                    config,
                    kind,
                    &["name", "key", "version_stage", "version_id"],
                )?;
                let name = text(config, "name");
                if name.is_empty() {
                    return Err("a name must be provided".into());
                }
                let stage = match text(config, "version_stage") {
                    s if s.is_empty() && text(config, "version_id").is_empty() => {
                        "AWSCURRENT".to_string()
                    }
                    s => s,
                };
                let answer = kiln_secrets::block_on(kiln_secrets::aws::get_secret(
                    &name,
                    &stage,
                    &text(config, "version_id"),
                ))?;
                let string = text(&answer, "SecretString");
                let key = text(config, "key");
                let value = if string.is_empty() {
                    String::new()
                } else {
                    kiln_secrets::aws::value_of(&string, &key)?
                };
                let secrets = vec![value.clone(), string.clone()];
                Ok((
                    serde_json::json!({
                        "value": value,
                        "secret_string": string,
                        "secret_binary": text(&answer, "SecretBinary"),
                        "version_id": text(&answer, "VersionId"),
                    }),
                    secrets,
                ))
            }
            "amazon-parameterstore" => {
                only(config, kind, &["name", "with_decryption"])?;
                let name = text(config, "name");
                if name.is_empty() {
                    return Err("a name must be provided".into());
                }
                let decrypt = config
                    .get("with_decryption")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                let p = kiln_secrets::block_on(kiln_secrets::aws::get_parameter(&name, decrypt))?;
                let value = text(&p, "Value");
                Ok((
                    serde_json::json!({
                        "value": value,
                        "version": p.get("Version").cloned().unwrap_or_default(),
                        "arn": text(&p, "ARN"),
                    }),
                    vec![value],
                ))
            }
            other => Err(format!("unknown data source type \"{other}\"")),
        }
    }
}
