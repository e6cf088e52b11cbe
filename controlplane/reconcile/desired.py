"""What the ledger wants on one cloud on one day: built from the store, handed to the engine as plain data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pydantic import Field

from controlplane.domain import Cloud, Frozen, Quantities, SystemStatus, Zone


class DesiredSystem(Frozen):
    key: str
    department: str
    zone: Zone
    status: SystemStatus
    allocation: Quantities | None = Field(default=None, description="the revision in force on the day, if any")
    allocation_from: dt.date | None = Field(default=None, description="first day of the revision in force")
    provisioning_deadline: dt.date | None = Field(
        default=None, description="last day to provision the revision in force (working days, Suining 11)"
    )
    footprint: tuple[str, ...] = Field(default=(), description="group ids or names that belong to the system")


class DesiredCloud(Frozen):
    cloud: Cloud
    day: dt.date
    systems: tuple[DesiredSystem, ...] = ()
    zone_map: Mapping[str, Zone] = Field(default_factory=dict, description="availability zone -> network zone")
    ignore_groups: frozenset[str] = Field(
        default=frozenset(), description="the cloud's own groups (admin, service): never anyone's drift"
    )
