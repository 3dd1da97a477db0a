#!/usr/bin/env bash
# The one command that runs every test. It installs what the tests need
# (redis-server, qpdf, poppler-utils, exiftool, chromium, Garage 2.5.0, the e2e
# npm packages), then runs:
#   1. the Rust workspace tests, with the embedded store;
#   2. the integration tests of the whole system again, against Garage;
#   3. a short fuzzing run of the verifier's parsers;
#   4. the browser tests (our JS client and Uppy 4, both upload modes, both stores).
# Nothing is skipped: a missing tool makes the run fail with a message that names it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds reuse a target directory outside the clone, so CI builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || { echo "installing $2 (for $1)"; apt_install "$2"; }
  command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required and could not be installed" >&2; exit 1; }
}

need redis-server redis-server
need qpdf qpdf
need pdftotext poppler-utils
need exiftool libimage-exiftool-perl
need python3 python3
need aws awscli          # the Garage bootstrap of deploy/compose.yaml sets CORS and lifecycle with it
need chromium chromium   # Debian's /usr/bin/chromium; no browser is ever downloaded
command -v node >/dev/null && command -v npm >/dev/null || { echo "error: node and npm (Node 20+) are required for the browser tests" >&2; exit 1; }
# Garage 2.5.0, built once with `cargo install` into the cache (about 16 minutes the first time).
source scripts/garage.sh
echo "garage: $GARAGE_BIN"

elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

echo "== cargo test (workspace, embedded store)"
started=$(date +%s)
cargo test --workspace --locked --no-fail-fast
echo "== embedded store: $(elapsed "$started")"

echo "== cargo test (the whole system against Garage)"
started=$(date +%s)
BROKER_TEST_STORE=garage cargo test --locked --no-fail-fast -p upload-broker --tests
echo "== Garage: $(elapsed "$started")"

echo "== fuzzing the verifier (short run)"
cargo run --locked -p broker-verifier --example fuzz -- --seconds 2

echo "== browser tests (headless chromium, playwright-core, Uppy 4)"
cargo build --locked -p upload-broker -p broker-testkit --bins
(cd e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== all tests passed"
