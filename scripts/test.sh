#!/usr/bin/env bash
# Runs every test: the workspace on SQLite, the store conformance suite on SQLite and PostgreSQL, the HTTP
# suite again on PostgreSQL, and schemathesis against a live server. Installs and starts PostgreSQL when the
# machine lacks it.
set -euo pipefail
cd "$(dirname "$0")/.."

export SWITCHBOARD_TEST_PG_URL="${SWITCHBOARD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
    if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "installing PostgreSQL (Debian package)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
    fi
    if ! pg_ready; then
        echo "starting PostgreSQL"
        version=$(ls /etc/postgresql | sort -V | tail -n1)
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
    fi
    pg_ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
    # Tests connect as postgres over TCP without a password, as on the CI machines (trust auth).
    if ! psql "$SWITCHBOARD_TEST_PG_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
        echo "cannot connect to $SWITCHBOARD_TEST_PG_URL; allow trust auth for 127.0.0.1 in pg_hba.conf" >&2
        exit 1
    fi
    # Each test makes its own schema; drop those of earlier runs.
    psql "$SWITCHBOARD_TEST_PG_URL" -qtAc "SELECT 'DROP SCHEMA IF EXISTS \"' || nspname || '\" CASCADE;' FROM pg_namespace WHERE nspname LIKE 't\_%'" \
        | psql "$SWITCHBOARD_TEST_PG_URL" -q >/dev/null
}

# The TLS tests need a server certificate from a CA they can trust: a test CA made here once (openssl), whose
# certificate for localhost and 127.0.0.1 the local cluster is switched to (ALTER SYSTEM, then a reload).
# Idempotent; only for the local cluster, and only when the tests are pointed at it.
PG_TLS_DIR=/var/lib/postgresql/switchboard-test-tls
export SWITCHBOARD_TEST_PG_CA="${SWITCHBOARD_TEST_PG_CA:-$PG_TLS_DIR/ca.pem}"

ensure_postgres_tls() {
    case "$SWITCHBOARD_TEST_PG_URL" in
        *@127.0.0.1:5432/*|*@localhost:5432/*) ;;
        *) echo "not giving $SWITCHBOARD_TEST_PG_URL a test certificate: set SWITCHBOARD_TEST_PG_CA to its CA"; return ;;
    esac
    if ! as_root test -s "$PG_TLS_DIR/server.key"; then
        echo "making a test CA and a server certificate for PostgreSQL in $PG_TLS_DIR"
        local tmp
        tmp=$(mktemp -d)
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
            -subj "/CN=Switchboard test CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
            -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
            > "$tmp/server.ext"
        openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 3650 \
            -extfile "$tmp/server.ext" -out "$tmp/server.pem" 2>/dev/null
        as_root install -d -o postgres -g postgres -m 755 "$PG_TLS_DIR"
        as_root install -o postgres -g postgres -m 644 "$tmp/ca.pem" "$tmp/server.pem" "$PG_TLS_DIR/"
        as_root install -o postgres -g postgres -m 600 "$tmp/server.key" "$PG_TLS_DIR/"
        rm -rf "$tmp"
    fi
    if [ "$(psql "$SWITCHBOARD_TEST_PG_URL" -qtAc 'SHOW ssl_cert_file')" != "$PG_TLS_DIR/server.pem" ]; then
        psql "$SWITCHBOARD_TEST_PG_URL" -q \
            -c "ALTER SYSTEM SET ssl = on" \
            -c "ALTER SYSTEM SET ssl_cert_file = '$PG_TLS_DIR/server.pem'" \
            -c "ALTER SYSTEM SET ssl_key_file = '$PG_TLS_DIR/server.key'" \
            -c "SELECT pg_reload_conf()" >/dev/null
        for _ in $(seq 1 50); do
            [ "$(psql "$SWITCHBOARD_TEST_PG_URL" -qtAc 'SHOW ssl_cert_file')" = "$PG_TLS_DIR/server.pem" ] && break
            sleep 0.1
        done
    fi
}

# The Twilio channel's tests sign its webhooks with twilio-node's RequestValidator (tests/twilio, pinned by its
# package-lock.json).
ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "installing nodejs and npm (Debian packages)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
    fi
    (cd tests/twilio && npm ci --no-audit --no-fund --silent)
}

ensure_postgres
ensure_postgres_tls
ensure_node

echo "== workspace tests (HTTP suite on SQLite; store conformance on SQLite and PostgreSQL)"
cargo test --workspace --locked

echo "== HTTP suite on PostgreSQL"
SWITCHBOARD_TEST_BACKEND=postgres cargo test --locked -p switchboard-server --test it

echo "== OpenAPI document validated, and schemathesis against serve --demo"
cargo build --locked --bin switchboard
./scripts/schemathesis.sh

echo "== the web workspace in chromium (playwright-core)"
./scripts/browser-tests.sh

echo "== fuzzing each channel's inbound parser for a bounded time (cargo-fuzz on stable)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" ./scripts/fuzz.sh
