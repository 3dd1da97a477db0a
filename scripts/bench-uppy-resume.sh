#!/usr/bin/env bash
# Issue 10's "done when", as a benchmark: Uppy 4 (@uppy/aws-s3 with `endpoint` pointing at
# the broker, @uppy/golden-retriever) in headless Chromium uploads a 1 GiB CSV in parts to
# Garage 2.5.0, the page is reloaded mid-way, Uppy resumes with only the missing parts, the
# object is verified (POST /uploads/complete) and downloaded identical, and another tenant
# gets 404 at every multipart route mid-way and after. Baseline in the same run: `curl -T`
# of the same file to a presigned PUT on the same Garage (before and after), and Uppy
# without a reload. The 60 MiB version of the same flow is a test
# (e2e/tests/uppy-resume.test.js); this one is not.
#   usage: scripts/bench-uppy-resume.sh        (SIZE_MIB=1024, STOP_FRACTION=0.4)
# BROKER_BIN (a release broker) and TESTKIT_GARAGE_BIN skip the builds.
# The driver is e2e/bench/uppy-resume.js (Node, the e2e harness and packages).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

bench_broker
source scripts/garage.sh
if [ -z "${TESTKIT_GARAGE_BIN:-}" ]; then cargo build --locked -p broker-testkit --bin testkit-garage; fi
[ -f e2e/node_modules/@uppy/golden-retriever/package.json ] || (cd e2e && npm ci --no-audit --no-fund --loglevel=error)

BROKER_BIN="$BIN" TESTKIT_GARAGE_BIN="${TESTKIT_GARAGE_BIN:-$CARGO_TARGET_DIR/debug/testkit-garage}" \
  node e2e/bench/uppy-resume.js
