#!/usr/bin/python3
"""sshd's AuthorizedKeysCommand for kiln's EC2 test rig: accepts the key pair of any running
instance, read from the EC2 API at argv[1] (moto), the job EC2's metadata service and
cloud-init do on a real instance. Like cloud-init, it also writes the key into centos's and
root's authorized_keys, so a test can check that a build removed it before capture.

Usage (in sshd's config): AuthorizedKeysCommand /usr/local/bin/kiln-ec2-keys, a wrapper that
runs this with the endpoint, e.g. `python3 - http://127.0.0.1:PORT`.
"""
import re
import sys
import urllib.request
import xml.etree.ElementTree as ET

H = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, "
                      "SignedHeaders=host, Signature=00"}


def call(q):
    r = urllib.request.Request(sys.argv[1] + "/?" + q + "&Version=2016-11-15", headers=H)
    return urllib.request.urlopen(r, timeout=5).read().decode()


running = call("Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=running")
names = set(re.findall(r"<keyName>([^<]+)</keyName>", running))
# Each key pair's name and public key, from the XML (an item holds a tagSet of its own).
pairs = ET.fromstring(call("Action=DescribeKeyPairs&IncludePublicKey=true"))
for item in pairs.findall("{*}keySet/{*}item"):
    name = item.findtext("{*}keyName")
    public = (item.findtext("{*}publicKey") or "").strip()
    if name not in names or not public:
        continue
    print(public)
    for f, prefix in (("/home/centos/.ssh/authorized_keys", ""),
                      ("/root/.ssh/authorized_keys",
                       'no-port-forwarding,command="echo Please login as centos" ')):
        try:
            text = open(f).read()
        except OSError:
            continue
        if public.split()[1] not in text:
            with open(f, "a") as out:
                out.write(prefix + public + "\n")
