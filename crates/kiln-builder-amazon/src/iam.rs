//! IAM's Query API, for the few calls a build makes of it (temporary instance profiles, and
//! `kiln cleanup`): each call signed with SigV4 and sent on the build's shared credentials,
//! retried as the SDK retries (throttling, server errors, no answer), its XML answer read into
//! a small tree. The IAM SDK crate cost the cold build more than a minute of compile time for
//! these calls.

use aws_credential_types::provider::ProvideCredentials;
use kiln_secrets::aws::SignedClient;
use std::sync::Arc;
use std::time::Duration;

/// IAM's API version.
const VERSION: &str = "2010-05-08";

/// A client of IAM: cheap to clone (the clones share connections and credentials).
#[derive(Clone)]
pub struct Iam(Arc<Inner>);

struct Inner {
    client: SignedClient,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// The credentials last given, kept until a minute before they expire.
    kept: crate::client::RunCredentials,
    attempts: u32,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum IamError {
    /// IAM answered with an error: nothing was done.
    Refused {
        /// Its code (`NoSuchEntity`, `EntityAlreadyExists`, …).
        code: String,
        /// Its message.
        message: String,
    },
    /// No answer IAM gave (no credentials, no connection, no time), in words.
    Failed(String),
}

impl IamError {
    /// IAM's error code, when IAM answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            IamError::Refused { code, .. } => Some(code),
            IamError::Failed(_) => None,
        }
    }
}

impl std::fmt::Display for IamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IamError::Refused { code, message } => write!(f, "{code}: {message}"),
            IamError::Failed(why) => f.write_str(why),
        }
    }
}

impl Iam {
    /// The client of a shared AWS configuration: its credentials and retry count; the endpoint
    /// from the standard chain (AWS_ENDPOINT_URL_IAM, the profile's `iam` services section,
    /// AWS_ENDPOINT_URL, the profile's endpoint_url), else IAM's global endpoint of the
    /// region's partition.
    pub fn new(shared: &aws_config::SdkConfig) -> Iam {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id("IAM")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set");
        let configured = shared
            .service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| shared.endpoint_url().map(str::to_string));
        let region = shared.region().map(|r| r.to_string()).unwrap_or_default();
        let (endpoint, signing_region) = match configured {
            Some(e) => {
                let region = if region.is_empty() {
                    "us-east-1".to_string()
                } else {
                    region
                };
                (e, region)
            }
            None => global_endpoint(&region, shared.use_fips().unwrap_or(false)),
        };
        let attempts = shared
            .retry_config()
            .map(|r| r.max_attempts())
            .unwrap_or(3)
            .max(1);
        Iam(Arc::new(Inner {
            client: SignedClient::new("iam", &signing_region, &endpoint),
            credentials: shared.credentials_provider(),
            kept: crate::client::RunCredentials::new(),
            attempts,
        }))
    }

    /// Calls `action` with `params`: the answer's `<{action}Result>` element (an empty one
    /// when the answer has none).
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Node, IamError> {
        let mut body = format!("Action={action}&Version={VERSION}");
        for (k, v) in params {
            body.push('&');
            body.push_str(&encode(k));
            body.push('=');
            body.push_str(&encode(v));
        }
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let mut attempt = 1;
        loop {
            let credentials = self.credentials().await?;
            let outcome = match self
                .0
                .client
                .post(&credentials, &headers, body.clone())
                .await
            {
                Ok((200, answer)) => {
                    let text = String::from_utf8_lossy(&answer);
                    let root = Node::parse(&text).map_err(|e| {
                        IamError::Failed(format!("IAM's answer is not XML ({e}): {text}"))
                    })?;
                    let result = format!("{action}Result");
                    return Ok(root.child(&result).cloned().unwrap_or_default());
                }
                Ok((status, answer)) => {
                    let text = String::from_utf8_lossy(&answer);
                    let refusal = refusal(status, &text);
                    let again = status >= 500 || refusal.code().is_some_and(throttling);
                    (refusal, again)
                }
                Err(why) => (
                    IamError::Failed(format!("IAM at {}: {why}", self.0.client.endpoint())),
                    true,
                ),
            };
            match outcome {
                (e, true) if attempt < self.0.attempts => {
                    kiln_core::log::log(format_args!(
                        "[INFO] IAM {action}: {e}; trying again (attempt {} of {})",
                        attempt + 1,
                        self.0.attempts
                    ));
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                (e, _) => return Err(e),
            }
        }
    }

    /// The credentials to sign with: those kept while they are good for another minute, else
    /// the provider's.
    async fn credentials(&self) -> Result<aws_credential_types::Credentials, IamError> {
        let provider = self
            .0
            .credentials
            .as_ref()
            .ok_or_else(|| IamError::Failed(crate::client::NO_CREDENTIALS.to_string()))?;
        self.0
            .kept
            .get_or(String::new(), provider.provide_credentials())
            .await
            .map_err(|e| {
                IamError::Failed(crate::client::credentials_words(
                    &kiln_secrets::http::causes(&e),
                ))
            })
    }
}

