//! A moto server (PyPI `moto[server]`) on a free loopback port as the EC2 API, with the AMI
//! list from fixtures/amazon/amis.json, and a minimal EC2 query client for checking its state.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let amis = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/amazon/amis.json");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_AMIS_PATH", amis)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server,ec2]')");
        let m = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while m.try_query("Action=DescribeRegions").is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_query(&self, query: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET /?{query}&Version=2016-11-15 HTTP/1.0\r\nHost: 127.0.0.1\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if !out.starts_with("HTTP/1.") || !out.contains(" 200 ") {
            return Err(std::io::Error::other(out));
        }
        Ok(out)
    }

    /// An EC2 query; returns the XML.
    pub fn query(&self, query: &str) -> String {
        self.try_query(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
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

    /// A script for sshd's AuthorizedKeysCommand: the public keys of the key pairs of running
    /// instances, read from moto (the job EC2 metadata does on real EC2), also written into
    /// centos's and root's authorized_keys as cloud-init writes them.
    pub fn authorized_keys_command(&self) -> String {
        format!(
            r#"#!/usr/bin/python3
import re, urllib.request
H = {{"Authorization": "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"}}
def call(q):
    r = urllib.request.Request("http://127.0.0.1:{}/?" + q + "&Version=2016-11-15", headers=H)
    return urllib.request.urlopen(r, timeout=5).read().decode()
running = call("Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=running")
names = set(re.findall(r"<keyName>([^<]+)</keyName>", running))
for item in re.findall(r"<item>(.*?)</item>", call("Action=DescribeKeyPairs&IncludePublicKey=true"), re.S):
    n = re.search(r"<keyName>([^<]+)</keyName>", item)
    p = re.search(r"<publicKey>([^<]+)</publicKey>", item)
    if n and p and n.group(1) in names:
        print(p.group(1))
        for f, prefix in (("/home/centos/.ssh/authorized_keys", ""),
                          ("/root/.ssh/authorized_keys", 'no-port-forwarding,command="echo Please login as centos" ')):
            try:
                text = open(f).read()
            except OSError:
                continue
            if p.group(1).split()[1] not in text:
                with open(f, "a") as out:
                    out.write(prefix + p.group(1) + "\n")
"#,
            self.port
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
