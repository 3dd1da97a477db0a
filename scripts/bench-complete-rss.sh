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
source scripts/bench-lib.sh

bench_venv boto3
bench_broker
export BROKER_BIN="$BIN"
if [[ ",${STORES:-embedded,garage}," == *,garage,* ]]; then
  GARAGE_BIN="$(bash scripts/garage.sh)"
  export GARAGE_BIN
  cargo build --locked -p broker-testkit --bin testkit-garage
  export TESTKIT_GARAGE_BIN="${TESTKIT_GARAGE_BIN:-$CARGO_TARGET_DIR/debug/testkit-garage}"
fi
exec "$VENV/bin/python" bench/complete_rss.py
