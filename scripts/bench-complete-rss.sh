#!/usr/bin/env bash
# Peak RSS of the broker while it completes a large document (issue 10), on
# the embedded store and on Garage, against a 25 MiB file of the `file`
# profile in the same run (bench/complete_rss.py says how).
#   usage: scripts/bench-complete-rss.sh      (SIZE_MIB=1024, STORES=embedded,garage)
# Target: peak RSS <= 128 MiB while 1 GiB is verified and promoted.
# BROKER_BIN skips the build and uses an existing release binary; BENCH_DIR
# is where the files are generated (3 × SIZE_MIB of disk, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker/target}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker"
VENV="$CACHE/bench-venv"

if ! "$VENV/bin/python" -c 'import boto3' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r bench/python-baseline/requirements.txt
fi
if [ -z "${BROKER_BIN:-}" ]; then
  cargo build --release --locked -p upload-broker
fi
export BROKER_BIN="${BROKER_BIN:-$CARGO_TARGET_DIR/release/upload-broker}"
if [[ ",${STORES:-embedded,garage}," == *,garage,* ]]; then
  GARAGE_BIN="$(bash scripts/garage.sh)"
  export GARAGE_BIN
  cargo build --locked -p broker-testkit --bin testkit-garage
  export TESTKIT_GARAGE_BIN="${TESTKIT_GARAGE_BIN:-$CARGO_TARGET_DIR/debug/testkit-garage}"
fi
exec "$VENV/bin/python" bench/complete_rss.py
