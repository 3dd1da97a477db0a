# Recipes mirror the README's commands, which work without just.

# Run the broker with the embedded S3-compatible store (no AWS, no Redis, no authentication).
run:
    AUTH_MODE=none cargo run --locked -p upload-broker -- serve

# Same as run, with debug logs from the broker itself.
dev:
    AUTH_MODE=none RUST_LOG=info,broker_api=debug,broker_core=debug cargo run --locked -p upload-broker -- serve

# Every test: installs redis-server (and the other tools the tests need) first.
test:
    bash scripts/test.sh

# Load benchmark: /uploads/sign against /healthz on one release build.
bench-sign:
    bash scripts/bench-sign.sh

# Criterion benchmarks (release build).
bench:
    cargo bench --locked --workspace

# Delete abandoned staging objects (stores without lifecycle rules).
cleanup:
    cargo run --locked -p upload-broker -- cleanup
