"""Registration: the ``yunguan.adapters`` entry point for ``kind: kubernetes`` clouds (one per cluster)."""

from __future__ import annotations

from adapters.kubernetes.inventory import KubernetesInventory
from controlplane.clock import Clock
from controlplane.config import CloudSettings


def open_inventory(cloud: CloudSettings, clock: Clock) -> KubernetesInventory:
    return KubernetesInventory(
        cloud.name,
        clock,
        kubeconfig=cloud.kubeconfig,
        context=cloud.connection or None,
        page_size=min(cloud.page_size, 500),
        ignore_namespaces=cloud.ignore_groups,
    )
