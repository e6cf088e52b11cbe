"""Building what the ledger wants on one cloud on one day, from the store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from controlplane.calendar import WorkingCalendar
from controlplane.domain import Cloud, Zone
from controlplane.ledger.store import approved_at, footprints, systems
from controlplane.reconcile.desired import DesiredCloud, DesiredSystem

# Suining 11: the unit deploys within 10 working days after resources are configured; a cloud allocation not
# provisioned by then is "under".
PROVISIONING_WORKING_DAYS = 10


def build_desired(
    conn: Connection,
    cloud: Cloud,
    day: dt.date,
    calendar: WorkingCalendar,
    *,
    zone_map: dict[str, Zone] | None = None,
    ignore_groups: frozenset[str] = frozenset(),
    provisioning_days: int = PROVISIONING_WORKING_DAYS,
) -> DesiredCloud:
    in_force = {a.system.key: a for a in approved_at(conn, day) if a.cloud == cloud.name}
    refs: dict[str, list[str]] = {}
    for item in footprints(conn):
        if item.cloud == cloud.name:
            refs.setdefault(item.system, []).append(item.ref)
    wanted: list[DesiredSystem] = []
    for system, department in systems(conn):
        approved = in_force.get(system.key)
        if approved is None and system.key not in refs:
            continue
        allocation = approved.revision.allocation if approved else None
        wanted.append(
            DesiredSystem(
                key=system.key,
                department=department,
                zone=system.zone,
                status=system.status,
                allocation=allocation.quantities if allocation else None,
                allocation_from=allocation.effective_from if allocation else None,
                provisioning_deadline=calendar.add_working_days(allocation.effective_from, provisioning_days)
                if allocation
                else None,
                footprint=tuple(refs.get(system.key, ())),
            )
        )
    return DesiredCloud(
        cloud=cloud, day=day, systems=tuple(wanted), zone_map=zone_map or {}, ignore_groups=ignore_groups
    )
