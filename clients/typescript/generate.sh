#!/usr/bin/env bash
# Regenerates src/schema.d.ts from the merged /openapi.json of a suite started for the purpose (a temporary
# SQLite database on 127.0.0.1): run after changing any route, model or error code, and commit the result.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci
../../.venv/bin/python ../../scripts/live_suite.py -- npm run --silent generate
