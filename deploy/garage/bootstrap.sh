#!/usr/bin/env bash
# One-shot set-up of the single-node Garage in deploy/compose.yaml, safe to run
# again: every step checks what is already there first.
#
#   bootstrap.sh secrets   before Garage starts: generate its RPC secret (mode 0600)
#   bootstrap.sh setup     once Garage answers: layout, key, bucket, CORS, lifecycle,
#                          and the broker's credentials in $BROKER_ENV_DIR/.env
#
# It reads the broker's own variables (S3_BUCKET, S3_REGION, S3_ENDPOINT,
# ALLOWED_ORIGINS), so compose gives both the same values. The broker reads the
# .env written here from its working directory (dotenv): S3_ACCESS_KEY,
# S3_SECRET_KEY, and API_KEYS holding the SHA-256 of a generated API key that
# is printed once, here, and kept in $BROKER_ENV_DIR/api-key (root only).
# Paths and the garage binary (GARAGE_BIN) can be changed by environment, so it
# also runs outside containers; crates/broker/tests/deploy.rs runs it that way.
set -euo pipefail

GARAGE_CONFIG=${GARAGE_CONFIG:-/etc/garage.toml}
SECRETS_DIR=${SECRETS_DIR:-/var/lib/garage/secrets}
BROKER_ENV_DIR=${BROKER_ENV_DIR:-/run/upload-broker}
BROKER_UID=${BROKER_UID:-10001}
GARAGE_CAPACITY=${GARAGE_CAPACITY:-10G}
CORS_FILE=${CORS_FILE:-/deploy/s3-cors.json}
LIFECYCLE_FILE=${LIFECYCLE_FILE:-/deploy/s3-lifecycle.json}
API_KEY_TENANT=${API_KEY_TENANT:-demo}

log() { printf 'garage-bootstrap: %s\n' "$*" >&2; }
g() { "${GARAGE_BIN:-garage}" -c "$GARAGE_CONFIG" "$@"; }
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
# The value of NAME in the broker's .env, empty when absent.
env_value() { [ -f "$BROKER_ENV_DIR/.env" ] && sed -n "s/^$1=//p" "$BROKER_ENV_DIR/.env" | tail -n1 || true; }

secrets() {
    umask 077
    mkdir -p "$SECRETS_DIR"
    if [ ! -s "$SECRETS_DIR/rpc_secret" ]; then
        random_hex 32 >"$SECRETS_DIR/rpc_secret"
        log "generated $SECRETS_DIR/rpc_secret"
    fi
    chmod 600 "$SECRETS_DIR/rpc_secret"
}

setup() {
    : "${S3_BUCKET:?set S3_BUCKET}" "${S3_REGION:?set S3_REGION}" "${S3_ENDPOINT:?set S3_ENDPOINT}"

    local tries=0
    until g status >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 60 ] || { g status; exit 1; }
        sleep 1
    done

    local version node
    version=$(g layout show | sed -n 's/^Current cluster layout version: \([0-9][0-9]*\).*/\1/p')
    if [ "${version:-0}" = 0 ]; then
        node=$(g node id --quiet)
        node=${node%%@*}
        g layout assign -z dc1 -c "$GARAGE_CAPACITY" "$node" >/dev/null
        g layout apply --version 1 >/dev/null
        log "layout applied: node ${node:0:16} in zone dc1, $GARAGE_CAPACITY"
    fi

    local key_id secret api_keys api_key=""
    key_id=$(env_value S3_ACCESS_KEY)
    secret=$(env_value S3_SECRET_KEY)
    api_keys=$(env_value API_KEYS)
    if [ -z "$key_id" ] || [ -z "$secret" ] || ! g key info "$key_id" >/dev/null 2>&1; then
        local created
        created=$(g key create upload-broker)
        key_id=$(printf '%s\n' "$created" | sed -n 's/^Key ID: *//p')
        secret=$(printf '%s\n' "$created" | sed -n 's/^Secret key: *//p')
        [ -n "$key_id" ] && [ -n "$secret" ] || { log "garage key create printed no key"; exit 1; }
        log "created access key $key_id"
    fi
    if [ -z "$api_keys" ]; then
        api_key=$(random_hex 32)
        api_keys="$API_KEY_TENANT:$(printf %s "$api_key" | sha256sum | cut -d' ' -f1):compose"
    fi

    g bucket info "$S3_BUCKET" >/dev/null 2>&1 || g bucket create "$S3_BUCKET" >/dev/null
    g bucket allow --read --write --owner "$S3_BUCKET" --key "$key_id" >/dev/null

    # CORS and lifecycle go through the S3 API, as on any store; the rules are
    # deploy/s3-cors.json (with ALLOWED_ORIGINS as its origins) and deploy/s3-lifecycle.json.
    export AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=$S3_REGION
    export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
    export AWS_CONFIG_FILE=${AWS_CONFIG_FILE:-$(mktemp)}
    printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
    local s3=(aws --endpoint-url "$S3_ENDPOINT" s3api)
    local origins cors
    origins=$(printf '%s' "${ALLOWED_ORIGINS:-http://localhost:8080}" | sed 's/ //g; s/[^,][^,]*/"&"/g; s/,/, /g')
    cors=$(mktemp)
    sed "s|\"AllowedOrigins\": *\[[^]]*\]|\"AllowedOrigins\": [$origins]|" "$CORS_FILE" >"$cors"
    grep -q "\"AllowedOrigins\": \[$origins\]" "$cors" || { log "no AllowedOrigins line in $CORS_FILE"; exit 1; }
    "${s3[@]}" put-bucket-cors --bucket "$S3_BUCKET" --cors-configuration "file://$cors"
    "${s3[@]}" put-bucket-lifecycle-configuration --bucket "$S3_BUCKET" \
        --lifecycle-configuration "file://$LIFECYCLE_FILE"
    log "bucket $S3_BUCKET: CORS for $origins, lifecycle from $(basename "$LIFECYCLE_FILE")"

    mkdir -p "$BROKER_ENV_DIR"
    chmod 755 "$BROKER_ENV_DIR"
    umask 077
    {
        echo "# Written by deploy/garage/bootstrap.sh; read by upload-broker (dotenv)."
        echo "S3_ACCESS_KEY=$key_id"
        echo "S3_SECRET_KEY=$secret"
        echo "API_KEYS=$api_keys"
    } >"$BROKER_ENV_DIR/.env.new"
    chown "$BROKER_UID" "$BROKER_ENV_DIR/.env.new" 2>/dev/null || log "could not chown .env to $BROKER_UID"
    mv "$BROKER_ENV_DIR/.env.new" "$BROKER_ENV_DIR/.env"
    if [ -n "$api_key" ]; then
        printf '%s\n' "$api_key" >"$BROKER_ENV_DIR/api-key"
        log "API key for tenant $API_KEY_TENANT (shown once; also in $BROKER_ENV_DIR/api-key):"
        printf '%s\n' "$api_key"
    fi
    log "ready: bucket $S3_BUCKET at $S3_ENDPOINT, access key $key_id"
}

case "${1:-}" in
    secrets) secrets ;;
    setup) setup ;;
    *)
        echo "usage: $0 secrets|setup" >&2
        exit 2
        ;;
esac
