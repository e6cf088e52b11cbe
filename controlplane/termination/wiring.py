"""From a runtime to what a termination run needs: the system's footprint and equipment from the store, the wipers
of its clouds (loaded from their entry points), the plan, and the final reconcile as ``yunguan reconcile`` runs it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.domain import CloudKind, FootprintKind
from controlplane.hosting import store as hosting
from controlplane.hosting.scope import operator
from controlplane.ledger.store import footprints
from controlplane.policy.packs import configured_pack
from controlplane.reconcile.runs import RunSummary
from controlplane.reconcile.service import reconcile_clouds
from controlplane.runtime import Runtime
from controlplane.termination.cases import system_key
from controlplane.termination.plan import Plan, PlanError, build_plan
from controlplane.termination.ports import DiskWiper, Wiper, open_disk_wiper, open_wiper
from controlplane.termination.run import Reconcile
from controlplane.termination.terms import TerminationTerms


def configured_terms(rt: Runtime) -> TerminationTerms:
    """The configured pack's termination terms; the defaults (3 months' transition) when no pack is configured."""
    try:
        return configured_pack(rt.settings.policy).termination
    except KeyError:
        return TerminationTerms()


@dataclass
class Wipers:
    wipers: dict[str, Wiper]
    disk_wipers: dict[str, DiskWiper | None]


def open_wipers(rt: Runtime, clouds: Sequence[str]) -> Wipers:
    """The wipers of the named clouds (hosting zones have none: their equipment is confirmed by hand)."""
    configured = {c.name: c for c in rt.settings.clouds}
    unknown = sorted(set(clouds) - set(configured))
    if unknown:
        raise PlanError([f"{name}: the footprint names a cloud that is not configured" for name in unknown])
    found = Wipers({}, {})
    for name in clouds:
        cloud = configured[name]
        if cloud.kind is CloudKind.HOSTING:
            continue
        found.wipers[name] = open_wiper(cloud, rt.clock)
        found.disk_wipers[name] = open_disk_wiper(cloud, rt.clock)
    return found


def plan_for(rt: Runtime, system: str, actor: str, wipers: Wipers | None = None) -> tuple[Plan, Wipers]:
    """The system's plan as the clouds list it now; ``PlanError`` when anything could not be listed completely."""
    with rt.engine.connect() as conn:
        key = system_key(conn, system)
        items = footprints(conn, key)
        serials = {i.ref for i in items if i.kind is FootprintKind.EQUIPMENT}
        equipment = [e for e in hosting.list_equipment(conn, operator(actor)) if e.serial in serials]
    clouds = sorted({i.cloud for i in items if i.kind is not FootprintKind.EQUIPMENT})
    opened = wipers or open_wipers(rt, clouds)
    vendors = {c.name: c.vendor for c in rt.settings.clouds if c.kind is CloudKind.HOSTING}
    plan = build_plan(
        key, items, wipers=opened.wipers, disk_wipers=opened.disk_wipers, equipment=equipment, vendors=vendors
    )
    return plan, opened


def final_reconcile(rt: Runtime, actor: str) -> Reconcile:
    """The final reconcile of the clouds involved, recorded like any ``yunguan reconcile`` run."""

    def run(clouds: Sequence[str]) -> RunSummary:
        return reconcile_clouds(rt, list(clouds), actor).summary

    return run
