"""The adapter's actions on the real apiserver: the quota really bounds the namespace (admission refuses a claim
above it) and a second call sends nothing; the notice is on the namespace; deletion waits until it is gone."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import kube  # tests/integration/kube.py: scenario setup on the real apiserver
import pytest

from adapters.kubernetes.actions import NOTICE_PREFIX, QUOTA_NAME, KubernetesActions
from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesAuthError
from controlplane.clock import SystemClock
from controlplane.domain import Quantities

GIB = 1024**3


def admitted(create: Callable[[], None], timeout_s: float = 30) -> None:
    """Right after a quota is created, admission refuses with "status unknown for quota" until the controller
    manager has counted it (a real apiserver's behaviour): ask again, bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            create()
        except KubernetesAuthError as exc:
            if "status unknown" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        else:
            return


def refused_above_quota(cluster: Cluster, ns: str) -> KubernetesAuthError:
    """Ask for a 2Gi claim on top of the admitted 4Gi one under a 5Gi quota until admission refuses it. The quota
    controller's periodic recount can lag the claim just admitted (its informer has not seen it yet) and briefly
    lower status.used: a claim admitted in that window is deleted and the request asked again, for at most 60 s."""
    deadline = time.monotonic() + 60
    for attempt in itertools.count():
        name = f"too-big-{attempt}"
        try:
            cluster.request(
                "POST",
                f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
                "create claim",
                body={
                    "metadata": {"name": name},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
                },
            )
        except KubernetesAuthError as exc:
            return exc
        cluster.request("DELETE", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}", "delete claim")
        if time.monotonic() > deadline:
            pytest.fail("a claim above the namespace's quota was still admitted after 60 s")
        time.sleep(0.5)
    raise AssertionError("unreachable")


def test_quota_bounds_the_namespace_notice_shows_and_delete_waits(kubeconfig: Path) -> None:
    cluster = kube.connect(kubeconfig)
    ns = f"it-{uuid.uuid4().hex[:6]}-act"
    kube.namespace(cluster, ns)
    # waiting on the real controller manager: the real clock and sleep are the injected ones, bounded by the timeout
    actions = KubernetesActions(cluster, SystemClock(), time.sleep, timeout_s=120, poll_s=0.5)
    try:
        target = Quantities(vcpu=Decimal("1.5"), memory_bytes=2 * GIB, storage_bytes=5 * GIB)
        assert actions.set_quota(ns, target) is True
        quota = cluster.get(f"/api/v1/namespaces/{ns}/resourcequotas/{QUOTA_NAME}", "read quota")
        assert quota["spec"]["hard"] == {
            "requests.cpu": "1500m",
            "requests.memory": str(2 * GIB),
            "requests.storage": str(5 * GIB),
        }
        assert actions.set_quota(ns, target) is False
        admitted(lambda: kube.claim(cluster, ns, "fits", "4Gi"))  # admission lets a claim within the quota in
        assert "exceeded quota" in str(refused_above_quota(cluster, ns))  # and refuses one above it (403)
        notice = {"finding": "F-2026-0042", "deadline": "2026-12-04"}
        assert actions.annotate(ns, notice) is True
        annotations = cluster.get(f"/api/v1/namespaces/{ns}", "read ns")["metadata"]["annotations"]
        assert annotations[f"{NOTICE_PREFIX}finding"] == "F-2026-0042"
        assert actions.annotate(ns, notice) is False
        assert actions.delete_namespace(ns) is True  # the namespace controller empties it (the claim) first
        assert actions.delete_namespace(ns) is False
    finally:
        kube.drop(cluster, ns)
        cluster.close()
