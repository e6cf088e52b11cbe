"""What a termination wipes and reclaims: the system's footprint as the clouds list it, and nothing else.

The ledger's footprint (OpenStack projects, Kubernetes namespaces, hosted equipment serials per cloud) is the only
source of scope. Each cloud's wiper lists what its groups hold; a listing that is incomplete refuses the whole plan
(fail safe: a wipe never runs on a partial picture). Every target must name one of the system's groups on its own
cloud, or the plan is refused. Where a cloud has hypervisors, each server's own disks are wiped just before the server.
Hosted equipment is a step of its own, done when the vendor's degauss or destruction certificate is confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controlplane.domain import FootprintItem, FootprintKind
from controlplane.hosting.model import Equipment
from controlplane.termination.ports import DiskWiper, TargetKind, WipeError, Wiper, WipeTarget


class PlanError(Exception):
    """The plan cannot be trusted (an incomplete listing, a cloud without a wiper, unknown equipment)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


class OutsideFootprintError(PlanError):
    """A wiper offered a target outside the system's footprint: nothing is planned."""


@dataclass(frozen=True, slots=True)
class Plan:
    system: str
    targets: tuple[WipeTarget, ...]
    footprint_clouds: tuple[str, ...] = ()

    def clouds(self) -> list[str]:
        """Every cloud the system's footprint is on (the final reconcile's), with a target there or not."""
        return sorted({*self.footprint_clouds, *(t.cloud for t in self.targets)})


def _groups(footprint: Sequence[FootprintItem]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in footprint:
        if item.kind is not FootprintKind.EQUIPMENT:
            found.setdefault(item.cloud, []).append(item.ref)
    return found


def _cloud_targets(
    cloud: str, groups: list[str], wiper: Wiper, disk_wiper: DiskWiper | None, problems: list[str]
) -> list[WipeTarget]:
    try:
        listing = wiper.footprint(groups)
    except WipeError as exc:
        problems.append(f"{cloud}: listing failed: {exc}")
        return []
    if not listing.complete:
        problems.append(f"{cloud}: the listing is incomplete ({listing.reason or 'no reason given'})")
        return []
    allowed = {*groups, *(listing.resolved[g] for g in groups if g in listing.resolved)}
    outside = [t for t in listing.targets if t.cloud != cloud or t.group not in allowed]
    if outside:
        named = ", ".join(f"{t.kind.value} {t.id} (group {t.group!r} on {t.cloud})" for t in outside)
        why = (
            f"{cloud}: targets outside the system's footprint {sorted(allowed)}: {named} (nothing is planned; a "
            "wiper that lists a group by another id than the ledger's must report it in its listing's resolved)"
        )
        raise OutsideFootprintError([why])
    ordered: list[WipeTarget] = []
    for target in sorted(listing.targets, key=lambda t: (t.phase, t.kind.value, t.id)):
        if target.kind is TargetKind.SERVER and disk_wiper is not None:
            ordered.extend(_disks(cloud, target, disk_wiper, problems))
        ordered.append(target)
    return ordered


def _disks(cloud: str, server: WipeTarget, disk_wiper: DiskWiper, problems: list[str]) -> list[WipeTarget]:
    """The server's own disks, scoped to the server's group (they belong to no group of their own), after a step
    that stops the server through its cloud."""
    try:
        disks = disk_wiper.server_disks(server.id)
    except WipeError as exc:
        problems.append(f"{cloud}: the disks of server {server.id} could not be listed: {exc}")
        return []
    scoped: list[WipeTarget] = []
    if disks:  # a running domain's disks cannot be wiped: the cloud stops the server first
        scoped.append(server.model_copy(update={"kind": TargetKind.SERVER_STOP}))
    for disk in disks:
        if disk.group not in {"", server.group, server.id}:
            raise OutsideFootprintError([f"{cloud}: disk {disk.id} of server {server.id} names group {disk.group!r}"])
        attributes = {**disk.attributes, "server": server.id}
        scoped.append(disk.model_copy(update={"cloud": cloud, "group": server.group, "attributes": attributes}))
    return scoped


def _equipment_targets(
    footprint: Sequence[FootprintItem], equipment: Sequence[Equipment], vendors: Mapping[str, str], problems: list[str]
) -> list[WipeTarget]:
    found: list[WipeTarget] = []
    for item in footprint:
        if item.kind is not FootprintKind.EQUIPMENT:
            continue
        vendor = vendors.get(item.cloud)
        match = [e for e in equipment if e.serial == item.ref and (vendor is None or e.vendor == vendor)]
        if len(match) != 1:
            problems.append(f"{item.cloud}: equipment {item.ref!r} is {'not registered' if not match else 'ambiguous'}")
            continue
        piece = match[0]
        found.append(
            WipeTarget(
                cloud=item.cloud,
                kind=TargetKind.EQUIPMENT,
                id=piece.serial,
                name=f"{piece.kind.value} {piece.model}",
                group=item.ref,
                attributes={"equipment_id": str(piece.id), "vendor": piece.vendor, "state": piece.state.value},
            )
        )
    return found


def build_plan(
    system: str,
    footprint: Sequence[FootprintItem],
    *,
    wipers: Mapping[str, Wiper],
    disk_wipers: Mapping[str, DiskWiper | None],
    equipment: Sequence[Equipment],
    vendors: Mapping[str, str],
) -> Plan:
    """Every target of ``system``'s footprint, per cloud in phase order, disks before their server, equipment last.

    ``wipers`` and ``disk_wipers`` are keyed by cloud name; ``vendors`` maps a hosting cloud to its vendor.
    Raises ``PlanError`` (with every reason) when anything could not be listed completely.
    """
    own = [f for f in footprint if f.system == system]
    problems: list[str] = []
    targets: list[WipeTarget] = []
    for cloud, groups in sorted(_groups(own).items()):
        wiper = wipers.get(cloud)
        if wiper is None:
            problems.append(f"{cloud}: no wiper for this cloud")
            continue
        targets.extend(_cloud_targets(cloud, groups, wiper, disk_wipers.get(cloud), problems))
    targets.extend(_equipment_targets(own, equipment, vendors, problems))
    if problems:
        raise PlanError(problems)
    return Plan(system, tuple(targets), tuple(sorted({f.cloud for f in own})))
