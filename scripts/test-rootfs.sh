#!/usr/bin/env bash
# Builds (once) the Debian root filesystem that the SSH end-to-end tests boot their isolated
# sshd targets from, and prints its path. The tests overlay it read-only; nothing in it is
# changed after this script. Cached under $KILN_CACHE (default /var/tmp/kiln-cache); the
# version below is part of the path, so changing what goes in makes a new one.
set -euo pipefail
VERSION=4
CACHE=${KILN_CACHE:-/var/tmp/kiln-cache}
ROOT=$CACHE/rootfs-v$VERSION
if [ -f "$ROOT/.kiln-ready" ]; then
  echo "$ROOT"
  exit 0
fi
for tool in debootstrap unshare; do
  command -v "$tool" >/dev/null || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap util-linux >&2
  }
done
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
rm -rf "$ROOT.tmp"
mkdir -p "$CACHE"
debootstrap --variant=minbase --include=openssh-server,sudo,python3,procps,tar \
  "$suite" "$ROOT.tmp" "$mirror" >&2
in_root() { chroot "$ROOT.tmp" /bin/sh -c "$1"; }
in_root 'ssh-keygen -A >/dev/null'
for user in kiln centos; do
  in_root "useradd -m -s /bin/bash $user && echo '$user ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/$user && chmod 0440 /etc/sudoers.d/$user"
done
in_root 'echo root:kiln-root-pw | chpasswd && echo kiln:kiln-user-pw | chpasswd'
# No password for centos, but not "locked" either (sshd with UsePAM no refuses `!` accounts).
in_root "usermod -p '*' centos"
# ansible-core and puppet are downloaded but not installed: templates install them from this
# local package cache (apt-get install --no-download), the offline stand-in for the seed's
# `yum install`.
cp /etc/resolv.conf "$ROOT.tmp/etc/resolv.conf"
in_root 'apt-get update -qq && apt-get install -y -qq --download-only ansible-core puppet >/dev/null'
: > "$ROOT.tmp/etc/resolv.conf"
cat > "$ROOT.tmp/etc/ssh/kiln_sshd_config" <<'CONF'
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
CONF
mkdir -p "$ROOT.tmp/run/sshd"
touch "$ROOT.tmp/.kiln-ready"
mv "$ROOT.tmp" "$ROOT"
echo "$ROOT"
