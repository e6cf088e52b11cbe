"""Reconcile against the real local kube-apiserver: every drift class from a ledger and real namespaces, quotas
and claims; pagination over several pages; a cut-off listing gives a partial run with nothing concluded from
absence."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kube  # tests/integration/kube.py: scenario setup on the real apiserver
import pytest
import yaml
from typer.testing import CliRunner

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.inventory import KubernetesInventory
from controlplane.cli.app import app
from controlplane.clock import SystemClock

CLOUD = "k8s-it"
RUN = uuid.uuid4().hex[:6]  # namespaces of this test session: reruns never meet a namespace still terminating
GI = "Gi"


def ns(name: str) -> str:
    return f"it-{RUN}-{name}"


EVENT = {
    "metadata": {"name": f"it-{RUN}-quota-event"},
    "involvedObject": {"kind": "ResourceQuota", "namespace": f"it-{RUN}-ok", "name": "approved"},
    "reason": "ItQuotaChecked",
    "message": "a test event, as a controller would write it",
    "type": "Normal",
    "count": 3,
    "firstTimestamp": "2026-11-22T01:00:00Z",
    "lastTimestamp": "2026-11-22T01:05:00Z",
    "source": {"component": "it-controller"},
}


def row(code: str, vcpu: int, memory: int, storage: int, namespaces: str = "", **extra: Any) -> dict[str, Any]:
    base = {
        "unit": "市人力资源和社会保障局",
        "system": f"测试系统 {code}",
        "system code": code,
        "MLPS level": 2,
        "zone": "extranet",
        "mode": "shared",
        "cloud": CLOUD,
        "vCPU": vcpu,
        "memory GiB": memory,
        "storage GiB": storage,
        "instances": 0,
        "approval number": f"遂政数〔2026〕{code}号",
        "approval date": "2026-01-10",
        "effective from": "2026-01-15",
        "kind": "standard",
        "stable since": "2026-02-01",
        "namespaces": namespaces,
    }
    return base | extra


@pytest.fixture(scope="module")
def cluster(kubeconfig: Path) -> Iterator[Cluster]:
    """The scenario's namespaces, made once for the module and deleted after it."""
    c = kube.connect(kubeconfig)
    kube.namespace(c, ns("ok"))
    kube.quota(c, ns("ok"), {"requests.cpu": "4", "requests.memory": f"8{GI}", "requests.storage": f"100{GI}"})
    kube.claim(c, ns("ok"), "data", f"50{GI}")
    kube.namespace(c, ns("big"))
    kube.quota(c, ns("big"), {"requests.cpu": "8", "requests.memory": f"4{GI}", "requests.storage": f"100{GI}"})
    kube.namespace(c, ns("open"), {"yunguan.io/system": "K-OPEN"})
    kube.namespace(c, ns("pvc"))  # claims made before the quota: admission let them in, the quota came later
    kube.claim(c, ns("pvc"), "a", f"100{GI}")
    kube.claim(c, ns("pvc"), "b", f"50{GI}")
    kube.quota(c, ns("pvc"), {"requests.cpu": "2", "requests.memory": f"4{GI}", "requests.storage": f"100{GI}"})
    kube.namespace(c, ns("gone"))
    kube.claim(c, ns("gone"), "old", f"10{GI}")
    kube.namespace(c, ns("rogue"))
    limits = {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"cpu": "500m"}}]}
    kube.create(c, f"/api/v1/namespaces/{ns('rogue')}/limitranges", {"metadata": {"name": "defaults"}, "spec": limits})
    kube.create(c, f"/api/v1/namespaces/{ns('ok')}/events", EVENT)
    yield c
    for name in ("ok", "big", "open", "pvc", "gone", "rogue"):
        kube.drop(c, ns(name))
    c.close()


