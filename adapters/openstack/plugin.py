"""Registration: the ``yunguan.adapters`` entry point for ``kind: openstack`` clouds."""

from __future__ import annotations

from adapters.openstack.inventory import OpenStackInventory
from controlplane.clock import Clock
from controlplane.config import CloudSettings


def open_inventory(cloud: CloudSettings, clock: Clock) -> OpenStackInventory:
    return OpenStackInventory(cloud.name, clock, connection=cloud.connection or cloud.name, page_size=cloud.page_size)
