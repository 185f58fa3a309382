#!/usr/bin/env bash
# Re-creates the front-end files vendored under crates/server/assets/vendor from the npm registry.
# The binary embeds these files; nothing is fetched at build or run time.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI_VERSION=5.35.0
PREACT_VERSION=10.29.8
HTM_VERSION=3.1.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() { # package version → $work/<package>/package
    mkdir -p "$work/$1"
    (cd "$work/$1" && npm pack --silent "$1@$2" >/dev/null && tar xzf ./*.tgz)
}

unpack swagger-ui-dist "$SWAGGER_UI_VERSION"
dest=crates/server/assets/vendor/swagger-ui
mkdir -p "$dest"
cp "$work/swagger-ui-dist/package/swagger-ui-bundle.js" "$work/swagger-ui-dist/package/swagger-ui.css" \
    "$work/swagger-ui-dist/package/LICENSE" "$dest/"
echo "$SWAGGER_UI_VERSION" > "$dest/VERSION"
echo "vendored swagger-ui-dist ${SWAGGER_UI_VERSION} into $dest"

# The web workspace's pages are ES modules written against preact and htm, with no build step. The pages load
# only scripts of their own origin (no import map, which would need an inline script past the CSP), so the bare
# `from "preact"` in preact's hooks is pointed at the file next to it.
unpack preact "$PREACT_VERSION"
unpack htm "$HTM_VERSION"
dest=crates/server/assets/vendor/preact
mkdir -p "$dest"
# Their source maps are not vendored, so their comments go too (else a browser's developer tools ask for them).
strip_map() { sed 's|//# sourceMappingURL=.*||' "$1"; }
strip_map "$work/preact/package/dist/preact.module.js" > "$dest/preact.js"
strip_map "$work/preact/package/hooks/dist/hooks.module.js" | sed 's/from"preact"/from"\.\/preact.js"/' > "$dest/hooks.js"
grep -q 'from"./preact.js"' "$dest/hooks.js" || { echo "preact hooks no longer import \"preact\" as expected" >&2; exit 1; }
cp "$work/htm/package/dist/htm.module.js" "$dest/htm.js"
cp "$work/preact/package/LICENSE" "$dest/LICENSE-preact"
cp "$work/htm/package/LICENSE" "$dest/LICENSE-htm"
printf 'preact %s\nhtm %s\n' "$PREACT_VERSION" "$HTM_VERSION" > "$dest/VERSION"
echo "vendored preact ${PREACT_VERSION} and htm ${HTM_VERSION} into $dest"