@pytest.fixture
def cli(cluster: Cluster, kubeconfig: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]  # noqa: ARG001 - needs the scenario
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "yunguan.yaml"
    cloud = {"name": CLOUD, "kind": "kubernetes", "vendor": "本地测试云", "zone": "extranet"}
    cloud |= {"connection": kube.CONTEXT, "kubeconfig": str(kubeconfig), "page_size": 2}
    config.write_text(yaml.safe_dump({"clouds": [cloud], "database": {"url": db_url}}), encoding="utf-8")
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    ledger = tmp_path / "ledger.yaml"
    rows = [
        row("K-OK", 4, 8, 100, ns("ok")),
        row("K-BIG", 4, 8, 100, ns("big")),
        row("K-OPEN", 2, 4, 20),
        row("K-PVC", 2, 4, 100, ns("pvc")),
        row("K-LATE", 2, 4, 20, ns("late"), **{"effective from": "2026-10-01", "approval date": "2026-09-20"}),
        row("K-GONE", 1, 1, 10, ns("gone"), status="已注销"),
    ]
    ledger.write_text(yaml.safe_dump({"rows": rows}, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    imported = run("ledger", "import", str(ledger))
    assert imported.exit_code == 0, imported.stdout + imported.stderr
    return run


def ours(cli) -> set[tuple[str, str | None, str, str]]:  # type: ignore[no-untyped-def]
    rows = json.loads(cli("drift", "--cloud", CLOUD, "-o", "json").stdout or "[]")
    found = {(r["drift_class"], r["system"], r["resource_kind"], r["resource_name"] or r["resource_id"]) for r in rows}
    # other tests' and earlier runs' namespaces share the cluster and are, rightly, nobody's
    return {d for d in found if d[1] is not None or d[3].startswith(f"it-{RUN}-")}


def test_every_drift_class_from_real_namespaces(cli) -> None:  # type: ignore[no-untyped-def]
    """Exactly the drift the scenario was built to show; a second run finds nothing new."""
    first = cli("reconcile", CLOUD)
    assert first.exit_code == 1, first.stdout + first.stderr
    assert ours(cli) == {
        ("unapproved", None, "namespace", ns("rogue")),
        ("over", "K-BIG", "quota", "K-BIG:vcpu"),
        ("under", "K-BIG", "quota", "K-BIG:memory_bytes"),
        ("over", "K-OPEN", "quota", "K-OPEN:vcpu"),
        ("over", "K-OPEN", "quota", "K-OPEN:memory_bytes"),
        ("over", "K-OPEN", "quota", "K-OPEN:storage_bytes"),
        ("over", "K-PVC", "allocation", "K-PVC:storage_bytes"),
        ("under", "K-LATE", "allocation", "K-LATE:provisioning"),
        ("orphan", "K-GONE", "namespace", ns("gone")),
    }
    rows = json.loads(cli("drift", "--cloud", CLOUD, "-o", "json").stdout)
    rogue = next(r for r in rows if r["resource_name"] == ns("rogue"))
    facts = rogue["detail"]["facts"]  # its LimitRange, shown with it
    assert (facts["limit_range"], facts["default_request"], facts["default_limit"]) == (
        "defaults",
        "cpu=100m",
        "cpu=500m",
    )
    second = cli("reconcile", CLOUD)
    assert second.exit_code == 1
    rows = json.loads(cli("drift", "--cloud", CLOUD, "-o", "json").stdout)
    assert not [r for r in rows if r["is_new"] and (r["system"] or r["resource_name"].startswith(f"it-{RUN}-"))]


def test_listing_pages_through_continue_tokens(cluster: Cluster) -> None:
    """With pages of 2 every namespace of the scenario is listed, in more requests than there are lists."""
    inventory = KubernetesInventory(CLOUD, SystemClock(), page_size=2, cluster=cluster).take()
    assert inventory.complete, inventory.problems
    names = {g.name for g in inventory.groups}
    assert {ns(n) for n in ("ok", "big", "open", "pvc", "gone", "rogue")} <= names
    assert inventory.api_calls > 4 + len(names) // 2 - 1
    claims = {(v.group_id, v.name): v.size_bytes for v in inventory.volumes}
    assert claims[(ns("pvc"), "a")] == 100 * 1024**3
    quota = next(q for q in inventory.quotas if q.group_id == ns("big"))
    assert (quota.vcpu, quota.memory_bytes) == (8, 4 * 1024**3)


def test_events_reach_the_operation_log_once(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """An Event of a managed namespace is in the operation log after a reconcile, with its reason, object, count
    and times, once however often it runs."""
    from controlplane.audit.log import iter_events
    from controlplane.store.engine import make_engine

    cli("reconcile", CLOUD)
    cli("reconcile", CLOUD)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        events = [e for e in iter_events(conn) if e.action == "k8s.event.ItQuotaChecked"]
    engine.dispose()
    ours = [e for e in events if e.target == f"resourcequota:{ns('ok')}/approved"]
    assert len(ours) == 1
    assert ours[0].actor == f"cloud:{CLOUD}:it-controller"
    after = json.loads(ours[0].after)
    assert (after["count"], after["first"], after["last"]) == (3, "2026-11-22T01:00:00Z", "2026-11-22T01:05:00Z")


def test_unreachable_apiserver_gives_a_partial_run_and_no_false_drift(  # type: ignore[no-untyped-def]
    cli, kubeconfig: Path, tmp_path: Path
) -> None:
    """With the apiserver unreachable the run is partial (exit 6) and says why: no 'under' from namespaces it could
    not see, nothing invented."""
    assert cli("reconcile", CLOUD).exit_code == 1
    before = ours(cli)
    broken = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    broken["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    (tmp_path / "broken-kubeconfig").write_text(yaml.safe_dump(broken), encoding="utf-8")
    config = tmp_path / "yunguan.yaml"
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["clouds"][0]["kubeconfig"] = str(tmp_path / "broken-kubeconfig")
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = cli("reconcile", CLOUD)
    assert result.exit_code == 6, result.stdout + result.stderr
    assert "listing incomplete" in result.stderr
    after = ours(cli)
    assert not any(c == "under" for c, *_ in after)
    assert after <= before
