#!/usr/bin/env bash
# Checks the server against its own OpenAPI document: validates the document with openapi-spec-validator, then
# runs schemathesis (every phase, stateful included) against a live `switchboard serve --demo` as the admin, an
# integration (OAuth2 client credentials token) and an agent. Any server error, schema violation or undocumented
# status fails the run. See docs/api.md.
#
# Environment: SWITCHBOARD_BIN (default target/debug/switchboard, built by `cargo test`), SCHEMATHESIS_MAX_TIME
# (seconds per role, default 90), SCHEMATHESIS_MAX_EXAMPLES (per operation, default 15), SCHEMATHESIS_SEED.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${SWITCHBOARD_BIN:-target/debug/switchboard}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-90}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
TOOLS=target/pytools
SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0

[ -x "$BIN" ] || { echo "$BIN is missing: run cargo build (or cargo test) first" >&2; exit 1; }

if ! "$TOOLS/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" \
    || ! "$TOOLS/bin/pip" show openapi-spec-validator 2>/dev/null | grep -q "^Version: $VALIDATOR_VERSION$"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into $TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== OpenAPI document (switchboard openapi | openapi-spec-validator)"
"$BIN" openapi > "$work/openapi.json"
"$TOOLS/bin/openapi-spec-validator" "$work/openapi.json"

# A free port: bind to 0, read what the kernel chose, let it go.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Fuzzed webhook URLs must not leave the machine: deliveries go to 127.0.0.1 only (where nothing listens on
# port 9, the discard port), every other destination fails without a lookup or a connection.
SWITCHBOARD_WEBHOOKS__ALLOWED_HOSTS='["127.0.0.1"]' SWITCHBOARD_LOG=warn \
    "$BIN" serve --demo --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && [ -s "$work/data/demo.json" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

demo() { python3 -c "import json,sys; d=json.load(open('$work/data/demo.json')); print(eval(sys.argv[1]))" "$1"; }
admin_key=$(demo 'd["admin_api_key"]')
agent_key=$(demo 'd["agents"][0]["api_key"]')
integration_token=$(curl -fsS "$base/oauth2/token" -d grant_type=client_credentials \
    -d "client_id=$(demo 'd["client_id"]')" -d "client_secret=$(demo 'd["client_secret"]')" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Revoking keys and clients is left out: the fuzzer would revoke the very credentials it runs with (the demo's
# admin key and integration client), and every later request would only prove that revocation works. The live
# stream is left out too: an SSE answer never ends, so the fuzzer would wait out its timeout on every case (its
# bad input is covered by tests/it/stream.rs).
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance

status=0
for role in admin integration agent; do
    case $role in
        admin) token=$admin_key ;;
        integration) token=$integration_token ;;
        agent) token=$agent_key ;;
    esac
    echo "== schemathesis as $role (at most ${MAX_TIME}s)"
    # One worker: hypothesis parses lambdas' source with `ast` to describe them, and CPython 3.11's parser is not
    # safe across threads ("AST constructor recursion depth mismatch").
    "$TOOLS/bin/st" run "$work/openapi.json" --url "$base" \
        -H "Authorization: Bearer $token" \
        --phases examples,coverage,fuzzing,stateful --checks "$checks" \
        --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --workers 1 \
        ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"} \
        --exclude-operation-id revoke_api_key --exclude-operation-id revoke_client --exclude-operation-id stream \
        --suppress-health-check all --request-timeout 20 \
        --report junit --report-dir "$work/report-$role" --output-truncate true \
        || status=1
done

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the server died during the run" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "== server log (last 100 lines)"
    tail -n 100 "$work/server.log"
fi
exit "$status"
