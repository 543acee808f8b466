#!/usr/bin/env bash
# The user's scenario, end to end on this machine: the legacy JSON template in
# examples/seed/elasticsearch.json (amazon-ebs; shell, ansible-local with role_paths, shell)
# built into an AMI. moto (PyPI) is the EC2 API on loopback; the "instance" is an isolated
# OpenSSH server booted from a local Debian root filesystem (scripts/ec2-target.sh) that
# accepts the key pair of whichever instance is running in moto, as cloud-init would.
#
# What it shows: kiln pointing at the template's missing comma; `kiln validate` and
# `kiln inspect` of the fixed template; a dry run; the build (AMI registered and tagged in
# moto, the playbook's roles applied on the machine); and that no temporary resource is left.
# The template is used as written but for three changes the rig needs: the missing comma, the
# ssh_host/ssh_port of the target, and `apt-get` from the target's local package cache instead
# of `yum install` (the target is Debian and there is no internet here).
#
# Needs root (the target runs in its own mount and PID namespaces). Installs what is missing:
# moto from PyPI, debootstrap from apt (for the root filesystem, built once and cached).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (the sshd target needs namespaces)" >&2; exit 1; }
command -v moto_server >/dev/null || python3 -m pip install -q --disable-pip-version-check "moto[server,ec2]"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln
scripts/test-rootfs.sh >/dev/null

. scripts/rig.sh
step() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
start_moto
read -r ssh_port tpid root < <(scripts/ec2-target.sh "$moto" "$(free_port)" "$work/target")
pids+=("$tpid")

# The seed's variables read the keys from AWS_ACCESS_KEY / AWS_SECRET_KEY: dummy ones for moto.
export AWS_ACCESS_KEY=demo-access AWS_SECRET_KEY=demo-secret AWS_ENDPOINT_URL=$moto
export AWS_EC2_METADATA_DISABLED=true KILN_STATE_DIR=$work/state
# What moto holds: the AMIs with their tags, or the temporary resources left (python3 only).
moto_says() {
  python3 - "$moto" "$1" <<'PY'
import sys, urllib.request, xml.etree.ElementTree as ET
moto, what = sys.argv[1:]
def ec2(query):
    req = urllib.request.Request(moto + "/?Version=2016-11-15&Action=" + query, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=demo/20200101/us-east-1/ec2/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    root = ET.fromstring(urllib.request.urlopen(req).read())
    for e in root.iter():
        e.tag = e.tag.split("}")[-1]
    return root
if what == "images":
    for image in ec2("DescribeImages&Owner.1=self").findall("./imagesSet/item"):
        print("%s: %s" % (image.findtext("name"), image.findtext("imageId")))
        for tag in image.findall("./tagSet/item"):
            print("  tag %s = %s" % (tag.findtext("key"), tag.findtext("value")))
else:
    for pair in ec2("DescribeKeyPairs").findall("./keySet/item"):
        print("key pair", pair.findtext("keyName"))
    for group in ec2("DescribeSecurityGroups").findall("./securityGroupInfo/item"):
        if group.findtext("groupName") != "default":
            print("security group", group.findtext("groupName"))
    for vol in ec2("DescribeVolumes").findall("./volumeSet/item"):
        if vol.findtext("status") == "available":
            print("volume", vol.findtext("volumeId"))
    for inst in ec2("DescribeInstances").findall("./reservationSet/item/instancesSet/item"):
        state = inst.findtext("./instanceState/name")
        if state != "terminated":
            print("instance", inst.findtext("instanceId"), state)
PY
}

step "kiln validate of the template as written: it misses a comma"
"$KILN" validate examples/seed/elasticsearch.json || echo "(exit code $?)"

python3 - "$ssh_port" > "$work/elasticsearch.json" <<'PY'
import json, sys
text = open("examples/seed/elasticsearch.json").read()
t = json.loads(text.replace('"elasticsearch"\n', '"elasticsearch",\n', 1))
t["builders"][0].update(ssh_host="127.0.0.1", ssh_port=int(sys.argv[1]))
t["provisioners"][0]["inline"] = ["sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"]
t["provisioners"][2]["inline"] = ["sudo apt-get purge -y -q ansible-core",
                                  "sudo rm -rf /tmp/packer-provisioner-ansible-local/"]
print(json.dumps(t, indent=2))
PY
tpl=$work/elasticsearch.json
# The playbook and the roles the template names are beside it, as in the seed's project.
cd crates/kiln/tests/fixtures/seed

step "kiln validate and kiln inspect of the fixed template"
"$KILN" validate "$tpl"
"$KILN" inspect "$tpl"

step "kiln build -dry-run: EC2 is asked whether each create would be allowed; nothing is made"
"$KILN" build -dry-run "$tpl"

step "kiln build"
"$KILN" build -color=false "$tpl"

step "The AMI in moto (the EC2 API), with its tags"
moto_says images

step "What the playbook's roles did on the machine"
grep '^elasticsearch:' "$root/etc/passwd"
for f in /etc/elasticsearch/elasticsearch.yml /etc/telegraf/telegraf.conf /etc/sudoers.d/90-ops /etc/fail2ban/jail.local; do
  [ -f "$root$f" ] && echo "$f" || { echo "missing: $f" >&2; exit 1; }
done
step "Temporary resources left in moto (key pairs, security groups, volumes, instances)"
left=$(moto_says left)
echo "${left:-none}"
[ -z "$left" ]
