#!/usr/bin/env bash
# Load benchmark: POST /uploads/sign against GET /healthz of the same running
# broker (release build), and against the seed design's Python stack's sign
# (bench/python-baseline/app.py: FastAPI + boto3 `generate_presigned_post`,
# the same token and audit line), interleaved in one run so machine noise hits
# all three. Targets: sign >= 0.7x the bare handler's requests per second, and
# >= 100x the Python stack's.
#   usage: scripts/bench-sign.sh [rounds] [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
SECONDS_PER_RUN="${2:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
source scripts/bench-lib.sh

command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
bench_venv "fastapi, uvicorn, boto3, PIL, reportlab"
bench_broker

API_PORT="$(free_port)"; STORE_PORT="$(free_port)"; METRICS_PORT="$(free_port)"; BASE_PORT="$(free_port)"
DATA="$(mktemp -d)"
# Signing is measured as production runs it: an HS256 bearer token verified on
# every request. Rate limiting is off (one subject, thousands of requests a second).
BENCH_SECRET="bench-secret-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
export BENCH_TOKEN="$(python3 - "$BENCH_SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"iss": "bench", "aud": "bench", "sub": "bench", "tenant": "bench", "exp": int(time.time()) + 3600}).encode())
signature = hmac.new(sys.argv[1].encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
print(f"{header}.{claims}.{b64(signature)}")
PY
)"
# Metrics stay on, as by default, on a port of their own.
AUTH_HS256_SECRET="$BENCH_SECRET" AUTH_ISSUER=bench AUTH_AUDIENCE=bench RATE_LIMIT_RATE=0 METRICS_BIND_ADDR="127.0.0.1:$METRICS_PORT" \
BIND_ADDR="127.0.0.1:$API_PORT" DEVSTORE_BIND_ADDR="127.0.0.1:$STORE_PORT" DATA_DIR="$DATA" "$BIN" serve >/dev/null 2>&1 &
PID=$!
# The Python stack: as many uvicorn workers as the broker has HTTP workers
# (one per core), the same secret, issuer and audience; its audit lines go
# where the broker's go. It never calls the store: signing is local.
AUTH_HS256_SECRET="$BENCH_SECRET" AUTH_ISSUER=bench AUTH_AUDIENCE=bench \
STORE_URL="http://127.0.0.1:$STORE_PORT" STORE_BUCKET=uploads STORE_ACCESS_KEY=bench STORE_SECRET_KEY=bench \
  start_baseline "$BASE_PORT" "$(nproc)"
trap 'kill $PID $BASE_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"' EXIT
wait_until_up "$API_PORT" "$BASE_PORT"

rps() { wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
health=(); sign=(); python=()
for round in $(seq "$ROUNDS"); do
  h="$(rps "http://127.0.0.1:$API_PORT/healthz")"
  s="$(rps -s bench/sign.lua "http://127.0.0.1:$API_PORT/uploads/sign")"
  p="$(rps -s bench/sign.lua "http://127.0.0.1:$BASE_PORT/uploads/sign")"
  echo "round $round: healthz ${h} req/s, sign ${s} req/s, Python sign ${p} req/s"
  health+=("$h"); sign+=("$s"); python+=("$p")
done
python3 - "${health[*]}" "${sign[*]}" "${python[*]}" <<'PY'
import statistics, sys
health, sign, python = ([float(x) for x in arg.split()] for arg in sys.argv[1:4])
h, s, p = statistics.median(health), statistics.median(sign), statistics.median(python)
print(f"median healthz {h:.0f} req/s, median sign {s:.0f} req/s, median Python sign {p:.0f} req/s")
print(f"ratio sign/healthz = {s / h:.2f} (target >= 0.70); sign/Python sign = {s / p:.1f}x (target >= 100x)")
sys.exit(0 if s / h >= 0.7 and s / p >= 100 else 1)
PY
