#!/usr/bin/env bash
# Multipart benchmark (issue 10): a 1 GiB CSV through the broker's multipart
# routes (create, parts signed 100 per call, 4 parts in flight, each sent with
# curl, complete with streamed verification and promotion) against a plain `curl -T` presigned PUT
# of the same bytes to the same store, interleaved in one run, on the embedded
# store and on Garage 2.5.0. Also reports the broker's peak RSS during completion.
#   usage: scripts/bench-multipart.sh [embedded|garage|both]   (default both; ROUNDS=2, SIZE_MIB=1024,
#          PART_MIB=16: the broker's MULTIPART_PART_SIZE, CONCURRENCY=4: parts in flight)
# Targets: multipart >= 0.8x the plain PUT's throughput; peak RSS <= 128 MiB.
# The driver is bench/multipart_compare.py (Python from the bench venv, boto3
# only to presign the baseline's PUT).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
WHICH="${1:-both}"
SIZE_MIB="${SIZE_MIB:-1024}"
PART_MIB="${PART_MIB:-16}"
export PART_SIZE=$((PART_MIB * 1024 * 1024))

bench_venv boto3
# BROKER_BIN / TESTKIT_GARAGE_BIN skip the builds.
bench_broker
if [ "$WHICH" != embedded ]; then
  source scripts/garage.sh
  if [ -z "${TESTKIT_GARAGE_BIN:-}" ]; then cargo build --locked -p broker-testkit --bin testkit-garage; fi
  GARAGE_HELPER="${TESTKIT_GARAGE_BIN:-$CARGO_TARGET_DIR/debug/testkit-garage}"
fi

WORK="$(mktemp -d)"
BROKER_PID=""
cleanup() {
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The file: a valid CSV (a `document`) of exactly SIZE_MIB MiB, 64-byte rows.
"$VENV/bin/python" - "$WORK/bench.csv" "$SIZE_MIB" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as out:
    out.write(b"id,name,amount".ljust(63) + b"\n")
    rows = 1
    for block in range(mib):
        lines = []
        for _ in range(16384 - (1 if block == 0 else 0)):
            lines.append(f"{rows},row {rows:012d},{rows % 997 * 0.25}".encode().ljust(63) + b"\n")
            rows += 1
        out.write(b"".join(lines))
PY

# start_broker LOG ENV…: the release broker, AUTH_MODE=none, no rate limit; waits for /healthz.
start_broker() {
  local log="$1"; shift
  API_PORT="$(free_port)"
  env -i PATH="$PATH" HOME="$HOME" AUTH_MODE=none RATE_LIMIT_RATE=0 RUST_LOG="${RUST_LOG:-warn}" MULTIPART_PART_SIZE="$PART_SIZE" \
    BIND_ADDR="127.0.0.1:$API_PORT" DATA_DIR="$WORK/data" "$@" "$BIN" serve >"$log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && return 0
    sleep 0.2
  done
  echo "the broker did not start:" >&2; cat "$log" >&2; exit 1
}
stop_broker() { kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=""; rm -rf "$WORK/data"; }

mkdir -p "$WORK/parts"
drive() { # drive STORE_NAME
  PARTS_DIR="$WORK/parts" BROKER_URL="http://127.0.0.1:$API_PORT" BROKER_PID="$BROKER_PID" BENCH_FILE="$WORK/bench.csv" STORE_NAME="$1" \
    "$VENV/bin/python" bench/multipart_compare.py
}

if [ "$WHICH" != garage ]; then
  echo "== embedded store (in the broker's process)"
  STORE_PORT="$(free_port)"
  export STORE_URL="http://127.0.0.1:$STORE_PORT" STORE_BUCKET=uploads STORE_REGION=us-east-1
  export STORE_ACCESS_KEY="bench$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  export STORE_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  start_broker "$WORK/embedded.log" DEVSTORE_BIND_ADDR="127.0.0.1:$STORE_PORT" \
    S3_ACCESS_KEY="$STORE_ACCESS_KEY" S3_SECRET_KEY="$STORE_SECRET_KEY"
  drive embedded
  stop_broker
fi

if [ "$WHICH" != embedded ]; then
  echo "== Garage 2.5.0 (single node, loopback)"
  coproc GARAGE { exec "$GARAGE_HELPER" 2>"$WORK/garage.log"; }
  read -r facts <&"${GARAGE[0]}"
  fact() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$facts" "$1"; }
  export STORE_URL="$(fact endpoint)" STORE_BUCKET="$(fact bucket)" STORE_REGION="$(fact region)"
  export STORE_ACCESS_KEY="$(fact accessKey)" STORE_SECRET_KEY="$(fact secretKey)"
  start_broker "$WORK/garage-broker.log" AUTH_MODE_NONE_I_UNDERSTAND_THIS_IS_INSECURE=true \
    S3_ENABLED=true S3_ENDPOINT="$STORE_URL" S3_REGION="$STORE_REGION" S3_BUCKET="$STORE_BUCKET" \
    S3_ACCESS_KEY="$STORE_ACCESS_KEY" S3_SECRET_KEY="$STORE_SECRET_KEY" S3_FORCE_PATH_STYLE=true
  drive garage
  stop_broker
  # Closing the helper's stdin stops Garage and removes its directory.
  exec {GARAGE[1]}>&-
  wait "$GARAGE_PID" 2>/dev/null || true
fi
