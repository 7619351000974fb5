#!/usr/bin/env bash
# CI for the TypeScript client: installs the locked packages, starts a suite on a temporary SQLite database on
# 127.0.0.1, fails when the committed src/schema.d.ts differs from what the running suite's document generates,
# compiles with tsc --strict, and runs the journeys against the suite.
set -euo pipefail
cd "$(dirname "$0")"
npm ci
exec ../../.venv/bin/python ../../scripts/live_suite.py -- bash -c '
set -euo pipefail
generated="$(mktemp -d)/schema.d.ts"
npx openapi-typescript "$CHIIKI_BASE_URL/openapi.json" --output "$generated" --silent
if ! diff -u src/schema.d.ts "$generated" > "$generated.diff"; then
  head -n 60 "$generated.diff"
  echo "clients/typescript/src/schema.d.ts is stale: run clients/typescript/generate.sh and commit it" >&2
  exit 1
fi
npm run --silent build
npm run --silent journeys
'
