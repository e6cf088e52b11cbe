"""The inventory of one Kubernetes cluster: namespaces, ResourceQuotas, LimitRanges, PersistentVolumeClaims and
their PersistentVolumes, each listed with ``limit``/``continue``, side by side."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from adapters.kubernetes.client import Cluster, Sleep
from adapters.kubernetes.convert import event_time, group_from, quota_from, record_from, volume_from
from adapters.kubernetes.errors import KubernetesError, translated
from adapters.kubernetes.usage import collect
from controlplane.clock import Clock
from controlplane.reconcile.observed import Inventory, QuotaRole
from controlplane.records import CloudRecord, RecordBatch
from controlplane.usage import UsageBatch

EVENT_LOOKBACK = dt.timedelta(minutes=10)  # events are asked from this long before the cursor (late writes)

LISTS = {
    "namespaces": "/api/v1/namespaces",
    "resourcequotas": "/api/v1/resourcequotas",
    "limitranges": "/api/v1/limitranges",
    "persistentvolumeclaims": "/api/v1/persistentvolumeclaims",
    "persistentvolumes": "/api/v1/persistentvolumes",
}


class KubernetesInventory:
    """An inventory source for one cluster; connects on first use, so a dead cluster gives an incomplete inventory."""

    def __init__(
        self,
        cloud: str,
        clock: Clock,
        *,
        kubeconfig: Path | None = None,
        context: str | None = None,
        page_size: int = 500,
        sleep: Sleep = time.sleep,
        cluster: Cluster | None = None,
        ignore_namespaces: tuple[str, ...] = (),
    ) -> None:
        self.cloud = cloud
        self.clock = clock
        self.kubeconfig = kubeconfig
        self.context = context
        self.page_size = page_size
        self.sleep = sleep
        self.cluster = cluster
        self.ignore_namespaces = frozenset(ignore_namespaces)

    def connected(self) -> Cluster:
        if self.cluster is None:
            self.cluster = Cluster.connect(self.kubeconfig, self.context, self.sleep)
        return self.cluster

    def take(self) -> Inventory:
        taken_at = self.clock.now()
        try:
            cluster = self.connected()
        except KubernetesError as exc:
            return Inventory(cloud=self.cloud, taken_at=taken_at, complete=False, problems=(str(exc),))
        start = cluster.requests
        problems: list[str] = []

        def listing(kind: str) -> list[dict[str, Any]]:
            try:
                return list(cluster.items(LISTS[kind], f"list {kind}", self.page_size))
            except KubernetesError as exc:
                problems.append(str(exc))
                return []

        with ThreadPoolExecutor(max_workers=len(LISTS)) as pool:
            listed = dict(zip(LISTS, pool.map(listing, LISTS), strict=True))
        try:
            with translated("read the listings"):
                return self._inventory(taken_at, listed, problems, cluster.requests - start)
        except KubernetesError as exc:
            return Inventory(cloud=self.cloud, taken_at=taken_at, complete=False, problems=(*problems, str(exc)))

    def _inventory(
        self, taken_at: dt.datetime, listed: dict[str, list[dict[str, Any]]], problems: list[str], calls: int
    ) -> Inventory:
        quotas_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for quota in listed["resourcequotas"]:
            quotas_of[quota["metadata"]["namespace"]].append(quota)
        volumes = {v["metadata"]["name"]: v for v in listed["persistentvolumes"]}
        limits_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for limit_range in listed["limitranges"]:
            limits_of[limit_range["metadata"]["namespace"]].append(limit_range)
        groups = [
            group_from(ns, limits_of.get(name, []), quotas_of.get(name, []))
            for ns in listed["namespaces"]
            for name in [ns["metadata"]["name"]]
        ]
        quotas = [q for g in groups if (q := quota_from(g.id, quotas_of.get(g.id, []))) is not None]
        return Inventory(
            cloud=self.cloud,
            taken_at=taken_at,
            complete=not problems,
            problems=tuple(problems),
            api_calls=calls,
            groups=tuple(groups),
            volumes=tuple(volume_from(c, volumes) for c in listed["persistentvolumeclaims"]),
            quotas=tuple(quotas),
            quota_role=QuotaRole.ALLOCATION,
            quota_quantities=("vcpu", "memory_bytes", "storage_bytes"),
        )

    # -- operation records -----------------------------------------------------------------------------------

    source = "k8s.event"

    def records(self, since: dt.datetime | None) -> RecordBatch:
        """Events of every namespace but the platform's, changed since ``since`` (less a margin; the core drops
        what it logged already). Kubernetes keeps events an hour by default, so pulling at least that often keeps
        them all. The watermark is the newest event time, by the apiserver's clock."""
        try:
            cluster = self.connected()
            events = list(cluster.items("/api/v1/events", "list events", self.page_size))
            with translated("read events"):
                found: list[CloudRecord] = []
                for event in events:
                    when = event_time(event)
                    namespace = (event.get("metadata") or {}).get("namespace") or ""
                    if namespace in self.ignore_namespaces or when is None:
                        continue
                    if since is None or when >= since - EVENT_LOOKBACK:
                        found.append(record_from(self.source, event))
        except KubernetesError as exc:
            return RecordBatch((), complete=False, problems=(str(exc),))
        watermark = max((r.time for r in found), default=since)
        return RecordBatch(tuple(found), complete=True, watermark=watermark)

    # -- measured use ----------------------------------------------------------------------------------------

    def usage(self) -> UsageBatch:
        """CPU, memory and storage in use per namespace and claim (see adapters/kubernetes/usage.py)."""
        try:
            cluster = self.connected()
        except KubernetesError as exc:
            return UsageBatch((), complete=False, problems=(str(exc),))
        return collect(cluster, self.cloud, self.clock.now(), self.ignore_namespaces)
