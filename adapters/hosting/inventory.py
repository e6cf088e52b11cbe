"""The hosting zone's observed inventory: each non-retired piece of equipment the cloud's vendor registered, as a
group (kind ``equipment``, id its serial) that occupies its rack units, power, bandwidth and one device.

The engine matches equipment to a system only when the ledger's ``equipment serials`` footprint and the vendor's
registration name the same system (``GroupOwnership.FOOTPRINT_AND_LABEL``); anything else is unapproved. Hosting
has no quotas to compare.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from controlplane.clock import Clock
from controlplane.domain import FootprintKind
from controlplane.hosting.model import Equipment
from controlplane.hosting.store import hosted_by
from controlplane.reconcile.observed import GroupOwnership, Inventory, ObservedGroup
from controlplane.units import MBIT, plain


def observed(item: Equipment) -> ObservedGroup:
    """One registered piece of equipment as the engine sees it, with what an operator needs to find it."""
    facts = {
        "unit": item.unit,
        "kind": item.kind.value,
        "model": item.model,
        "state": item.state.value,
        "position": item.position.label(),
        "power_w": str(item.power_watts),
        "bandwidth_mbps": plain(Decimal(item.bandwidth_bps) / MBIT),
        "hosted_since": item.hosted_since.isoformat(),
    }
    if item.asset_tag:
        facts["asset_tag"] = item.asset_tag
    return ObservedGroup(
        kind=FootprintKind.EQUIPMENT,
        id=item.serial,
        name=item.serial,
        system_label=item.system,
        facts=facts,
        occupies=item.occupies(),
    )


class HostingInventory:
    """One snapshot of a vendor's hosting zone, read from the store in one short read."""

    def __init__(self, cloud: str, vendor: str, clock: Clock, store: Engine | None) -> None:
        self.cloud = cloud
        self.vendor = vendor
        self.clock = clock
        self.store = store

    def _inventory(self, groups: tuple[ObservedGroup, ...] = (), problem: str = "") -> Inventory:
        return Inventory(
            cloud=self.cloud,
            taken_at=self.clock.now(),
            complete=not problem,
            problems=(problem,) if problem else (),
            groups=groups,
            quota_quantities=(),
            ownership=GroupOwnership.FOOTPRINT_AND_LABEL,
        )

    def take(self) -> Inventory:
        if self.store is None:
            return self._inventory(problem="the hosting zone is read from the store, and no store was given")
        try:
            with self.store.connect() as conn:
                items = hosted_by(conn, self.vendor)
        except SQLAlchemyError as exc:
            return self._inventory(problem=f"reading the registered equipment failed: {type(exc).__name__}")
        return self._inventory(tuple(observed(i) for i in items))
