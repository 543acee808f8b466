//! A moto server (PyPI `moto[server]`) on a free loopback port as the EC2 API, with the AMI
//! list from fixtures/amazon/amis.json, and a minimal EC2 query client for checking its state.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The regions the tests copy AMIs to (with us-east-1, where they build).
pub const COPY_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The regions it is checked in.
    regions: Vec<&'static str>,
    /// The snapshots of the fixture AMIs, there from the start.
    base_snapshots: Vec<String>,
    _amis: Option<tempfile::NamedTempFile>,
}

impl Moto {
    /// Starts moto for builds in us-east-1 and waits until it answers.
    pub fn start() -> Moto {
        Self::start_in(&["us-east-1"])
    }

    /// Starts moto for builds that also copy AMIs to other regions. (moto 5.2 fails every
    /// region after the first when its AMI list has creation dates, so these get the list
    /// without them.)
    pub fn start_multi_region() -> Moto {
        Self::start_in(&COPY_REGIONS)
    }

    fn start_in(regions: &[&'static str]) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/amazon/amis.json");
        let mut undated = None;
        let amis = if regions.len() > 1 {
            let mut list: Vec<serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
            for ami in &mut list {
                ami.as_object_mut().unwrap().remove("creation_date");
            }
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), serde_json::to_string(&list).unwrap()).unwrap();
            let path = f.path().to_path_buf();
            undated = Some(f);
            path
        } else {
            fixture
        };
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_AMIS_PATH", amis)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server,ec2]')");
        let mut m = Moto {
            child,
            port,
            regions: regions.to_vec(),
            base_snapshots: vec![],
            _amis: undated,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while m.try_query("Action=DescribeRegions").is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        m.base_snapshots = m.regions.iter().flat_map(|r| m.snapshots(r)).collect();
        m
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_query(&self, query: &str) -> std::io::Result<String> {
        self.try_query_in("us-east-1", query)
    }

    fn try_query_in(&self, region: &str, query: &str) -> std::io::Result<String> {
        self.try_service_query(region, "ec2", "2016-11-15", query)
    }

    fn try_service_query(
        &self,
        region: &str,
        service: &str,
        version: &str,
        query: &str,
    ) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        // moto tells services and regions apart by the credential scope of the signature.
        write!(
            s,
            "GET /?{query}&Version={version} HTTP/1.0\r\nHost: 127.0.0.1\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=00\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if !out.starts_with("HTTP/1.") || !out.contains(" 200 ") {
            return Err(std::io::Error::other(out));
        }
        Ok(out)
    }

    /// A call of a JSON-protocol service (`target`: `secretsmanager.CreateSecret`) in
    /// us-east-1 with the JSON `body`; returns the JSON answer.
    pub fn json_call(
        &self,
        service: &str,
        target: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let body = body.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Amz-Target: {target}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.contains(" 200 "), "{target}: {out}");
        let (_, json) = out.split_once("\r\n\r\n").unwrap_or_default();
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{target}: {e}: {out}"))
    }

    /// An EC2 query; returns the XML.
    pub fn query(&self, query: &str) -> String {
        self.try_query(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// An IAM query; returns the XML.
    pub fn iam_query(&self, query: &str) -> String {
        self.try_service_query("us-east-1", "iam", "2010-05-08", query)
            .unwrap_or_else(|e| panic!("IAM {query}: {e}"))
    }

    /// Names of IAM roles and instance profiles that exist.
    pub fn iam_left(&self) -> Vec<String> {
        let mut left: Vec<String> = Self::values(&self.iam_query("Action=ListRoles"), "RoleName")
            .into_iter()
            .map(|r| format!("role {r}"))
            .collect();
        let profiles = self.iam_query("Action=ListInstanceProfiles");
        left.extend(
            profiles
                .split("<InstanceProfileName>")
                .skip(1)
                .filter_map(|r| r.split_once("</InstanceProfileName>").map(|(n, _)| n))
                .map(|p| format!("instance profile {p}")),
        );
        left.sort();
        left.dedup();
        left
    }

    /// An EC2 query in `region`.
    pub fn query_in(&self, region: &str, query: &str) -> String {
        self.try_query_in(region, query)
            .unwrap_or_else(|e| panic!("{region} {query}: {e}"))
    }

    /// Every value of an XML element in a response.
    pub fn values(xml: &str, element: &str) -> Vec<String> {
        let open = format!("<{element}>");
        let close = format!("</{element}>");
        xml.split(&open)
            .skip(1)
            .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
            .collect()
    }

    /// Moves every `kiln:expires` tag (EC2 in each region, IAM roles and instance profiles)
    /// to a time long past, as if the resources had outlived it.
    pub fn expire_kiln_tags(&self) {
        let past = "Tag.1.Key=kiln:expires&Tag.1.Value=2000-01-01T00:00:00Z";
        for region in self.regions.clone() {
            let tags = self.query_in(
                region,
                "Action=DescribeTags&Filter.1.Name=key&Filter.1.Value.1=kiln:expires",
            );
            // moto lists the tags of deleted resources too: those are refused as not found.
            for id in Self::values(&tags, "resourceId") {
                let _ = self.try_query_in(
                    region,
                    &format!("Action=CreateTags&ResourceId.1={id}&{past}"),
                );
            }
        }
        for role in Self::values(&self.iam_query("Action=ListRoles"), "RoleName") {
            self.iam_query(&format!("Action=TagRole&RoleName={role}&Tags.member.1.Key=kiln:expires&Tags.member.1.Value=2000-01-01T00:00:00Z"));
        }
        for profile in Self::values(
            &self.iam_query("Action=ListInstanceProfiles"),
            "InstanceProfileName",
        ) {
            self.iam_query(&format!("Action=TagInstanceProfile&InstanceProfileName={profile}&Tags.member.1.Key=kiln:expires&Tags.member.1.Value=2000-01-01T00:00:00Z"));
        }
    }

    /// Names of key pairs, ids of security groups and states of instances that exist.
    pub fn leftovers(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let keys = Self::values(&self.query("Action=DescribeKeyPairs"), "keyName");
        let groups = Self::values(&self.query("Action=DescribeSecurityGroups"), "groupName")
            .into_iter()
            .filter(|g| g != "default")
            .collect();
        let xml = self.query("Action=DescribeInstances");
        let states = xml
            .split("<instanceState>")
            .skip(1)
            .filter_map(|r| Self::values(r, "name").into_iter().next())
            .filter(|s| s != "terminated")
            .collect();
        (keys, groups, states)
    }

    /// A script for sshd's AuthorizedKeysCommand (scripts/ec2-authorized-keys.py): the public
    /// keys of the key pairs of running instances, read from this moto (the job EC2 metadata
    /// does on real EC2), also written into centos's and root's authorized_keys as cloud-init
    /// writes them.
    pub fn authorized_keys_command(&self) -> String {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts/ec2-authorized-keys.py");
        let code = std::fs::read_to_string(script).unwrap();
        format!(
            "#!/bin/sh\nexec /usr/bin/python3 -S - {} <<'PY'\n{code}PY\n",
            self.url()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// scripts/ec2-proxy.py in front of a moto server: holds state transitions for `lag` seconds
/// like EC2 and fails the Nth call on request.
pub struct Proxy {
    child: Child,
    /// Its port.
    pub port: u16,
    /// Its HTTPS port, when started with a certificate.
    pub tls_port: Option<u16>,
}

impl Proxy {
    /// Starts the proxy in front of `moto`.
    pub fn start(moto: &Moto, lag: f64) -> Proxy {
        Proxy::start_with(moto, &["--lag", &lag.to_string()])
    }

    /// Starts the proxy in front of `moto`, also answering HTTPS with the certificate `cert`
    /// and its key `key` (PEM files) on [`Proxy::tls_port`].
    pub fn start_tls(moto: &Moto, cert: &std::path::Path, key: &std::path::Path) -> Proxy {
        Proxy::start_with(
            moto,
            &["--tls", cert.to_str().unwrap(), key.to_str().unwrap()],
        )
    }

    fn start_with(moto: &Moto, args: &[&str]) -> Proxy {
        use std::io::BufRead;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ec2-proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &moto.url()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 for scripts/ec2-proxy.py");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut port_after = |prefix: &str| {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix(prefix)
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("ec2-proxy.py said {line:?}"))
        };
        let port = port_after("listening on ");
        let tls_port = args.contains(&"--tls").then(|| port_after("tls on "));
        Proxy {
            child,
            port,
            tls_port,
        }
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// Sets the lag and the call to fail (counting from 1; None: none), and clears the log.
    pub fn configure(&self, lag: f64, fail_at: Option<usize>) {
        self.configure_fault(lag, fail_at, "InjectedFault");
    }

    /// [`Proxy::configure`], the failure answering with the EC2 error `code`.
    pub fn configure_fault(&self, lag: f64, fail_at: Option<usize>, code: &str) {
        let fail = fail_at.map_or("null".to_string(), |n| n.to_string());
        self.control(
            "POST",
            "/__proxy/config",
            &format!(r#"{{"lag": {lag}, "fail_at": {fail}, "fail_code": "{code}"}}"#),
        );
    }

    /// Makes every call answer `delay` seconds late (a slow API), nothing failing.
    pub fn configure_slow(&self, delay: f64) {
        self.control(
            "POST",
            "/__proxy/config",
            &format!(r#"{{"lag": 0, "fail_at": null, "delay": {delay}}}"#),
        );
    }

    /// The calls since the last configure with their parameters and signing key id:
    /// (action, parameters, access key id).
    pub fn requests(&self) -> Vec<(String, std::collections::BTreeMap<String, String>, String)> {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&self.control("GET", "/__proxy/requests", "")).unwrap();
        v.into_iter()
            .map(|r| {
                let params = r["params"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    r["action"].as_str().unwrap_or_default().to_string(),
                    params,
                    r["key"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Clears the log and refuses the Vault stand-in's IAM user keys for `seconds` after each
    /// read of them, as EC2 refuses keys IAM has not spread yet.
    pub fn configure_vault_propagation(&self, seconds: f64) {
        let body = serde_json::json!({"lag": 0, "fail_at": null, "vault_propagation": seconds});
        self.control("POST", "/__proxy/config", &body.to_string());
    }

    /// Makes the Vault stand-in refuse lease revocations (403), as Vault does for a token
    /// whose policy does not allow `sys/leases/revoke`.
    pub fn deny_vault_revoke(&self) {
        let body = serde_json::json!({"lag": 0, "fail_at": null, "vault_revoke_denied": true});
        self.control("POST", "/__proxy/config", &body.to_string());
    }

    /// The Vault stand-in's leases that are live: read and not revoked.
    pub fn vault_leases(&self) -> Vec<String> {
        serde_json::from_str(&self.control("GET", "/__proxy/vault-leases", "")).unwrap()
    }

    /// The calls since the last configure that the proxy refused as signed by keys not yet
    /// known (`vault_propagation`).
    pub fn refused(&self) -> Vec<String> {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&self.control("GET", "/__proxy/requests", "")).unwrap();
        v.iter()
            .filter(|r| r["refused"].is_string())
            .map(|r| r["action"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The access key ids that signed the calls since the last configure, a run of calls
    /// signed by the same key listed once; calls the proxy answers itself unsigned (the SSO
    /// portal, Vault) are left out.
    pub fn signers(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .requests()
            .into_iter()
            .map(|r| r.2)
            .filter(|k| !k.is_empty())
            .collect();
        keys.dedup();
        keys
    }

    /// The calls since the last configure with when each arrived and was answered
    /// (seconds): (action, started, ended). A call still in flight ends at infinity.
    pub fn timed(&self) -> Vec<(String, f64, f64)> {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&self.control("GET", "/__proxy/requests", "")).unwrap();
        v.into_iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap_or_default().to_string(),
                    r["started"].as_f64().unwrap_or(f64::INFINITY),
                    r["ended"].as_f64().unwrap_or(f64::INFINITY),
                )
            })
            .collect()
    }

    /// [`Proxy::configure_fault`] with the error's message and how many calls in a row fail.
    pub fn configure_failure(&self, fail_at: usize, count: usize, code: &str, message: &str) {
        let body = serde_json::json!({"lag": 0, "fail_at": fail_at, "fail_count": count,
                                      "fail_code": code, "fail_message": message});
        self.control("POST", "/__proxy/config", &body.to_string());
    }

    /// Makes the first `count` calls of `action` fail (InjectedFault), whatever the order
    /// of the calls made beside them, and clears the log.
    pub fn configure_action_failure(&self, action: &str, count: usize) {
        let body = serde_json::json!({"lag": 0, "fail_at": null, "fail_action": action,
                                      "fail_count": count});
        self.control("POST", "/__proxy/config", &body.to_string());
    }

    /// Makes the first `count` calls of `action` fail with the error `code`, and clears the
    /// log.
    pub fn configure_action_refusal(&self, action: &str, count: usize, code: &str) {
        let body = serde_json::json!({"lag": 0, "fail_at": null, "fail_action": action,
                                      "fail_count": count, "fail_code": code});
        self.control("POST", "/__proxy/config", &body.to_string());
    }

    /// The actions called since the last configure, in order.
    pub fn calls(&self) -> Vec<String> {
        serde_json::from_str(&self.control("GET", "/__proxy/calls", "")).unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Every temporary resource left: key pairs, groups (but the default), instances not
    /// terminated, images and snapshots owned by the account.
    pub fn everything_left(&self) -> Vec<String> {
        let (keys, groups, instances) = self.leftovers();
        let mut left: Vec<String> = keys.into_iter().map(|k| format!("key pair {k}")).collect();
        left.extend(groups.into_iter().map(|g| format!("security group {g}")));
        left.extend(
            instances
                .into_iter()
                .map(|i| format!("instance in state {i}")),
        );
        left.extend(self.iam_left());
        for region in self.regions.clone() {
            let volumes = self.query_in(region, "Action=DescribeVolumes");
            for v in volumes.split("<item>").skip(1) {
                if Self::values(v, "status").first().map(String::as_str) == Some("available") {
                    let id = Self::values(v, "volumeId")
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    left.push(format!("volume {id} in {region}"));
                }
            }
            let images = self.query_in(region, "Action=DescribeImages&Owner.1=self");
            for id in Self::values(&images, "imageId") {
                left.push(format!("image {id} in {region}"));
            }
            for id in self.snapshots(region) {
                if !self.base_snapshots.contains(&id) {
                    left.push(format!("snapshot {id} in {region}"));
                }
            }
        }
        left
    }

    fn snapshots(&self, region: &str) -> Vec<String> {
        Self::values(
            &self.query_in(region, "Action=DescribeSnapshots"),
            "snapshotId",
        )
    }

    /// Deregisters every image of the account and deletes every snapshot (a build's product,
    /// removed so the next check starts from nothing).
    pub fn remove_products(&self) {
        for region in self.regions.clone() {
            let images = self.query_in(region, "Action=DescribeImages&Owner.1=self");
            for id in Self::values(&images, "imageId") {
                self.query_in(region, &format!("Action=DeregisterImage&ImageId={id}"));
            }
            for id in self.snapshots(region) {
                if !self.base_snapshots.contains(&id) {
                    self.query_in(region, &format!("Action=DeleteSnapshot&SnapshotId={id}"));
                }
            }
        }
    }
}

/// A build against moto itself.
pub fn build(m: &Moto, dir: &std::path::Path, builder_json: &str) -> (i32, String) {
    build_at(&m.url(), dir, builder_json, &[])
}

/// A build against the EC2 API at `url` (moto, or the proxy in front of it), with more
/// environment.
pub fn build_at(
    url: &str,
    dir: &std::path::Path,
    builder_json: &str,
    env: &[(&str, &str)],
) -> (i32, String) {
    build_with(url, dir, builder_json, env, &["-machine-readable"])
}

/// [`build_at`] with other flags for `kiln build`.
pub fn build_with(
    url: &str,
    dir: &std::path::Path,
    builder_json: &str,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (i32, String) {
    build_template(url, dir, builder_json, "", env, flags)
}

/// [`build_with`] with `more`: more members of the template (`"post-processors": [...]`),
/// each after a comma.
pub fn build_template(
    url: &str,
    dir: &std::path::Path,
    builder_json: &str,
    more: &str,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (i32, String) {
    let tpl = dir.join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{builder_json}], "provisioners": [{{"type": "shell", "inline": ["true"]}}]{more}}}"#
        ),
    )
    .unwrap();
    let mut envs = aws_env(url);
    envs.extend_from_slice(env);
    let mut args = vec!["build", "-color=false"];
    args.extend_from_slice(flags);
    args.push(tpl.to_str().unwrap());
    let out = super::run_in(dir, &args, &envs);
    (out.status.code().unwrap_or(-1), super::stdout(&out))
}

/// The dummy credentials and region the amazon-ebs tests build with, against the EC2 API at `url`.
pub fn aws_env(url: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "dummy-access"),
        ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", url),
    ]
}

/// The builder the amazon-ebs tests start from (the seed's source AMI and login, the rig's sshd, an
/// AMI named `ami_name`), with `extra`: more JSON members, each after a comma.
pub fn ebs_builder(port: u16, ami_name: &str, extra: &str) -> String {
    format!(
        r#"{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
            "instance_type": "t2.micro", "ssh_username": "centos", "ssh_host": "127.0.0.1",
            "ssh_port": {port}, "ami_name": "{ami_name}"{extra}}}"#
    )
}

/// An sshd target that accepts the key pair of whichever instance is running in `m` (through
/// its AuthorizedKeysCommand), as EC2's metadata and cloud-init make a real instance do.
pub fn ec2_target(m: &Moto) -> super::target::SshTarget {
    use std::os::unix::fs::PermissionsExt;
    let t = super::target::SshTarget::start_with(
        "-o AuthorizedKeysCommand=/usr/local/bin/kiln-ec2-keys -o AuthorizedKeysCommandUser=root",
    );
    let script = t.path("/usr/local/bin/kiln-ec2-keys");
    std::fs::write(&script, m.authorized_keys_command()).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}
