#!/usr/bin/env bash
# The official TOP Python SDK (PyPI taobao-sdk-python3, pinned), unmodified, driven
# against `opentrade-callback simulate`: installs the SDK under target/ (ignored), starts
# the simulator on a free port, runs interop/python_sdk.py, stops the simulator.
# Run by .ci/run; needs python3 with pip or venv, and the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
SDK="taobao-sdk-python3==1.0.9"
DIR=target/interop/python
mkdir -p "$DIR"

# The SDK is pure Python without dependencies: a venv when python3 can make one,
# else pip's --target directory.
if [ ! -f "$DIR/installed" ]; then
  rm -rf "$DIR/venv" "$DIR/site"
  if python3 -m venv "$DIR/venv" >/dev/null 2>&1; then
    "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$SDK"
  else
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$DIR/site" "$SDK"
  fi
  touch "$DIR/installed"
fi
PY=python3
[ -x "$DIR/venv/bin/python" ] && PY="$DIR/venv/bin/python"
export PYTHONPATH="$PWD/$DIR/site${PYTHONPATH:+:$PYTHONPATH}"

cargo build --quiet --bin opentrade-callback
OUT=$(mktemp -d)
trap 'kill "$SIM" 2>/dev/null || true; wait "$SIM" 2>/dev/null || true; rm -rf "$OUT"' EXIT
env -u TOP_APP_KEY -u TOP_APP_SECRET -u TOP_SESSION \
  "${CARGO_TARGET_DIR:-target}/debug/opentrade-callback" simulate --listen 127.0.0.1:0 > "$OUT/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do grep -q '^listening on' "$OUT/sim.out" 2>/dev/null && break; sleep 0.05; done
BASE=$(head -1 "$OUT/sim.out" | sed 's/^listening on //')
"$PY" interop/python_sdk.py "$BASE" 300
