"""Measured use of a cluster, per namespace and per claim, from the kubelet summary of every node (read through the
apiserver's node proxy), with metrics.k8s.io as the fallback for CPU and memory when a node's summary cannot be read.

Per namespace: CPU cores and memory working-set bytes (sum over its pods' containers), storage used and capacity
(sum over its claims). Per claim (``namespace/name``): storage used and capacity, from the pod volume stats that
carry a pvcRef (a claim mounted by several pods is counted once).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.convert import quantity
from adapters.kubernetes.errors import KubernetesError, translated
from controlplane.usage import UsageBatch, UsageSample

NANO = Decimal(10) ** 9


def _add(totals: dict[tuple[str, str], Decimal], scope: str, metric: str, value: Decimal) -> None:
    totals[(scope, metric)] = totals.get((scope, metric), Decimal(0)) + value


def from_summaries(
    summaries: list[dict[str, Any]],
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], Decimal]]:
    """(namespace, metric) and (namespace/claim, metric) totals from kubelet stats/v1alpha1 Summaries."""
    namespaces: dict[tuple[str, str], Decimal] = {}
    claims: dict[str, tuple[Decimal, Decimal]] = {}
    for summary in summaries:
        for pod in summary.get("pods") or []:
            ns = pod["podRef"]["namespace"]
            for container in pod.get("containers") or []:
                _add(
                    namespaces, ns, "cpu_cores", Decimal((container.get("cpu") or {}).get("usageNanoCores") or 0) / NANO
                )
                _add(
                    namespaces, ns, "memory_bytes", Decimal((container.get("memory") or {}).get("workingSetBytes") or 0)
                )
            for volume in pod.get("volume") or []:
                ref = volume.get("pvcRef")
                if ref:
                    key = f"{ref.get('namespace') or ns}/{ref['name']}"
                    claims[key] = (Decimal(volume.get("usedBytes") or 0), Decimal(volume.get("capacityBytes") or 0))
    per_claim: dict[tuple[str, str], Decimal] = {}
    for key, (used, capacity) in claims.items():
        per_claim[(key, "storage_used_bytes")] = used
        per_claim[(key, "storage_capacity_bytes")] = capacity
        _add(namespaces, key.split("/", 1)[0], "storage_used_bytes", used)
        _add(namespaces, key.split("/", 1)[0], "storage_capacity_bytes", capacity)
    return namespaces, per_claim


def from_pod_metrics(items: list[dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """(namespace, metric) CPU and memory totals from a metrics.k8s.io PodMetricsList."""
    totals: dict[tuple[str, str], Decimal] = {}
    for pod in items:
        ns = pod["metadata"]["namespace"]
        for container in pod.get("containers") or []:
            usage = container.get("usage") or {}
            _add(totals, ns, "cpu_cores", quantity(usage.get("cpu", "0")))
            _add(totals, ns, "memory_bytes", quantity(usage.get("memory", "0")))
    return totals


def collect(cluster: Cluster, cloud: str, now: dt.datetime, ignore: frozenset[str] = frozenset()) -> UsageBatch:
    """One round of samples. A node whose summary fails makes CPU and memory come from metrics.k8s.io for every
    namespace (storage only from the summaries read); if that fails too, the batch is incomplete and says why."""
    problems: list[str] = []
    try:
        nodes = [n["metadata"]["name"] for n in cluster.items("/api/v1/nodes", "list nodes", 500)]
    except KubernetesError as exc:
        return UsageBatch((), complete=False, problems=(str(exc),))
    summaries: list[dict[str, Any]] = []
    for node in nodes:
        try:
            summaries.append(cluster.get(f"/api/v1/nodes/{node}/proxy/stats/summary", f"read summary of {node}"))
        except KubernetesError as exc:
            problems.append(str(exc))
    try:
        with translated("read kubelet summaries"):
            namespaces, claims = from_summaries(summaries)
    except KubernetesError as exc:
        return UsageBatch((), complete=False, problems=(*problems, str(exc)))
    source = "kubelet-summary"
    complete = not problems
    if problems:
        try:
            pods = list(cluster.items("/apis/metrics.k8s.io/v1beta1/pods", "list pod metrics", 500))
            with translated("read pod metrics"):
                fallback = from_pod_metrics(pods)
            namespaces = {k: v for k, v in namespaces.items() if k[1].startswith("storage_")} | fallback
            source, complete = "metrics-api", True
        except KubernetesError as exc:
            problems.append(str(exc))

    def sample(kind: str, scope: str, metric: str, value: Decimal, by: str) -> UsageSample:
        return UsageSample(
            cloud=cloud, scope_kind=kind, scope_id=scope, metric=metric, value=value, time=now, source=by
        )

    samples = [
        sample("namespace", ns, metric, value, "kubelet-summary" if metric.startswith("storage_") else source)
        for (ns, metric), value in sorted(namespaces.items())
        if ns not in ignore
    ]
    samples += [
        sample("claim", key, metric, value, "kubelet-summary")
        for (key, metric), value in sorted(claims.items())
        if key.split("/", 1)[0] not in ignore
    ]
    return UsageBatch(tuple(samples), complete=complete, problems=tuple(problems))
