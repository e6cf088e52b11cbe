#!/usr/bin/env bash
# The newcomer's demo: install, create the embedded SQLite store, import the example ledger (a Chinese 资源申请表),
# show what is approved today and during a temporary expansion, and verify the operation log.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/setup.sh
export YUNGUAN_CONFIG=${YUNGUAN_CONFIG:-deploy/examples/yunguan.yaml}
PATH="$PWD/.venv/bin:$PATH"

set -x
yunguan db upgrade
yunguan ledger import deploy/examples/ledger-demo.csv
yunguan ledger show
yunguan ledger show --system ZW-001 --at 2026-07-01
yunguan audit verify
