# The setup the benchmark scripts share; each sources it from the repository
# root (`source scripts/bench-lib.sh`) after `set -euo pipefail`.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker/target}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker"
VENV="$CACHE/bench-venv"

# bench_venv MODULES: the baseline's virtualenv, outside the clone, installed
# once from the pinned list (again when its python cannot import MODULES).
bench_venv() {
  if ! "$VENV/bin/python" -c "import $1" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r bench/python-baseline/requirements.txt
  fi
}

# bench_broker: sets BIN to the release broker, built unless BROKER_BIN names
# an existing release binary (BROKER_BIN skips the build).
bench_broker() {
  if [ -z "${BROKER_BIN:-}" ]; then
    cargo build --release --locked -p upload-broker
  fi
  BIN="${BROKER_BIN:-$CARGO_TARGET_DIR/release/upload-broker}"
}

# start_baseline PORT WORKERS: the Python baseline app (bench/python-baseline,
# configured by the caller's environment) under uvicorn in the background;
# BASE_PID is its pid. Its stdout (the sign route's audit lines) is discarded,
# as the broker's is.
start_baseline() {
  (cd bench/python-baseline &&
    exec "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "$1" --workers "$2" --log-level warning >/dev/null) &
  BASE_PID=$!
}

# wait_until_up API_PORT BASE_PORT: until the broker and the baseline both answer.
wait_until_up() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && curl -s "http://127.0.0.1:$2/docs" >/dev/null && return
    sleep 0.2
  done
}

# A free TCP port on the loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