/// IAM's endpoint and signing region for `region`'s partition.
fn global_endpoint(region: &str, fips: bool) -> (String, String) {
    if region.starts_with("cn-") {
        (
            "https://iam.cn-north-1.amazonaws.com.cn".into(),
            "cn-north-1".into(),
        )
    } else if region.starts_with("us-gov-") {
        (
            "https://iam.us-gov.amazonaws.com".into(),
            "us-gov-west-1".into(),
        )
    } else if fips {
        ("https://iam-fips.amazonaws.com".into(), "us-east-1".into())
    } else {
        ("https://iam.amazonaws.com".into(), "us-east-1".into())
    }
}

/// The error an answer other than 200 carries (`<Error><Code>…<Message>…`), or its status
/// and text when it carries none.
fn refusal(status: u16, text: &str) -> IamError {
    let error = Node::parse(text).ok().and_then(|root| {
        let error = root.find("Error")?;
        Some((
            error.text("Code").to_string(),
            error.text("Message").to_string(),
        ))
    });
    match error {
        Some((code, message)) if !code.is_empty() => IamError::Refused {
            code,
            message: if message.is_empty() {
                "no message".into()
            } else {
                message
            },
        },
        _ => IamError::Failed(format!("IAM answered HTTP {status}: {}", text.trim())),
    }
}

/// The codes the SDK retries as throttling.
fn throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
    )
}

/// The wait before attempt `attempt + 1`: the SDK's standard backoff, a random part of a
/// second doubled each attempt, at most 20 s.
fn backoff(attempt: u32) -> Duration {
    let ceiling = (1u64 << (attempt - 1).min(5)).min(20) as f64;
    Duration::from_secs_f64(fastrand::f64() * ceiling)
}

/// A form value, percent-encoded (RFC 3986: all but the unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An element of an answer: its name, its text and its child elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// Its local name.
    pub name: String,
    /// Its text (its own, not its children's).
    pub text: String,
    /// Its child elements, in order.
    pub children: Vec<Node>,
}

