#!/usr/bin/env bash
# SSH transfer benchmark, one run, printing ratios measured in this run:
#   1. kiln / Packer 1.6.6 wall time to upload a directory of 5,000 small files with the file
#      provisioner, on plain loopback and through a proxy adding 20 ms round-trip latency
#      (goal with latency: <= 0.1);
#   2. kiln's 1 GiB file upload throughput against `tar c | ssh tar x` and OpenSSH `scp` on
#      loopback (goals: >= 0.8 and >= 1.0).
# Needs root (the sshd target runs in its own namespaces). Installs packer and openssh-client
# from apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v packer >/dev/null || need+=(packer)
command -v ssh >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln
# Everything (sources and the target's writable layer) on a tmpfs, so disk write-back does not
# drown the differences being measured.
work=$(mktemp -d /var/tmp/kiln-bench.XXXXXX)
mount -t tmpfs -o size=8g tmpfs "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5
  umount "$work" 2>/dev/null || umount -l "$work"
  rmdir "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
read -r port key tpid < <(scripts/ssh-target.sh "$port" "$work/target")
pids+=("$tpid")
root=/proc/$(cat "/proc/$tpid/task/$tpid/children" | awk '{print $1}')/root
proxy=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/delay-proxy.py "$proxy" "$port" 10 &
pids+=("$!")
sleep 0.5

mkdir -p "$work/src/many"
python3 - "$work/src/many" <<'PY'
import os, sys
for i in range(5000):
    d = os.path.join(sys.argv[1], f"d{i % 50:02}")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"f{i:04}"), "w").write(f"{i}\n" * (1 + i % 7))
PY

template() { # port dest source
  cat > "$work/src/t.json" <<JSON
{"builders": [{"type": "null", "communicator": "ssh", "ssh_host": "127.0.0.1", "ssh_port": $1,
               "ssh_username": "root", "ssh_private_key_file": "$key"}],
 "provisioners": [{"type": "file", "source": "$3", "destination": "$2"}]}
JSON
}
timed() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
build() { (cd "$work/src" && "$1" build -color=false t.json); }

for label in "loopback:$port" "20ms RTT:$proxy"; do
  name=${label%%:*}; p=${label#*:}
  runs_k=(); runs_p=()
  # A fresh destination each run: re-filling a just-emptied directory is slow on overlayfs.
  for i in 1 2 3; do
    template "$p" "/opt/k-$p-$i" "many/"; runs_k+=("$(timed build "$KILN")")
    template "$p" "/opt/p-$p-$i" "many/"; runs_p+=("$(timed build packer)")
  done
  tk=$(median3 "${runs_k[@]}"); tp=$(median3 "${runs_p[@]}")
  nk=$(find "$root/opt/k-$p-3" -type f | wc -l); np=$(find "$root/opt/p-$p-3" -type f | wc -l)
  printf '5,000 files, %-9s kiln %6.2fs (%d files)  packer %7.2fs (%d files)  ratio %.3f (medians of 3)\n' \
    "$name:" "$tk" "$nk" "$tp" "$np" "$(echo "$tk / $tp" | bc -l)"
done

head -c $((1 << 30)) /dev/urandom > "$work/src/big.bin"
ssh_opts=(-i "$key" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
template "$port" /opt/big.bin "big.bin"
tk=$(timed build "$KILN")
tt=$(timed sh -c "tar -C '$work/src' -cf - big.bin | ssh ${ssh_opts[*]} root@127.0.0.1 'mkdir -p /opt/tar-copy && tar -C /opt/tar-copy -xf -'")
ts=$(timed scp -q -i "$key" -P "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$work/src/big.bin" root@127.0.0.1:/opt/big.scp-copy)
# The same, with the cipher kiln prefers, for a like-for-like comparison.
tg=$(timed scp -q -c aes128-gcm@openssh.com -i "$key" -P "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$work/src/big.bin" root@127.0.0.1:/opt/big.scp-gcm-copy)
want=$(sha256sum "$work/src/big.bin" | cut -d' ' -f1)
got=$(sha256sum "$root/opt/big.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "kiln's copy differs" >&2; exit 1; }
mib() { echo "1024 / $1" | bc -l; }
printf '1 GiB upload: kiln %.0f MiB/s, tar|ssh %.0f MiB/s, scp %.0f MiB/s (scp -c aes128-gcm %.0f MiB/s)\n' \
  "$(mib "$tk")" "$(mib "$tt")" "$(mib "$ts")" "$(mib "$tg")"
printf '  throughput ratios: kiln/(tar|ssh) %.2f (goal >= 0.8), kiln/scp %.2f (goal >= 1.0), kiln/(scp aes-gcm) %.2f\n' \
  "$(echo "$tt / $tk" | bc -l)" "$(echo "$ts / $tk" | bc -l)" "$(echo "$tg / $tk" | bc -l)"
