#!/usr/bin/env bash
# The one command that runs every test: installs what the tests need
# (redis-server, qpdf, poppler-utils, chromium, the e2e npm packages), then runs
# the Rust workspace tests and the browser tests. Nothing is skipped: a missing
# tool makes the run fail with a message that names it.
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
need chromium chromium   # Debian's /usr/bin/chromium; no browser is ever downloaded
command -v node >/dev/null && command -v npm >/dev/null || { echo "error: node and npm (Node 20+) are required for the browser tests" >&2; exit 1; }

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== browser tests (headless chromium, playwright-core)"
cargo build --locked -p upload-broker
(cd e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)

echo "== all tests passed"
