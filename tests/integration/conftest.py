"""The local real OpenStack for integration tests, started by ``deploy/dev/openstack.sh`` (``deploy/dev/test.sh``
does it before pytest). A test that needs it fails, with the command to run, when it is not up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "dev" / "openstack.sh"
STATE = Path(os.environ.get("YUNGUAN_OS_STATE", "/var/tmp/yunguan-openstack"))  # noqa: S108 - the dev script's state
CLOUD = "yunguan-local"


@pytest.fixture(scope="session")
def openstack_clouds() -> Path:
    """The clouds.yaml of the running local OpenStack, seeded with the demo scenario."""
    path = require_openstack()
    seed(REPO / "deploy" / "dev" / "openstack" / "scenario-ledger-demo.yaml")
    return path


def require_openstack() -> Path:
    """The clouds.yaml of the running local OpenStack."""
    status = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, check=False, timeout=120)
    clouds = STATE / "clouds.yaml"
    if status.returncode != 0 or not clouds.exists():
        pytest.fail(f"the local OpenStack is not running: start it with `{SCRIPT} start` ({status.stderr[-300:]})")
    return clouds


def seed(scenario: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "seed", str(scenario)], capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        pytest.fail(f"seeding {scenario.name} failed: {done.stdout[-800:]} {done.stderr[-800:]}")


@pytest.fixture(scope="session")
def openstack_seed(openstack_clouds: Path):  # type: ignore[no-untyped-def]  # noqa: ARG001 - needs it running
    """Seed a scenario file into the running local OpenStack (idempotent by name)."""
    return seed


# -- the local real Kubernetes control plane (deploy/dev/kubernetes.sh) ----------------------------------------------

K8S_SCRIPT = REPO / "deploy" / "dev" / "kubernetes.sh"
K8S_STATE = Path(os.environ.get("YUNGUAN_K8S_STATE", "/var/tmp/yunguan-k8s"))  # noqa: S108 - the dev script's state
K8S_CONTEXT = "yunguan-local"


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    """The kubeconfig of the running local kube-apiserver (admin token, context ``yunguan-local``)."""
    status = subprocess.run([str(K8S_SCRIPT), "status"], capture_output=True, text=True, check=False, timeout=60)
    path = K8S_STATE / "kubeconfig"
    if status.returncode != 0 or not path.exists():
        hint = f"start it with `{K8S_SCRIPT} start`"
        pytest.fail(f"the local kube-apiserver is not running: {hint} ({status.stderr[-300:]})")
    return path


# -- the local real libvirtd (deploy/dev/libvirt.sh): test driver over TCP and TLS, and a tiny real guest --------------

LIBVIRT_SCRIPT = REPO / "deploy" / "dev" / "libvirt.sh"
LIBVIRT_STATE = Path(os.environ.get("YUNGUAN_LIBVIRT_STATE", "/var/tmp/yunguan-libvirt"))  # noqa: S108 - dev state


@pytest.fixture(scope="session")
def libvirtd() -> Path:
    """The running local libvirtd (TCP 127.0.0.1:16509 without auth, TLS 16514); returns its PKI dir for pkipath."""
    status = subprocess.run([str(LIBVIRT_SCRIPT), "status"], capture_output=True, text=True, check=False, timeout=60)
    if status.returncode != 0:
        pytest.fail(
            f"the local libvirtd is not running: start it with `{LIBVIRT_SCRIPT} start` ({status.stderr[-300:]})"
        )
    return LIBVIRT_STATE / "pki"


@pytest.fixture
def node_files(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write test-driver node files (deploy/dev/libvirt/make_nodes.py) and return their manifest."""

    def make(hosts: int, domains: int, unknown: int = 1, shutoff: int = 0) -> dict:  # type: ignore[type-arg]
        out = tmp_path / f"nodes-{hosts}x{domains}"
        subprocess.run(
            [
                sys.executable,
                str(REPO / "deploy" / "dev" / "libvirt" / "make_nodes.py"),
                f"--hosts={hosts}",
                f"--domains={domains}",
                f"--unknown={unknown}",
                f"--shutoff={shutoff}",
                f"--out={out}",
            ],
            check=True,
            capture_output=True,
        )
        return json.loads((out / "manifest.json").read_text())  # type: ignore[no-any-return]

    return make
