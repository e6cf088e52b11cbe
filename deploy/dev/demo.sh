#!/usr/bin/env bash
# The newcomer's demo: install everything, bring up the local real OpenStack and seed it, create the embedded SQLite
# store, import the example ledger (a Chinese 资源申请表), show what is approved, reconcile the ledger against the
# cloud and show the drift an operator would see, then verify the operation log.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/setup.sh
deploy/dev/openstack.sh install
deploy/dev/openstack.sh start
deploy/dev/openstack.sh seed deploy/dev/openstack/scenario-ledger-demo.yaml
export OS_CLIENT_CONFIG_FILE=${YUNGUAN_OS_STATE:-/var/tmp/yunguan-openstack}/clouds.yaml
export YUNGUAN_CONFIG=${YUNGUAN_CONFIG:-deploy/examples/yunguan.yaml}
PATH="$PWD/.venv/bin:$PATH"

set -x
yunguan db upgrade
yunguan ledger import deploy/examples/ledger-demo.csv
yunguan ledger show --system ZW-001 --at 2026-07-01
yunguan reconcile yunguan-local || true     # exit 1 means drift was found, as here
yunguan drift || true                          # exit 1: there is drift
yunguan audit verify
{ set +x; } 2>/dev/null
echo "The local OpenStack keeps running for you; stop it with: deploy/dev/openstack.sh stop" >&2
