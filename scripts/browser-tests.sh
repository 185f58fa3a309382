#!/usr/bin/env bash
# The web workspace's browser tests: Debian's chromium driven by playwright-core (from npm, pinned by
# tests/browser/package-lock.json; its own browser downloads are never used), against `switchboard serve --demo`.
# Installs chromium and Node.js with apt-get when the machine lacks them. Screenshots go to target/browser-artifacts.
#
# Environment: SWITCHBOARD_BIN (default target/debug/switchboard), SWITCHBOARD_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x "${SWITCHBOARD_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd tests/browser && npm ci --no-audit --no-fund --silent)

# Each file starts its own server and chromium; the tests of a file share them.
node --test tests/browser/*.test.mjs
