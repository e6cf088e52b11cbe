"""Following Events on the real apiserver: the first poll lists what is there, a later one brings an event written
after it through the watch, from the remembered resourceVersion."""

from __future__ import annotations

import uuid
from pathlib import Path

import kube  # tests/integration/kube.py: scenario setup on the real apiserver

from adapters.kubernetes.events import EventWatch
from controlplane.config import PLATFORM_GROUPS


def an_event(namespace: str, name: str, reason: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "ConfigMap", "namespace": namespace, "name": "settings"},
        "reason": reason,
        "message": "written by the test",
        "type": "Normal",
        "count": 1,
        "firstTimestamp": "2026-11-22T02:00:00Z",
        "lastTimestamp": "2026-11-22T02:00:00Z",
        "source": {"component": "it-events"},
    }


def test_watch_brings_events_written_after_the_list(kubeconfig: Path) -> None:
    cluster = kube.connect(kubeconfig)
    ns = f"it-{uuid.uuid4().hex[:6]}-events"
    kube.namespace(cluster, ns)
    try:
        kube.create(cluster, f"/api/v1/namespaces/{ns}/events", an_event(ns, "before", "ItBefore"))
        watch = EventWatch(cluster, ignore_namespaces=frozenset(PLATFORM_GROUPS["kubernetes"]))
        first = watch.poll(timeout_s=1)
        assert first.complete, first.problems
        assert "ItBefore" in {r.action for r in first.records if r.project == ns}
        listed_at = watch.resource_version
        kube.create(cluster, f"/api/v1/namespaces/{ns}/events", an_event(ns, "after", "ItAfter"))
        second = watch.poll(timeout_s=1)
        assert second.complete, second.problems
        assert [r.action for r in second.records if r.project == ns] == ["ItAfter"]
        assert watch.relists == 1
        assert int(watch.resource_version or 0) > int(listed_at or 0)
    finally:
        kube.drop(cluster, ns)
        cluster.close()
