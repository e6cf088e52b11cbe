#!/usr/bin/env bash
# The newcomer's demo: install everything, bring up the local real OpenStack and Kubernetes control plane and seed
# them, create the embedded SQLite store, import the example ledger (a Chinese 资源申请表), show what is approved,
# reconcile the ledger against both clouds and show the drift an operator would see, measure the Kubernetes system's
# use through a (fake) kubelet, then verify the operation log.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/setup.sh
deploy/dev/openstack.sh install
deploy/dev/openstack.sh start
deploy/dev/openstack.sh seed deploy/dev/openstack/scenario-ledger-demo.yaml
deploy/dev/kubernetes.sh install
deploy/dev/kubernetes.sh start
deploy/dev/kubernetes.sh seed deploy/dev/kubernetes/scenario-ledger-demo.yaml
deploy/dev/kubernetes.sh kubelet demo-node "${YUNGUAN_DEMO_KUBELET_PORT:-17201}" deploy/dev/kubernetes/demo-node.json
export OS_CLIENT_CONFIG_FILE=${YUNGUAN_OS_STATE:-/var/tmp/yunguan-openstack}/clouds.yaml
export YUNGUAN_CONFIG=${YUNGUAN_CONFIG:-deploy/examples/yunguan.yaml}
PATH="$PWD/.venv/bin:$PATH"

set -x
yunguan db upgrade
yunguan ledger import deploy/examples/ledger-demo.csv
yunguan ledger show --system ZW-001 --at 2026-07-01
yunguan reconcile yunguan-local k8s-local || true   # exit 1 means drift was found, as here
yunguan drift || true                          # exit 1: there is drift
yunguan usage collect k8s-local
yunguan usage show RS-003
yunguan audit verify
{ set +x; } 2>/dev/null
echo "The local OpenStack and Kubernetes keep running for you; stop them with:" \
    "deploy/dev/openstack.sh stop; deploy/dev/kubernetes.sh stop" >&2
