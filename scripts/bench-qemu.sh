#!/usr/bin/env bash
# A whole qemu build, kiln / Packer 1.6.6 wall time, in one run, on the same template: the
# test machine of scripts/test-guest.sh (TCG) booted from a copy of its disk, one shell
# provisioner over SSH, `sudo poweroff`, the disk compacted. Also the floor: the same QEMU
# command booting the same disk until the guest's sshd answers, plus the copy and the
# compaction, measured by this script without either tool. Each is run RUNS times (default
# 3), the best kept. Needs root (the test machine is built with mkfs as root). Installs
# packer if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
command -v packer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln
g=$(scripts/test-guest.sh)
work=$(mktemp -d /var/tmp/kiln-bench-qemu.XXXXXX)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

# Packer 1.6.6 cannot make a backing-file overlay with today's qemu-img (it leaves out the
# backing format), so both copy the disk.
cat > "$work/t.json" <<JSON
{"builders": [{"type": "qemu", "disk_image": true, "iso_url": "$g/disk.qcow2",
               "iso_checksum": "none", "output_directory": "out", "headless": true,
               "accelerator": "tcg", "memory": 512,
               "qemuargs": [["-kernel", "$g/vmlinuz"], ["-initrd", "$g/initrd.img"],
                            ["-append", "console=ttyS0 root=/dev/vda"]],
               "ssh_username": "kiln", "ssh_password": "kiln-user-pw", "ssh_timeout": "5m",
               "shutdown_command": "sudo poweroff"}],
 "provisioners": [{"type": "shell", "inline": ["echo provisioned > /tmp/p"]}]}
JSON

best() { sort -n | head -n1; }
seconds() { # command... -> wall seconds; the command must succeed
  local s e
  s=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { echo "bench-qemu: $* failed:" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
build() { rm -rf "$work/out"; (cd "$work" && "$1" build -color=false t.json); }
floor() { # the copy, a boot until sshd answers with its banner, a power-off, the compaction
  rm -rf "$work/out" && mkdir -p "$work/out"
  cp "$g/disk.qcow2" "$work/out/d.qcow2"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  qemu-system-x86_64 -machine type=pc,accel=tcg -m 512M -display none \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net,netdev=n0 \
    -drive "file=$work/out/d.qcow2,if=virtio,format=qcow2" -kernel "$g/vmlinuz" \
    -initrd "$g/initrd.img" -append "console=ttyS0 root=/dev/vda" >/dev/null 2>&1 &
  local vm=$!
  until python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),1); s.settimeout(1); sys.exit(0 if s.recv(4)==b'SSH-' else 1)" 2>/dev/null; do
    sleep 0.05
  done
  kill "$vm"; wait "$vm" 2>/dev/null || true
  qemu-img convert -O qcow2 "$work/out/d.qcow2" "$work/out/d2.qcow2"
}
k=$(for _ in $(seq "$RUNS"); do seconds build "$KILN"; done | best)
p=$(for _ in $(seq "$RUNS"); do seconds build packer; done | best)
f=$(for _ in $(seq "$RUNS"); do seconds floor; done | best)
printf 'qemu build (disk image copied, one shell provisioner, shut down, compacted; best of %d):\n' "$RUNS"
printf '  kiln   %6.2f s\n  packer %6.2f s\n  floor  %6.2f s  (copy, boot to the SSH banner, compaction; no tool)\n' "$k" "$p" "$f"
printf 'ratio kiln/packer %.3f; kiln beyond the floor %.2f s, packer %.2f s\n' \
  "$(echo "$k / $p" | bc -l)" "$(echo "$k - $f" | bc -l)" "$(echo "$p - $f" | bc -l)"
