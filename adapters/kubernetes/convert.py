"""The apiserver's JSON -> the core's frozen observed models. The only place that knows Kubernetes object shapes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from controlplane.domain import FootprintKind
from controlplane.reconcile.observed import ObservedGroup, ObservedQuota, ObservedVolume
from controlplane.records import CloudRecord

SYSTEM_LABEL = "yunguan.io/system"
# hard limits that bound a namespace's CPU and memory: requests are bounded by limits too, so the tightest wins
CPU_KEYS = ("requests.cpu", "cpu", "limits.cpu")
MEMORY_KEYS = ("requests.memory", "memory", "limits.memory")
STORAGE_KEYS = ("requests.storage",)


def quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("500m", "4Gi", "1G", "2") as a number of base units (cores, bytes)."""
    from kubernetes.utils.quantity import parse_quantity

    return Decimal(parse_quantity(value))


def limit_facts(limit_ranges: list[dict[str, Any]]) -> dict[str, str]:
    """What a namespace's LimitRanges give its containers by default and allow at most, as an operator reads it
    next to its quota (a quota on requests refuses pods without requests unless a LimitRange supplies them)."""
    if not limit_ranges:
        return {"limit_range": "none"}
    facts: dict[str, str] = {"limit_range": ",".join(sorted(r["metadata"]["name"] for r in limit_ranges))}
    for key, field in (("default_request", "defaultRequest"), ("default_limit", "default"), ("max", "max")):
        found = {
            f"{resource}={value}"
            for r in limit_ranges
            for item in (r.get("spec") or {}).get("limits") or []
            if item.get("type") == "Container"
            for resource, value in (item.get(field) or {}).items()
        }
        if found:
            facts[key] = ",".join(sorted(found))
    return facts


def quota_used_facts(quotas: list[dict[str, Any]]) -> dict[str, str]:
    """What the namespace's quotas count as used now (``status.used``, kept by the controller manager)."""
    used: dict[str, Decimal] = {}
    for q in quotas:
        for resource, value in ((q.get("status") or {}).get("used") or {}).items():
            used[resource] = max(used.get(resource, Decimal(0)), quantity(value))
    return {"quota_used": ",".join(f"{k}={v.normalize():f}" for k, v in sorted(used.items()))} if used else {}


def group_from(
    namespace: dict[str, Any],
    limit_ranges: list[dict[str, Any]] | None = None,
    quotas: list[dict[str, Any]] | None = None,
) -> ObservedGroup:
    meta = namespace["metadata"]
    labels = meta.get("labels") or {}
    return ObservedGroup(
        kind=FootprintKind.NAMESPACE,
        id=meta["name"],
        name=meta["name"],
        system_label=labels.get(SYSTEM_LABEL),
        facts=limit_facts(limit_ranges or []) | quota_used_facts(quotas or []),
    )


def _tightest(quotas: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> Decimal | None:
    found: list[Decimal] = []
    for q in quotas:
        hard = (q.get("spec") or {}).get("hard") or {}
        found.extend(quantity(hard[k]) for k in keys if k in hard)
    return min(found) if found else None


def quota_from(namespace: str, quotas: list[dict[str, Any]]) -> ObservedQuota | None:
    """A namespace's effective quota: each quantity bounded by the tightest hard limit of all its ResourceQuotas
    (the apiserver admits a pod only if every quota allows it); None when the namespace has no ResourceQuota."""
    if not quotas:
        return None
    memory = _tightest(quotas, MEMORY_KEYS)
    storage = _tightest(quotas, STORAGE_KEYS)
    return ObservedQuota(
        group_id=namespace,
        vcpu=_tightest(quotas, CPU_KEYS),
        memory_bytes=None if memory is None else int(memory),
        storage_bytes=None if storage is None else int(storage),
        instances=None,
    )


def volume_from(claim: dict[str, Any], volumes: dict[str, dict[str, Any]]) -> ObservedVolume:
    """A PersistentVolumeClaim, sized by what it requests, with its bound PersistentVolume's reclaim policy."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    bound = spec.get("volumeName") or ""
    volume = volumes.get(bound) or {}
    return ObservedVolume(
        id=meta.get("uid") or f"{meta['namespace']}/{meta['name']}",
        name=meta["name"],
        group_id=meta["namespace"],
        size_bytes=int(quantity(requested)),
        status=(claim.get("status") or {}).get("phase") or "",
        storage_class=spec.get("storageClassName") or "",
        bound_to=bound,
        reclaim_policy=(volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "",
    )


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


def event_time(event: dict[str, Any]) -> dt.datetime | None:
    """When the event last happened: lastTimestamp, else eventTime (events.k8s.io style), else creation."""
    meta = event.get("metadata") or {}
    stamp = event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp")
    return parse_time(stamp) if stamp else None


def record_from(source: str, event: dict[str, Any]) -> CloudRecord:
    """A core/v1 Event as a cloud record. Kubernetes folds repeats into one Event with a growing count, so each
    count is its own record (uid/count): every occurrence is logged once."""
    meta = event["metadata"]
    involved = event.get("involvedObject") or {}
    reporter = (event.get("source") or {}).get("component") or event.get("reportingComponent") or "kubernetes"
    count = int(event.get("count") or 1)
    when = event_time(event)
    if when is None:
        raise ValueError(f"event {meta.get('uid')} has no time")
    return CloudRecord(
        source=source,
        record_id=f"{meta['uid']}/{count}",
        time=when,
        user=str(reporter),
        project=str(meta.get("namespace") or ""),
        action=str(event.get("reason") or "Unknown"),
        target=f"{str(involved.get('kind') or 'object').lower()}:{involved.get('namespace') or ''}/"
        f"{involved.get('name') or ''}",
        detail={
            "type": event.get("type") or "",
            "message": event.get("message") or "",
            "count": count,
            "first": event.get("firstTimestamp") or "",
            "last": event.get("lastTimestamp") or "",
        },
    )