impl Node {
    /// The document's root element.
    pub fn parse(xml: &str) -> Result<Node, String> {
        use xmlparser::{ElementEnd, Token};
        let mut open: Vec<Node> = vec![Node::default()];
        for token in xmlparser::Tokenizer::from(xml) {
            match token.map_err(|e| e.to_string())? {
                Token::ElementStart { local, .. } => open.push(Node {
                    name: local.as_str().to_string(),
                    ..Node::default()
                }),
                Token::ElementEnd { end, .. } => {
                    if matches!(end, ElementEnd::Open) {
                        continue;
                    }
                    let node = open.pop().filter(|_| !open.is_empty());
                    let (Some(node), Some(parent)) = (node, open.last_mut()) else {
                        return Err("a closing tag without an opening one".into());
                    };
                    parent.children.push(node);
                }
                Token::Text { text } | Token::Cdata { text, .. } => {
                    if let Some(n) = open.last_mut() {
                        n.text.push_str(&unescape(text.as_str()));
                    }
                }
                _ => {}
            }
        }
        let document = open.pop().filter(|_| open.is_empty());
        match document.and_then(|d| d.children.into_iter().next()) {
            Some(root) => Ok(root),
            None => Err("no root element, or one left open".into()),
        }
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first element named `name` here or anywhere below.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// The elements at the end of `path` (child names), in order.
    pub fn all(&self, path: &[&str]) -> Vec<&Node> {
        match path {
            [] => vec![self],
            [first, rest @ ..] => self
                .children
                .iter()
                .filter(|c| c.name == *first)
                .flat_map(|c| c.all(rest))
                .collect(),
        }
    }

    /// The trimmed text of the first element at `path` ("/"-separated child names), or "".
    pub fn text(&self, path: &str) -> &str {
        let path: Vec<&str> = path.split('/').collect();
        self.all(&path).first().map_or("", |n| n.text.trim())
    }

    /// The texts of the elements at `path` ("/"-separated), in order.
    pub fn texts(&self, path: &str) -> Vec<String> {
        let path: Vec<&str> = path.split('/').collect();
        self.all(&path)
            .iter()
            .map(|n| n.text.trim().to_string())
            .collect()
    }

    /// The `Tags/member` key/value pairs below this element.
    pub fn tags(&self) -> Vec<(String, String)> {
        self.all(&["Tags", "member"])
            .iter()
            .map(|t| (t.text("Key").to_string(), t.text("Value").to_string()))
            .collect()
    }
}

/// XML text with its five named entities and numeric references replaced.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tags as IAM's Query API takes them.
pub fn tag_params(tags: &[(String, String)]) -> Vec<(String, String)> {
    tags.iter()
        .enumerate()
        .flat_map(|(i, (k, v))| {
            [
                (format!("Tags.member.{}.Key", i + 1), k.clone()),
                (format!("Tags.member.{}.Value", i + 1), v.clone()),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_path_with_entities_replaced() {
        let xml = r#"<?xml version="1.0"?>
            <ListInstanceProfilesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
              <ListInstanceProfilesResult>
                <IsTruncated>true</IsTruncated><Marker>m&amp;2</Marker>
                <InstanceProfiles>
                  <member><InstanceProfileName>packer-1</InstanceProfileName>
                    <Tags><member><Key>kiln:run</Key><Value>r&lt;1&gt;&#x41;&#66;</Value></member></Tags>
                  </member>
                  <member><InstanceProfileName>other</InstanceProfileName><Tags/></member>
                </InstanceProfiles>
              </ListInstanceProfilesResult>
            </ListInstanceProfilesResponse>"#;
        let root = Node::parse(xml).unwrap();
        let result = root.child("ListInstanceProfilesResult").unwrap();
        assert_eq!(result.text("Marker"), "m&2");
        assert_eq!(result.text("IsTruncated"), "true");
        assert_eq!(
            result.texts("InstanceProfiles/member/InstanceProfileName"),
            ["packer-1", "other"]
        );
        let profiles = result.all(&["InstanceProfiles", "member"]);
        assert_eq!(profiles[0].tags(), [("kiln:run".into(), "r<1>AB".into())]);
        assert!(profiles[1].tags().is_empty());
        assert_eq!(result.text("No/Such"), "");
        assert!(Node::parse("<a><b></a>").is_err());
        assert!(Node::parse("").is_err());
    }

    #[test]
    fn refusals_carry_iams_code_and_others_their_status() {
        let e = refusal(
            404,
            "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
             <Message>The role x cannot be found.</Message></Error></ErrorResponse>",
        );
        assert_eq!(e.code(), Some("NoSuchEntity"));
        assert_eq!(e.to_string(), "NoSuchEntity: The role x cannot be found.");
        let e = refusal(502, "Bad Gateway");
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "IAM answered HTTP 502: Bad Gateway");
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(
            encode(r#"{"A": "s3:*"}"#),
            "%7B%22A%22%3A%20%22s3%3A%2A%22%7D"
        );
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn the_endpoint_follows_the_partition_and_backoff_stays_bounded() {
        assert_eq!(
            global_endpoint("eu-west-1", false).0,
            "https://iam.amazonaws.com"
        );
        assert_eq!(global_endpoint("cn-northwest-1", false).1, "cn-north-1");
        assert_eq!(global_endpoint("us-gov-east-1", false).1, "us-gov-west-1");
        assert_eq!(
            global_endpoint("us-east-2", true).0,
            "https://iam-fips.amazonaws.com"
        );
        for attempt in 1..12 {
            assert!(backoff(attempt) <= Duration::from_secs(20));
        }
        assert!(backoff(1) <= Duration::from_secs(1));
    }
}
