#!/usr/bin/python3 -S
"""sshd's AuthorizedKeysCommand for kiln's EC2 test rig: accepts the key pair of any running
instance, read from the EC2 API at argv[1] (moto), the job EC2's metadata service and
cloud-init do on a real instance. Like cloud-init, it also writes the key into centos's and
root's authorized_keys, so a test can check that a build removed it before capture; and like
cloud-init, once only (it leaves a mark in /run/kiln-ec2-keys): builds sharing this one
target as their "instances" must not put back a key another build has just removed.

sshd runs it for every key a client offers, twice for an accepted one (the probe, then the
signed request), and a real instance reads a file instead: it imports only `socket` and `re`
(and `os` once, for its mark directory) and runs without `site` (`python3 -S`), which keeps a
login within ~0.1 s of what it costs on EC2.

Usage (in sshd's config): AuthorizedKeysCommand /usr/local/bin/kiln-ec2-keys, a wrapper that
runs this with the endpoint, e.g. `python3 -S - http://127.0.0.1:PORT`.
"""
import re
import socket
import sys

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host, Signature=00")
HOST, PORT = re.match(r"http://([^:/]+):(\d+)", sys.argv[1]).groups()


def call(query):
    """One EC2 query-API GET over HTTP/1.0; the response body."""
    with socket.create_connection((HOST, int(PORT)), timeout=5) as s:
        s.sendall(("GET /?%s&Version=2016-11-15 HTTP/1.0\r\nHost: %s:%s\r\n"
                   "Authorization: %s\r\n\r\n" % (query, HOST, PORT, AUTH)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    if not head.split(" ", 2)[1].startswith("2"):
        sys.exit("ec2-authorized-keys: %s: %s" % (query, head.splitlines()[0]))
    return body


running = call("Action=DescribeInstances&Filter.1.Name=instance-state-name&Filter.1.Value.1=running")
names = set(re.findall(r"<keyName>([^<]+)</keyName>", running))
# Each key pair's fields follow its keyPairId (the items of its tagSet hold keys and values).
pairs = call("Action=DescribeKeyPairs&IncludePublicKey=true")
for item in pairs.split("<keyPairId>")[1:]:
    name = re.search(r"<keyName>([^<]*)</keyName>", item)
    name = name.group(1) if name else ""
    public = re.search(r"<publicKey>([^<]*)</publicKey>", item)
    public = public.group(1).strip() if public else ""
    if name not in names or not public:
        continue
    print(public)
    mark = "/run/kiln-ec2-keys/" + re.sub(r"[^A-Za-z0-9]", "_", public.split()[1][-48:])
    try:
        open(mark, "x").close()
    except FileExistsError:
        continue
    except FileNotFoundError:
        import os
        os.makedirs("/run/kiln-ec2-keys", exist_ok=True)
        open(mark, "a").close()
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
