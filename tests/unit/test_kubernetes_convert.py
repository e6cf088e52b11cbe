"""The Kubernetes adapter's parsing of apiserver JSON into the core's models."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.kubernetes.actions import quota_hard, same_hard
from adapters.kubernetes.convert import limit_facts, quota_from, quota_used_facts, record_from
from controlplane.domain import Quantities

GIB = 1024**3


def rq(hard: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "q"}, "spec": {"hard": hard}}


def test_quota_is_the_tightest_hard_limit_over_all_quotas() -> None:
    """Requests are bounded by limits too, and a pod must pass every quota: the smallest bound wins."""
    quota = quota_from("ns", [rq({"requests.cpu": "4", "limits.memory": "8Gi"}), rq({"limits.cpu": "2500m"})])
    assert quota is not None
    assert (quota.vcpu, quota.memory_bytes, quota.storage_bytes) == (Decimal("2.5"), 8 * GIB, None)
    assert quota_from("ns", []) is None  # no ResourceQuota at all: unbounded, said by the engine


def test_limit_ranges_as_facts() -> None:
    ranges = [
        {"metadata": {"name": "b"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}},
        {"metadata": {"name": "a"}, "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}}]}},
    ]
    assert limit_facts(ranges) == {"limit_range": "a,b", "default_request": "cpu=100m", "max": "cpu=2"}
    assert limit_facts([]) == {"limit_range": "none"}


def test_each_occurrence_of_an_event_is_its_own_record() -> None:
    event = {
        "metadata": {"uid": "u1", "namespace": "ns"},
        "involvedObject": {"kind": "PersistentVolumeClaim", "namespace": "ns", "name": "data"},
        "reason": "FailedBinding",
        "count": 4,
        "lastTimestamp": "2026-11-22T03:00:00Z",
        "source": {"component": "persistentvolume-controller"},
    }
    record = record_from("k8s.event", event)
    assert (record.record_id, record.target, record.user) == (
        "u1/4",
        "persistentvolumeclaim:ns/data",
        "persistentvolume-controller",
    )


def test_quota_targets_compare_as_quantities() -> None:
    hard = quota_hard(Quantities(vcpu=Decimal("0.5"), memory_bytes=GIB))
    assert hard == {"requests.cpu": "500m", "requests.memory": str(GIB), "requests.storage": "0"}
    assert same_hard({"requests.cpu": "0.5", "requests.memory": "1Gi", "requests.storage": "0"}, hard)
    assert not same_hard({"requests.cpu": "0.5", "requests.memory": "1Gi"}, hard)


def test_quota_used_as_facts() -> None:
    """The controller manager's tally, as the largest count any of the namespace's quotas holds."""
    quotas = [
        rq({}) | {"status": {"used": {"requests.storage": "120Gi", "requests.cpu": "500m"}}},
        rq({}) | {"status": {"used": {"requests.cpu": "750m"}}},
    ]
    assert quota_used_facts(quotas) == {"quota_used": f"requests.cpu=0.75,requests.storage={120 * GIB}"}
    assert quota_used_facts([rq({})]) == {}
