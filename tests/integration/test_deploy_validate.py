"""The deployment files checked by the real tools: ``systemd-analyze verify`` (and its security exposure) on the
unit, and ``kubectl apply --dry-run=server`` of the Kubernetes manifests against the local kube-apiserver, which
validates every field against the server's schema. The container image is not built here (no container engine):
``tests/unit/test_deploy_files.py`` parses the container file instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CACHE = Path(os.environ.get("YUNGUAN_CACHE", "/var/cache/yunguan"))  # deploy/dev/kubernetes.sh caches kubectl here


def tool(name: str, *fallbacks: Path) -> str:
    found = shutil.which(name) or next((str(p) for p in fallbacks if p.is_file()), None)
    if found is None:
        pytest.fail(
            f"{name} is not installed (systemd-analyze: apt-get install systemd; kubectl: kubernetes.sh install)"
        )
    return found


def unit_here(tmp_path: Path) -> Path:
    """The unit with its ExecStart pointing at this checkout's yunguan (verify checks the binary exists)."""
    text = (DEPLOY / "systemd" / "yunguan-agent.service").read_text(encoding="utf-8")
    here = tmp_path / "yunguan-agent.service"
    here.write_text(text.replace("/opt/yunguan/venv/bin/yunguan", str(Path(sys.executable).with_name("yunguan"))))
    return here


def test_systemd_unit_verifies_and_is_well_hardened(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing to say; the offline security exposure is at most 2.0 ("OK")."""
    analyze = tool("systemd-analyze")
    unit = unit_here(tmp_path)
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path
    )
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert found, security.stdout[-2000:] + security.stderr[-1000:]
    assert float(found.group(1)) <= 2.0, security.stdout[-3000:]


def test_kubernetes_manifests_pass_a_server_dry_run(kubeconfig: Path) -> None:
    """Every manifest (rbac, config, deployment, service, network policy) is accepted by the real apiserver in a
    server-side dry run, fields validated against its schema; nothing is created."""
    kubectl = tool("kubectl", *sorted(CACHE.glob("k8s-*/bin/kubectl")))
    # A server dry run does not create the namespace it would create, so the namespaced objects need it to exist
    # (the NamespaceLifecycle admission plugin refuses them otherwise): make it, as an operator's first apply would.
    namespace = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "create", "namespace", "yunguan-system"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert namespace.returncode == 0 or "AlreadyExists" in namespace.stderr, namespace.stderr
    done = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "apply", "--dry-run=server", "-k", str(DEPLOY / "kubernetes")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for kind in ("configmap/yunguan-config", "deployment.apps/yunguan-agent", "service/yunguan-agent"):
        assert f"{kind} " in done.stdout and "(server dry run)" in done.stdout, done.stdout
    assert "networkpolicy.networking.k8s.io/yunguan-agent" in done.stdout
