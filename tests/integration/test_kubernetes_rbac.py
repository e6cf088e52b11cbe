"""The agent as the ServiceAccount bound to exactly deploy/kubernetes/rbac.yaml, on the real apiserver: what it
needs works; a write outside the role answers 403 and is reported as a clear error."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import kube  # tests/integration/kube.py: scenario setup on the real apiserver
import pytest
import yaml

from adapters.kubernetes.actions import KubernetesActions
from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesAuthError, KubernetesConflictError
from adapters.kubernetes.inventory import KubernetesInventory
from adapters.kubernetes.wipe import KubernetesWiper
from controlplane.clock import SystemClock
from controlplane.domain import Quantities
from controlplane.termination.ports import TargetKind

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "deploy" / "kubernetes" / "rbac.yaml"
PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


def apply(admin: Cluster, doc: dict[str, Any]) -> None:
    """Create, or replace what an earlier run left (so the role is exactly the file's)."""
    meta = doc["metadata"]
    path = PATHS[doc["kind"]].format(namespace=meta.get("namespace", ""))
    try:
        admin.request("POST", path, f"create {doc['kind']} {meta['name']}", body=doc)
    except KubernetesConflictError:
        current = admin.get(f"{path}/{meta['name']}", f"read {meta['name']}")
        doc = doc | {"metadata": meta | {"resourceVersion": current["metadata"]["resourceVersion"]}}
        admin.request("PUT", f"{path}/{meta['name']}", f"replace {meta['name']}", body=doc)


def agent_token(admin: Cluster, timeout_s: float = 60) -> str:
    """The ServiceAccount's token, from the secret the controller manager makes for it (v1.20)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        account = admin.get("/api/v1/namespaces/yunguan-system/serviceaccounts/yunguan-agent", "read account")
        for ref in account.get("secrets") or []:
            secret = admin.get(f"/api/v1/namespaces/yunguan-system/secrets/{ref['name']}", "read token")
            if (secret.get("data") or {}).get("token"):
                return base64.b64decode(secret["data"]["token"]).decode()
        time.sleep(0.5)  # the controller manager's tokens controller is real: wait for it, bounded
    pytest.fail("no token secret for the yunguan-agent ServiceAccount")


@pytest.fixture(scope="module")
def token(kubeconfig: Path) -> str:
    """The agent ServiceAccount's token, bound to exactly deploy/kubernetes/rbac.yaml."""
    admin = kube.connect(kubeconfig)
    for doc in yaml.safe_load_all(RBAC.read_text(encoding="utf-8")):
        apply(admin, doc)
    found = agent_token(admin)
    admin.close()
    return found


@pytest.fixture(scope="module")
def agent(kubeconfig: Path, token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    admin = kube.connect(kubeconfig)
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    config["users"] = [{"name": "yunguan-agent", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "yunguan-agent"
    path = tmp_path_factory.mktemp("agent") / "kubeconfig"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    cluster = Cluster.connect(path, kube.CONTEXT, time.sleep)
    yield cluster
    cluster.close()
    admin.close()


def test_agent_role_lists_everything_the_inventory_needs(agent: Cluster) -> None:
    inventory = KubernetesInventory("k8s-it", SystemClock(), cluster=agent).take()
    assert inventory.complete, inventory.problems
    assert "yunguan-system" in {g.name for g in inventory.groups}


def test_agent_role_sets_a_quota(agent: Cluster, kubeconfig: Path) -> None:
    admin = kube.connect(kubeconfig)
    name = f"it-rbac-{uuid.uuid4().hex[:6]}"
    kube.namespace(admin, name)
    try:
        actions = KubernetesActions(agent, SystemClock(), time.sleep)
        assert actions.set_quota(name, Quantities(vcpu=Decimal(2), memory_bytes=2**31, storage_bytes=2**34)) is True
    finally:
        kube.drop(admin, name)


def test_agent_role_lists_a_footprint_and_starts_a_wipe_job(agent: Cluster, kubeconfig: Path) -> None:
    """Termination as the agent's account: the namespace's claims, volumes and the namespace listed completely, and
    a claim's wipe Job created, read and removed."""
    admin = kube.connect(kubeconfig)
    name = f"it-rbac-{uuid.uuid4().hex[:6]}"
    kube.namespace(admin, name)
    try:
        kube.claim(admin, name, "data", "1Gi")
        wiper = KubernetesWiper("k8s-it", SystemClock(), cluster=agent)
        listing = wiper.footprint([name])
        assert listing.complete, listing.reason
        (claim,) = [t for t in listing.targets if t.kind is TargetKind.PVC]
        job = wiper.start(claim)
        assert job["metadata"]["namespace"] == name
        path = f"/apis/batch/v1/namespaces/{name}/jobs/{job['metadata']['name']}"
        assert agent.get(path, "read the wipe job")["metadata"]["name"] == job["metadata"]["name"]
        agent.request("DELETE", path, "delete the wipe job", body={"propagationPolicy": "Background"})
    finally:
        kube.drop(admin, name)
        admin.close()


def test_write_outside_the_role_is_refused_and_said_plainly(agent: Cluster) -> None:
    """Creating a Secret is not in the role: 403, reported as an auth error naming the request and the account."""
    body = {"metadata": {"name": "not-allowed"}, "stringData": {"k": "v"}}
    with pytest.raises(KubernetesAuthError) as refused:
        agent.request("POST", "/api/v1/namespaces/default/secrets", "create secret default/not-allowed", body=body)
    message = str(refused.value)
    assert message.startswith("create secret default/not-allowed: HTTP 403:")
    assert "system:serviceaccount:yunguan-system:yunguan-agent" in message
    assert refused.value.status == 403


def test_in_cluster_account_is_used_with_no_kubeconfig(
    kubeconfig: Path, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With neither kubeconfig nor context the adapter connects as a pod would: the service host and port from the
    environment, the token and CA from the ServiceAccount mount (here files in a temp dir, as the kubelet writes)."""
    from kubernetes.config import incluster_config

    cluster_entry = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))["clusters"][0]["cluster"]
    (tmp_path / "token").write_text(token, encoding="utf-8")
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster_entry["certificate-authority-data"]))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    host, port = cluster_entry["server"].removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    inventory = KubernetesInventory("k8s-it", SystemClock(), kubeconfig=None, context=None).take()
    assert inventory.complete, inventory.problems
    assert "yunguan-system" in {g.name for g in inventory.groups}
