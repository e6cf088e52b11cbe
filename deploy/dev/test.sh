#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, layer contracts, then unit and integration tests against the
# real services this script makes sure are running: PostgreSQL, the local OpenStack, the local Kubernetes control
# plane and a local libvirtd (each installed once, cached outside the repo; started here when it is not running, and
# stopped again at the end if this script started it).
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
# each service this script starts, it stops again at the end
started=()
cleanup() { for svc in "${started[@]}"; do "deploy/dev/$svc.sh" stop >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
if ! deploy/dev/openstack.sh status >/dev/null 2>&1; then
    echo "== starting the local OpenStack" >&2
    deploy/dev/openstack.sh install
    started+=(openstack)
    deploy/dev/openstack.sh start
fi
if ! deploy/dev/kubernetes.sh status >/dev/null 2>&1; then
    echo "== starting the local Kubernetes control plane" >&2
    deploy/dev/kubernetes.sh install
    started+=(kubernetes)
    deploy/dev/kubernetes.sh start
fi
# libvirt: install always (a no-op once done, and it builds the test guest's image so no test waits for that);
# tests start and stop the guest themselves (deploy/dev/libvirt.sh guest-start / guest-stop)
deploy/dev/libvirt.sh install
if ! deploy/dev/libvirt.sh status >/dev/null 2>&1; then
    echo "== starting the local libvirtd" >&2
    started+=(libvirt)
    deploy/dev/libvirt.sh start >/dev/null
fi
export YUNGUAN_LIBVIRT_STATE=${YUNGUAN_LIBVIRT_STATE:-/var/tmp/yunguan-libvirt}
export OS_CLIENT_CONFIG_FILE=${YUNGUAN_OS_STATE:-/var/tmp/yunguan-openstack}/clouds.yaml

echo "== pytest" >&2
.venv/bin/pytest "$@"
