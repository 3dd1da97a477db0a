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

# A free TCP port on the loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
