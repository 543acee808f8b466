#!/usr/bin/env bash
# The whole test suite, from a fresh machine (as root): installs what the tests need, builds the
# SSH targets' root filesystem and the qemu tests' machine once, runs `cargo test --workspace`,
# and ends with one line of totals. Needs ../shared (with seed/) beside the checkout: the seed
# template is tested as written.
#   apt: debootstrap (root filesystem), util-linux (unshare isolates the targets), tar, bc,
#        openssh-client (ssh-agent for agent auth; ssh for the remote ansible provisioner),
#        openssl (a CA and certificate for the Vault stand-in's TLS),
#        docker.io (the docker builder's tests start their own dockerd, without networking),
#        docker-registry, apache2-utils and curl (a registry on loopback with an htpasswd user,
#        for docker-push and the builder's login),
#        qemu-system-x86, qemu-utils and e2fsprogs (the qemu builder's tests boot a VM made by
#        scripts/test-guest.sh, and read its disk back with qemu-img and debugfs), xorriso
#        (the qemu builder's cd_files), dosfstools and mtools (fsck.fat and mtools read back
#        the floppy images of floppy_files), qemu-block-extra (QEMU's curl driver, for
#        iso_skip_cache)
#   pip: ansible-core (ansible provisioners), moto[server,ec2] (the EC2 API for amazon-ebs)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}

if [ ! -f ../shared/seed/000_f83e5ddeb25fd349.txt ]; then
  echo "test: ../shared (with seed/) must be beside the checkout" >&2
  exit 1
fi
need=()
for pair in debootstrap:debootstrap unshare:util-linux tar:tar bc:bc ssh-agent:openssh-client openssl:openssl dockerd:docker.io docker:docker.io docker-registry:docker-registry htpasswd:apache2-utils curl:curl qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debugfs:e2fsprogs mkfs.ext4:e2fsprogs xorriso:xorriso fsck.fat:dosfstools mdir:mtools mtype:mtools; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
# QEMU's curl block driver (qemu's iso_skip_cache reads an image over HTTP with it).
[ -e /usr/lib/x86_64-linux-gnu/qemu/block-curl.so ] || need+=(qemu-block-extra)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  # (one package may be named twice: apt takes it once)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v ansible-playbook >/dev/null || python3 -m pip install -q --disable-pip-version-check "ansible-core==2.15.*"
command -v moto_server >/dev/null || python3 -m pip install -q --disable-pip-version-check "moto[server,ec2]"
for tool in cargo sh sleep base64 bc debootstrap unshare tar ssh-agent ssh openssl dockerd docker docker-registry htpasswd curl qemu-system-x86_64 qemu-img debugfs xorriso fsck.fat mdir mtype mlabel ansible-playbook moto_server; do
  command -v "$tool" >/dev/null || { echo "test: missing $tool" >&2; exit 1; }
done
KILN_TEST_ROOTFS=$(scripts/test-rootfs.sh)
export KILN_TEST_ROOTFS
KILN_TEST_GUEST=$(scripts/test-guest.sh)
export KILN_TEST_GUEST

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | paste -sd+ | bc)
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | paste -sd+ | bc)
echo
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
