#!/usr/bin/env bash
# Re-creates the front-end files vendored under crates/server/assets/vendor from the npm registry.
# The binary embeds these files; nothing is fetched at build or run time.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI_VERSION=5.35.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" >/dev/null && tar xzf swagger-ui-dist-*.tgz)
dest=crates/server/assets/vendor/swagger-ui
mkdir -p "$dest"
cp "$work/package/swagger-ui-bundle.js" "$work/package/swagger-ui.css" "$work/package/LICENSE" "$dest/"
echo "$SWAGGER_UI_VERSION" > "$dest/VERSION"
echo "vendored swagger-ui-dist ${SWAGGER_UI_VERSION} into $dest"
