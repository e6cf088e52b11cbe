#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, layer contracts, then unit and integration tests against the
# real services this script makes sure are running (PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/setup.sh
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
echo "== mypy --strict controlplane" >&2
.venv/bin/mypy
echo "== import contracts" >&2
.venv/bin/lint-imports --no-cache >/dev/null
echo "== pytest" >&2
.venv/bin/pytest "$@"
