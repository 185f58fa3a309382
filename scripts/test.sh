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

ensure_postgres

echo "== workspace tests (HTTP suite on SQLite; store conformance on SQLite and PostgreSQL)"
cargo test --workspace --locked

echo "== HTTP suite on PostgreSQL"
SWITCHBOARD_TEST_BACKEND=postgres cargo test --locked -p switchboard-server --test it

echo "== OpenAPI document validated, and schemathesis against serve --demo"
cargo build --locked --bin switchboard
./scripts/schemathesis.sh
