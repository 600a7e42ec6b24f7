#!/usr/bin/env bash
# What scripts/demo.sh and scripts/search-page.sh need before they run anything: the Debian packages, the npm
# packages, the native addon and the compiled TypeScript (the search page included), each only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f dist/cli.js ]; then
  npm ci --no-audit --no-fund
fi
[ -n "$(ls build/Release/*.node 2>/dev/null)" ] || npm run --silent build:native
{ [ -f dist/cli.js ] && [ -f dist/page/app.js ]; } || npm run --silent build:ts
