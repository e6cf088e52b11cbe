"""Finding the adapter for a cloud kind: adapters register a factory under the ``yunguan.adapters`` entry point,
so the core depends only on the ``InventorySource`` protocol and a new cloud kind is one line in pyproject."""

from __future__ import annotations

from importlib.metadata import entry_points

from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.reconcile.runs import InventorySource

GROUP = "yunguan.adapters"


class NoAdapterError(Exception):
    """No installed adapter handles this kind of cloud."""


def open_source(cloud: CloudSettings, clock: Clock) -> InventorySource:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == cloud.kind.value]
    if not found:
        raise NoAdapterError(f"cloud {cloud.name!r}: no adapter is installed for kind {cloud.kind.value!r}")
    factory = found[0].load()
    source: InventorySource = factory(cloud, clock)
    return source
