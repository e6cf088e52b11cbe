"""Registration: the ``yunguan.adapters`` entry point for ``kind: hosting`` clouds. The factory takes the store
(``store``), since the zone's inventory is what its vendor registered there."""

from __future__ import annotations

from sqlalchemy import Engine

from adapters.hosting.inventory import HostingInventory
from controlplane.clock import Clock
from controlplane.config import CloudSettings


def open_inventory(cloud: CloudSettings, clock: Clock, store: Engine | None = None) -> HostingInventory:
    return HostingInventory(cloud.name, cloud.vendor, clock, store)
