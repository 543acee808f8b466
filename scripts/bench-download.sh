#!/usr/bin/env bash
# ISO download wall time, kiln / Packer 1.6.6 and kiln / curl (the limit: the same server
# and disk, the transfer alone), in one run: a SIZE_MIB (default 1024) file of random bytes
# served by Python's web server on loopback, fetched by a qemu build with its sha256 checked
# (each tool's build then stops at once: QEMU is given a kernel that does not exist), and by
# `curl -o`. Each is run RUNS times (default 3), the best kept. Installs packer if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
command -v packer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null; }
for tool in curl sha256sum python3 qemu-system-x86_64; do
  command -v "$tool" >/dev/null || { echo "bench-download: missing $tool" >&2; exit 1; }
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln

work=$(mktemp -d /var/tmp/kiln-bench-download.XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/www/disk.iso"
sum=$(sha256sum "$work/www/disk.iso" | cut -d' ' -f1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$work/www" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

cat > "$work/t.json" <<JSON
{"builders": [{"type": "qemu", "iso_url": "http://127.0.0.1:$port/disk.iso",
               "iso_checksum": "sha256:$sum", "output_directory": "out",
               "headless": true, "accelerator": "tcg", "communicator": "none",
               "qemuargs": [["-kernel", "/nonexistent"]]}]}
JSON

best() { sort -n | head -n1; }
seconds() { # command... -> wall seconds
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
fetch_tool() { # tool: a build that downloads into a fresh cache, then stops
  rm -rf "$work/cache" "$work/out"
  (cd "$work" && PACKER_CACHE_DIR="$work/cache" "$1" build -color=false t.json)
}
fetch_curl() { # the transfer alone, no checksum: what the server and the disk allow
  rm -rf "$work/cache" && mkdir -p "$work/cache"
  curl -s -o "$work/cache/disk.iso" "http://127.0.0.1:$port/disk.iso"
}
timed_tool() { # tool -> wall seconds of one download; fails unless the whole file landed
  local t
  t=$(seconds fetch_tool "$1")
  [ "$(stat -c %s "$work"/cache/*.iso 2>/dev/null)" = "$((SIZE_MIB * 1024 * 1024))" ] || {
    echo "bench-download: $1 did not download the file" >&2; exit 1; }
  echo "$t"
}
check() { # tool -> fails the benchmark unless the tool downloads the whole file (each figure
  # below is of a run like this one)
  fetch_tool "$1" >/dev/null 2>&1 || true
  [ "$(sha256sum "$work"/cache/*.iso 2>/dev/null | cut -d' ' -f1)" = "$sum" ] || {
    echo "bench-download: $1 did not download the file" >&2; exit 1; }
}
check "$KILN"
check packer
k=$(for _ in $(seq "$RUNS"); do timed_tool "$KILN"; done | best)
p=$(for _ in $(seq "$RUNS"); do timed_tool packer; done | best)
c=$(for _ in $(seq "$RUNS"); do seconds fetch_curl; done | best)
printf 'download of %d MiB over loopback, sha256 checked (best of %d):\n' "$SIZE_MIB" "$RUNS"
printf '  kiln   %6.2f s  %6.0f MiB/s\n' "$k" "$(echo "$SIZE_MIB / $k" | bc -l)"
printf '  packer %6.2f s  %6.0f MiB/s\n' "$p" "$(echo "$SIZE_MIB / $p" | bc -l)"
printf '  curl   %6.2f s  %6.0f MiB/s  (curl -o alone: the transfer, no checksum)\n' "$c" "$(echo "$SIZE_MIB / $c" | bc -l)"
printf 'ratio kiln/packer %.3f, kiln/curl %.3f\n' "$(echo "$k / $p" | bc -l)" "$(echo "$k / $c" | bc -l)"
