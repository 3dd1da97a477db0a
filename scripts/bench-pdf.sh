#!/usr/bin/env bash
# PDF export benchmark (issue 15, item 4): the broker's PDF export of 10,000
# rows x 8 columns, from POST /exports to the stored object, against
# reportlab's platypus Table (bench/python-baseline/pdf_baseline.py) with the
# same rows, interleaved in one run; then the peak RSS of a fresh worker for
# 10k, 50k, 75k and 100k rows (past EXPORT_MAX_PDF_PAGES, 2,500 by default,
# an export is refused with too_many_pages: its peak is measured too). The
# broker runs scaled out (`serve` with Redis and one `upload-broker worker`),
# so the worker's memory is its own.
#   usage: scripts/bench-pdf.sh            (ROUNDS=3, ROWS=10000, RSS_ROWS="10000 50000 75000 100000")
# Targets: broker >= 10x reportlab's pages/s; worker peak RSS <= 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

command -v redis-server >/dev/null || { echo "redis-server is required" >&2; exit 1; }
command -v qpdf >/dev/null || { echo "qpdf is required (it counts the broker's pages)" >&2; exit 1; }
bench_venv "fastapi, uvicorn, boto3, PIL, reportlab"
bench_broker
export BROKER_BIN="$BIN"

API_PORT="$(free_port)"; STORE_PORT="$(free_port)"; REDIS_PORT="$(free_port)"
DATA="$(mktemp -d)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DATA" >/dev/null &
REDIS_PID=$!
S3_ACCESS_KEY="bench$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
S3_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
# 100,000 inline rows are ~9.6 MB of JSON: the inline limit is raised to fit them.
# No metrics listener: its fixed port would clash with another broker's.
COMMON=(AUTH_MODE=none RATE_LIMIT_RATE=0 RUST_LOG=warn METRICS_BIND_ADDR= REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  S3_ACCESS_KEY="$S3_ACCESS_KEY" S3_SECRET_KEY="$S3_SECRET_KEY" DEVSTORE_BIND_ADDR="127.0.0.1:$STORE_PORT"
  EXPORT_MAX_INLINE_BYTES=16777216 EXPORT_MAX_QUEUED_BYTES=104857600
  ${EXPORT_MAX_PDF_PAGES:+EXPORT_MAX_PDF_PAGES=$EXPORT_MAX_PDF_PAGES})
env "${COMMON[@]}" BIND_ADDR="127.0.0.1:$API_PORT" DATA_DIR="$DATA/store" "$BROKER_BIN" serve >"$DATA/serve.log" 2>&1 &
BROKER_PID=$!
trap 'kill $BROKER_PID $REDIS_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null || { cat "$DATA/serve.log" >&2; exit 1; }
# The worker reaches the embedded store of `serve` (docs/exports.md); the driver starts it.
export WORKER_ENV="$(python3 -c 'import json, sys; print(json.dumps(dict(a.split("=", 1) for a in sys.argv[1:])))' \
  "${COMMON[@]}" DATA_DIR="$DATA/worker")"
BROKER_URL="http://127.0.0.1:$API_PORT" "$VENV/bin/python" bench/pdf_compare.py
