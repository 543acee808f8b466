#!/usr/bin/env bash
# Starts the amazon-ebs rig's "instance" for benchmarks and demos, as the tests do: an isolated
# sshd target (scripts/ssh-target.sh) whose AuthorizedKeysCommand accepts the key pair of
# whichever instance is running in the EC2 API at MOTO_URL (scripts/ec2-authorized-keys.py),
# the job EC2's metadata service and cloud-init do. Prints "PORT PID ROOT": ROOT is the
# target's file system as seen from here; stop it with `kill -9 PID`.
#   scripts/ec2-target.sh MOTO_URL PORT WORKDIR
set -euo pipefail
MOTO=$1; PORT=$2; T=$3
cd "$(dirname "$0")/.."
export EXTRA_SSHD_ARGS="-o AuthorizedKeysCommand=/usr/local/bin/kiln-ec2-keys -o AuthorizedKeysCommandUser=root"
read -r port _ pid < <(scripts/ssh-target.sh "$PORT" "$T")
root=/proc/$(awk '{print $1}' "/proc/$pid/task/$pid/children")/root
mkdir -p "$root/usr/local/bin"
{ printf '#!/bin/sh\nexec /usr/bin/python3 -S - %s <<'"'"'PY'"'"'\n' "$MOTO"; cat scripts/ec2-authorized-keys.py; printf 'PY\n'; } \
  > "$root/usr/local/bin/kiln-ec2-keys"
chmod 755 "$root/usr/local/bin/kiln-ec2-keys"
echo "$port $pid $root"
