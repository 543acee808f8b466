#!/usr/bin/env bash
# amazon-ebs wall time, kiln / Packer 1.6.6, in one run, on the same template, against moto
# behind scripts/ec2-proxy.py holding every state transition for LAG seconds (default 10) as
# EC2 does: pending -> running, stopping -> stopped, the AMI pending -> available,
# shutting-down -> terminated. Each tool builds once; both must succeed and leave nothing.
# The floor is what the cloud itself takes for the transitions a build must wait for: running,
# stopped, available (3 x LAG; kiln does not wait for the termination, Packer does).
# moto answers its first call in a region slowly (it loads its AMIs): it is warmed up first so
# neither tool pays for it.
# Then where kiln's time beyond the floor went, from the proxy's --trace of its calls.
# Goal (issue 5): ratio <= 0.5. Needs root (the sshd target runs in its own namespaces).
# Installs packer and moto if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
LAG=${LAG:-10}
command -v packer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null; }
command -v moto_server >/dev/null || python3 -m pip install -q --disable-pip-version-check "moto[server,ec2]"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln
. scripts/rig.sh
start_moto
coproc PROXY { exec python3 scripts/ec2-proxy.py --upstream "$moto" --lag "$LAG" --trace "$work/trace.txt"; }
pids+=("$PROXY_PID")
disown "$PROXY_PID" 2>/dev/null || true
read -r _ _ proxy_port <&"${PROXY[0]}"
proxy=http://127.0.0.1:$proxy_port

read -r ssh_port tpid _ < <(scripts/ec2-target.sh "$moto" "$(free_port)" "$work/target")
pids+=("$tpid")

# Packer 1.6.6 reads no AWS_ENDPOINT_URL: the endpoint and dummy credentials are in the template.
cat > "$work/t.json" <<JSON
{"builders": [{"type": "amazon-ebs", "region": "us-east-1", "access_key": "dummy", "secret_key": "dummy",
               "custom_endpoint_ec2": "$proxy", "skip_credential_validation": true,
               "skip_region_validation": true, "skip_metadata_api_check": true,
               "source_ami": "ami-af4333cf", "instance_type": "t2.micro", "ssh_username": "centos",
               "ssh_host": "127.0.0.1", "ssh_port": $ssh_port, "ami_name": "bench-{{timestamp}}"}],
 "provisioners": [{"type": "shell", "inline": ["true"]}]}
JSON

left() { # temporary resources left in moto, one per line
  local h='Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00'
  for q in "Action=DescribeKeyPairs keyName" "Action=DescribeSecurityGroups groupName"; do
    curl -s -H "$h" "$moto/?${q% *}&Version=2016-11-15" | grep -o "<${q#* }>[^<]*" | grep -v '>default$' || true
  done
  curl -s -H "$h" "$moto/?Action=DescribeInstances&Version=2016-11-15" \
    | grep -o '<instanceState><code>[0-9]*</code><name>[a-z-]*' | grep -v terminated || true
}
deregister_all() {
  local h='Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00'
  for id in $(curl -s -H "$h" "$moto/?Action=DescribeImages&Owner.1=self&Version=2016-11-15" | grep -o '<imageId>[^<]*' | cut -d'>' -f2); do
    curl -s -o /dev/null -H "$h" "$moto/?Action=DeregisterImage&ImageId=$id&Version=2016-11-15"
  done
}
run() { # tool -> seconds; fails the benchmark if the build fails or leaves anything
  local tool=$1 s e
  s=$(date +%s.%N)
  if ! (cd "$work" && "$tool" build -color=false t.json >"$work/$(basename "$tool").log" 2>&1); then
    echo "bench: $tool build failed:" >&2; tail -30 "$work/$(basename "$tool").log" >&2; exit 1
  fi
  e=$(date +%s.%N)
  if [ -n "$(left)" ]; then echo "bench: $tool left: $(left | tr '\n' ' ')" >&2; exit 1; fi
  deregister_all
  echo "$e - $s" | bc -l
}
curl -s -o /dev/null -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00' \
  "$moto/?Action=DescribeImages&ImageId.1=ami-af4333cf&Version=2016-11-15"
k=$(KILN_STATE_DIR=$work/state run "$KILN")
mv "$work/trace.txt" "$work/kiln-trace.txt"
p=$(run packer)
floor=$(echo "3 * $LAG" | bc -l)
printf 'amazon-ebs with %ss per state transition: kiln %.1fs  packer %.1fs  ratio %.3f (goal <= 0.5)\n' \
  "$LAG" "$k" "$p" "$(echo "$k / $p" | bc -l)"
printf '  the transitions a build waits for take %.0fs: kiln spends %.1fs more, packer %.1fs more\n' \
  "$floor" "$(echo "$k - $floor" | bc -l)" "$(echo "$p - $floor" | bc -l)"
# Where kiln's extra time went, from the proxy's record of its calls (start, end, action).
python3 - "$work/kiln-trace.txt" "$LAG" <<'PY'
import sys
calls = [(float(a), float(b), c) for a, b, c, _ in (l.split() for l in open(sys.argv[1]))]
lag = float(sys.argv[2])
def first(action):
    return next(c for c in calls if c[2] == action)
run, stop, image = first("RunInstances"), first("StopInstances"), first("CreateImage")
def seen(poll, after, before):
    polls = [c for c in calls if c[2] == poll and after[1] <= c[0] < before]
    return polls[-1][1]
running = seen("DescribeInstances", run, stop[0])
stopped = seen("DescribeInstances", stop, image[0])
ready = seen("DescribeImages", image, float("inf"))
late = [running - run[1] - lag, stopped - stop[1] - lag, ready - image[1] - lag]
print("  kiln's extra time: polls answered %s s after the transitions ended; %.2f s of calls "
      "before the launch; %.2f s from running to StopInstances (SSH login, provisioning, key "
      "removal); %.2f s from stopped to CreateImage answered; %.2f s after the AMI was ready"
      % (" + ".join("%.2f" % x for x in late), run[1] - calls[0][0], stop[0] - running,
         image[1] - stopped, calls[-1][1] - ready))
PY
