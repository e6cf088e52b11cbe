"""Finding the adapter for a cloud kind: adapters register a factory under the ``yunguan.adapters`` entry point,
so the core depends only on the ``InventorySource`` protocol and a new cloud kind is one line in pyproject.

A factory is called ``(CloudSettings, Clock)``; one that also takes a ``store`` keyword (the hosting zone, whose
inventory is what vendors registered in the store) is given the store's engine too.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points

from sqlalchemy import Engine

from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.reconcile.runs import InventorySource

GROUP = "yunguan.adapters"


class NoAdapterError(Exception):
    """No installed adapter handles this kind of cloud."""


def open_source(cloud: CloudSettings, clock: Clock, store: Engine | None = None) -> InventorySource:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == cloud.kind.value]
    if not found:
        raise NoAdapterError(f"cloud {cloud.name!r}: no adapter is installed for kind {cloud.kind.value!r}")
    factory = found[0].load()
    if "store" in inspect.signature(factory).parameters:
        source: InventorySource = factory(cloud, clock, store=store)
    else:
        source = factory(cloud, clock)
    return source
