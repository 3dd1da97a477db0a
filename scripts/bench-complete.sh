#!/usr/bin/env bash
# Completion benchmark (issue 15): the broker's POST /uploads/complete against
# the seed design's Python stack (bench/python-baseline: FastAPI + boto3 +
# Pillow) and against a plain GET + PUT of the same bytes, all through ONE
# embedded store, with the same files, interleaved in one run.
#   usage: scripts/bench-complete.sh            (ROUNDS=15 by default)
# Targets: broker >= 3x faster than the Python stack; broker <= 1.5x GET+PUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

bench_venv "fastapi, uvicorn, boto3, PIL, reportlab"
bench_broker

API_PORT="$(free_port)"; STORE_PORT="$(free_port)"; BASE_PORT="$(free_port)"
DATA="$(mktemp -d)"
export STORE_URL="http://127.0.0.1:$STORE_PORT" STORE_BUCKET=uploads STORE_REGION=us-east-1
export STORE_ACCESS_KEY="bench$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
export STORE_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
AUTH_MODE=none RATE_LIMIT_RATE=0 RUST_LOG="${RUST_LOG:-info}" METRICS_BIND_ADDR= \
S3_ACCESS_KEY="$STORE_ACCESS_KEY" S3_SECRET_KEY="$STORE_SECRET_KEY" \
BIND_ADDR="127.0.0.1:$API_PORT" DEVSTORE_BIND_ADDR="127.0.0.1:$STORE_PORT" DATA_DIR="$DATA" \
  "$BIN" serve >"$DATA.broker.log" 2>&1 &
BROKER_PID=$!
start_baseline "$BASE_PORT" 1
trap 'kill $BROKER_PID $BASE_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$DATA.broker.log"' EXIT
wait_until_up "$API_PORT" "$BASE_PORT"
BROKER_URL="http://127.0.0.1:$API_PORT" BASELINE_URL="http://127.0.0.1:$BASE_PORT" \
  "$VENV/bin/python" bench/complete_compare.py
