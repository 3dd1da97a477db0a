#!/usr/bin/env bash
# Garage 2.5.0 for the integration tests: makes sure the binary is in the cache
# and prints its path on stdout (everything else goes to stderr).
#
#   GARAGE_BIN="$(bash scripts/garage.sh)"   # executed
#   source scripts/garage.sh                 # sourced: exports GARAGE_BIN
#
# Garage is a real S3 implementation that runs as one process with no other
# service, so the tests check the broker's POST policies, presigned URLs and
# CORS against a store that behaves like the ones it is deployed on. It is not
# packaged for Debian, and release binaries are not fetched here: it is built
# from crates.io with the toolchain the workspace already needs. The first
# build takes about 16 minutes on 2 cores; once installed, this script runs
# `garage --version` and nothing else. Builds are serialised with a lock, so
# concurrent runs wait for the first one instead of building twice.

garage_ensure() (
  set -euo pipefail
  local version=2.5.0
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker"
  local root="$cache/garage-$version"
  local bin="$root/bin/garage"
  local log="$cache/garage-install.log"

  installed() { [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -Eq "(^|[^0-9.])v?${version//./\\.}([^0-9.]|$)"; }

  if installed; then
    echo "$bin"
    return 0
  fi

  command -v cargo >/dev/null 2>&1 || {
    echo "error: Garage $version is not installed at $bin, and cargo is not on PATH to build it" >&2
    return 1
  }
  mkdir -p "$cache"
  # One build at a time: a concurrent run (or an install started by hand with
  # the same --root) holds the lock; re-check once we have it.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/garage-install.lock"
    if ! flock -n 9; then
      echo "waiting for another Garage $version install to finish (lock: $cache/garage-install.lock)" >&2
      flock 9
    fi
  fi
  if installed; then
    echo "$bin"
    return 0
  fi

  local force=()
  [ -e "$bin" ] && force=(--force) # present but not $version: replace it
  echo "building Garage $version into $root (about 16 minutes on 2 cores; log: $log)" >&2
  if ! cargo install garage --version "$version" --locked "${force[@]}" \
    --no-default-features --features sqlite,bundled-libs \
    --root "$root" --target-dir "$cache/garage-build" 2>&1 | tee "$log" >&2; then
    echo "error: building Garage $version failed; see $log" >&2
    return 1
  fi
  if ! installed; then
    echo "error: cargo install finished but $bin does not report version $version; see $log" >&2
    return 1
  fi
  echo "installed Garage $version: $bin" >&2
  echo "$bin"
)

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  garage_ensure
else
  # Sourced: leave the caller's shell options alone and hand back the status.
  if GARAGE_BIN="$(garage_ensure)"; then
    export GARAGE_BIN
  else
    return 1
  fi
fi
