#!/usr/bin/env bash
# Builds kiln and runs a real local build (examples/local.json): a file artifact, provisioned
# with shell-local, checksummed, compressed and recorded in a manifest under ./output/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/kiln-target}
cargo build --release -q -p kiln
"$CARGO_TARGET_DIR/release/kiln" validate examples/local.json
"$CARGO_TARGET_DIR/release/kiln" build examples/local.json
echo
ls -l output/
