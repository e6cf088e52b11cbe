"""Measured use on the real apiserver: the kubelet summary of a node, served by the fake kubelet of
deploy/dev/kubernetes.sh and read through the apiserver's node proxy, becomes per-namespace samples that
`yunguan usage show` puts against the approval; a node whose summary cannot be read makes CPU and memory come from
metrics.k8s.io."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kube  # tests/integration/kube.py: scenario setup on the real apiserver
import pytest
import yaml
from conftest import K8S_SCRIPT, K8S_STATE
from typer.testing import CliRunner

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.inventory import KubernetesInventory
from controlplane.cli.app import app
from controlplane.clock import SystemClock
from controlplane.config import PLATFORM_GROUPS

RUN = uuid.uuid4().hex[:6]
NS = f"it-{RUN}-use"
NODE, PORT = "it-node-a", int(os.environ.get("YUNGUAN_IT_KUBELET_PORT", "17301"))
DATA = K8S_STATE / "it-node-a.json"
GI = 1024**3


def write_data(cpu_nanocores: tuple[int, ...], memory: int, used: int) -> None:
    """The fake kubelet re-reads its file on every request: write it atomically."""
    pod: dict[str, Any] = {
        "namespace": NS,
        "name": "web-0",
        "containers": [
            {"name": f"c{i}", "cpu_nanocores": n, "memory_working_set_bytes": memory}
            for i, n in enumerate(cpu_nanocores)
        ],
        "volumes": [{"pvc": "data", "used_bytes": used, "capacity_bytes": 50 * GI}],
    }
    platform = {"namespace": "kube-system", "name": "dns", "containers": [{"name": "c", "cpu_nanocores": 10**8}]}
    tmp = DATA.with_suffix(".tmp")
    tmp.write_text(json.dumps({"node": NODE, "pods": [pod, platform]}), encoding="utf-8")
    tmp.replace(DATA)


def script(*args: str) -> None:
    done = subprocess.run([str(K8S_SCRIPT), *args], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"kubernetes.sh {' '.join(args)} failed: {done.stderr[-800:]}")


@pytest.fixture(scope="module")
def node(kubeconfig: Path) -> Iterator[Cluster]:
    cluster = kube.connect(kubeconfig)
    kube.namespace(cluster, NS)
    write_data((250_000_000, 500_000_000), GI, 10 * GI)
    script("kubelet", NODE, str(PORT), str(DATA))
    yield cluster
    kube.drop(cluster, NS)
    cluster.close()


@pytest.fixture
def cli(node: Cluster, kubeconfig: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]  # noqa: ARG001 - needs the node
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "yunguan.yaml"
    cloud = {"name": "k8s-use", "kind": "kubernetes", "vendor": "本地测试云", "zone": "extranet"}
    cloud |= {"connection": kube.CONTEXT, "kubeconfig": str(kubeconfig)}
    config.write_text(yaml.safe_dump({"clouds": [cloud], "database": {"url": db_url}}), encoding="utf-8")
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    row = {
        "unit": "市大数据中心",
        "system": "用量测试",
        "system code": "K-USE",
        "MLPS level": 2,
        "zone": "extranet",
        "mode": "shared",
        "cloud": "k8s-use",
        "vCPU": 4,
        "memory GiB": 8,
        "storage GiB": 100,
        "instances": 0,
        "approval number": "遂政数〔2026〕U1号",
        "approval date": "2026-01-10",
        "effective from": "2026-01-15",
        "kind": "standard",
        "stable since": "2026-02-01",
        "namespaces": NS,
    }
    ledger = tmp_path / "ledger.yaml"
    ledger.write_text(yaml.safe_dump({"rows": [row]}, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(ledger)).exit_code == 0
    return run


def shown(cli, target: str) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    done = cli("usage", "show", target, "-o", "json")
    assert done.exit_code == 0, done.stdout + done.stderr
    return {r["metric"]: r for r in json.loads(done.stdout)}


def test_kubelet_summary_against_the_approval(cli) -> None:  # type: ignore[no-untyped-def]
    """0.75 cores of 4, 2 GiB of 8, 10 GiB of 100 used; a change in the kubelet's numbers shows at the next collect."""
    write_data((250_000_000, 500_000_000), GI, 10 * GI)
    collected = cli("usage", "collect", "k8s-use")
    assert collected.exit_code == 0, collected.stdout + collected.stderr
    rows = shown(cli, "K-USE")
    assert (rows["cpu_cores"]["used"], rows["cpu_cores"]["approved"], rows["cpu_cores"]["percent"]) == (
        "0.75",
        "4",
        "18.8",
    )
    assert (rows["memory_bytes"]["used"], rows["memory_bytes"]["approved"]) == ("2", "8")
    assert (rows["storage_used_bytes"]["used"], rows["storage_capacity_bytes"]["used"]) == ("10", "50")
    assert rows["cpu_cores"]["source"] == "kubelet-summary"
    write_data((2_000_000_000,), GI, 10 * GI)
    assert cli("usage", "collect", "k8s-use").exit_code == 0
    assert shown(cli, NS)["cpu_cores"]["used"] == "2"


def test_unreadable_node_falls_back_to_metrics_api(node: Cluster) -> None:
    """A second node whose kubelet does not answer: CPU and memory come from metrics.k8s.io for every namespace,
    storage from the summaries that were read, and the batch is still complete."""
    write_data((250_000_000, 500_000_000), GI, 10 * GI)
    script("metrics", str(PORT))
    broken = f"it-node-dead-{RUN}"
    node.request("POST", "/api/v1/nodes", "create node", body={"metadata": {"name": broken}})
    status = {
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": PORT + 1}},  # nothing listens there
        }
    }
    node.request(
        "PATCH",
        f"/api/v1/nodes/{broken}/status",
        "node status",
        body=status,
        content_type="application/merge-patch+json",
    )
    try:
        platform = PLATFORM_GROUPS["kubernetes"]
        batch = KubernetesInventory("k8s-use", SystemClock(), cluster=node, ignore_namespaces=platform).usage()
    finally:
        node.request("DELETE", f"/api/v1/nodes/{broken}", "delete node")
    assert batch.complete, batch.problems
    assert any(broken in p for p in batch.problems)
    mine = {s.metric: s for s in batch.samples if s.scope_kind == "namespace" and s.scope_id == NS}
    assert (mine["cpu_cores"].value, mine["cpu_cores"].source) == (0.75, "metrics-api")
    assert (mine["storage_used_bytes"].value, mine["storage_used_bytes"].source) == (10 * GI, "kubelet-summary")
    assert not [s for s in batch.samples if s.scope_id == "kube-system"]  # the platform's own: nobody's use
