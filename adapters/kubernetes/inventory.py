"""The inventory of one Kubernetes cluster: namespaces, ResourceQuotas, PersistentVolumeClaims and their
PersistentVolumes, each listed with ``limit``/``continue``, side by side."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from adapters.kubernetes.client import Cluster, Sleep
from adapters.kubernetes.convert import group_from, quota_from, volume_from
from adapters.kubernetes.errors import KubernetesError, translated
from controlplane.clock import Clock
from controlplane.reconcile.observed import Inventory, QuotaRole

LISTS = {
    "namespaces": "/api/v1/namespaces",
    "resourcequotas": "/api/v1/resourcequotas",
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
    ) -> None:
        self.cloud = cloud
        self.clock = clock
        self.kubeconfig = kubeconfig
        self.context = context
        self.page_size = page_size
        self.sleep = sleep
        self.cluster = cluster

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
        groups = [group_from(ns) for ns in listed["namespaces"]]
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
