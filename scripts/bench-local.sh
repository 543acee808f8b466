#!/usr/bin/env bash
# Wall-time ratios kiln / Packer 1.6.6, measured in one run on this machine:
#   1. validating a corpus of templates (the test fixtures and examples), 20 rounds;
#   2. a null build with 20 shell-local provisioners, 5 rounds.
# Goals (issue 2): <= 0.1 and <= 0.3. Installs packer from apt if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v packer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer >/dev/null; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
KILN=$CARGO_TARGET_DIR/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

corpus=(crates/kiln/tests/fixtures/*.json crates/kiln/tests/fixtures/validate/*.json
        crates/kiln/tests/fixtures/inspect/*.json examples/*.json)
# Both tools must agree on every template (valid or not) before their times mean anything.
for t in "${corpus[@]}"; do
  set +e
  "$KILN" validate "$t" >/dev/null 2>&1; k=$?
  packer validate "$t" >/dev/null 2>&1; p=$?
  set -e
  if [ "$k" != "$p" ]; then echo "bench: $t: kiln exits $k, packer $p" >&2; exit 1; fi
done
python3 - "$work/null20.json" <<'PY'
import json, sys
provs = [{"type": "shell-local", "inline": [f"echo step {i}"]} for i in range(20)]
json.dump({"builders": [{"type": "null", "communicator": "none"}], "provisioners": provs}, open(sys.argv[1], "w"))
PY

time_it() { # runs "$@" (which must succeed) and prints elapsed seconds
  local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
# Exit codes were compared above; here only the time counts.
validate_all() { local tool=$1; for _ in $(seq 20); do for t in "${corpus[@]}"; do "$tool" validate "$t" >/dev/null 2>&1 || :; done; done; }
build_null() {
  local tool=$1
  for _ in $(seq 5); do
    (cd "$work" && "$tool" build -color=false null20.json >"$work/out.txt" 2>&1) \
      || { echo "bench: $tool build failed:" >&2; cat "$work/out.txt" >&2; exit 1; }
  done
}

kv=$(time_it validate_all "$KILN"); pv=$(time_it validate_all packer)
kb=$(time_it build_null "$KILN"); pb=$(time_it build_null packer)
printf 'validate corpus (%d templates x 20): kiln %.2fs  packer %.2fs  ratio %.3f (goal <= 0.1)\n' "${#corpus[@]}" "$kv" "$pv" "$(echo "$kv / $pv" | bc -l)"
printf 'null build, 20 shell-local (x5):      kiln %.2fs  packer %.2fs  ratio %.3f (goal <= 0.3)\n' "$kb" "$pb" "$(echo "$kb / $pb" | bc -l)"
