# Sourced by the scripts that run an amazon-ebs rig (demo.sh, bench-amazon.sh): a work
# directory and the processes started, both gone on exit; a free loopback port; and moto as
# the EC2 API, serving the seed's source AMI from the test fixture.
#   . scripts/rig.sh; start_moto   # sets $work, $moto
work=$(mktemp -d)
pids=()
rig_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$work"
}
trap rig_cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_moto() {
  local port
  port=$(free_port)
  MOTO_AMIS_PATH=$PWD/crates/kiln/tests/fixtures/amazon/amis.json \
    moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  pids+=("$!")
  disown
  moto=http://127.0.0.1:$port
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$moto/moto-api/')" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "moto did not start; see $work/moto.log" >&2
  return 1
}
