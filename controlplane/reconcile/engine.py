"""The reconcile engine: desired + observed -> drift, for any cloud kind.

Pure and deterministic: the same inputs give the same drift, in the same order. Cloud specifics stay in the
adapters, which hand over groups (projects, namespaces, hosted equipment), servers, volumes and quotas in core units,
and say what their quotas mean (``QuotaRole``) and how a group is matched to its system (``GroupOwnership``).

Fail safe: when an inventory is incomplete, nothing is concluded from absence on that cloud — no ``under``, no
"unapproved" server whose project may simply not have been listed, no quota mismatch for a quota that was not read —
and the result says why. Conclusions from presence (``over``, ``orphan``, ``zone-mismatch``, an unapproved project
that was listed) stand, because more listing could only make them larger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from controlplane.domain import Quantities, SystemStatus
from controlplane.reconcile.desired import DesiredCloud, DesiredSystem
from controlplane.reconcile.drift import Drift, DriftClass
from controlplane.reconcile.observed import (
    GroupOwnership,
    Inventory,
    ObservedGroup,
    ObservedQuota,
    ObservedServer,
    ObservedSnapshot,
    ObservedVolume,
    QuotaRole,
)

_COMPARED = ("vcpu", "memory_bytes", "storage_bytes", "instances")
# every quantity an allocation states: servers and volumes give the first four, groups' own occupancy any of them
_USED = tuple(Quantities.model_fields)
# quantities counted in whole things: approved but none observed after the deadline is "under"
_COUNTED = ("instances", "devices")


@dataclass
class CloudResult:
    cloud: str
    complete: bool
    drift: list[Drift] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    problems: tuple[str, ...] = ()
    api_calls: int = 0


def _usage(
    servers: Iterable[ObservedServer],
    volumes: Iterable[ObservedVolume],
    snapshots: Iterable[ObservedSnapshot] = (),
    groups: Iterable[ObservedGroup] = (),
) -> dict[str, Decimal]:
    used = dict.fromkeys(_USED, Decimal(0))
    for g in groups:
        for name in _USED:
            used[name] += Decimal(getattr(g.occupies, name))
    for s in servers:
        used["vcpu"] += s.vcpu
        used["memory_bytes"] += s.memory_bytes
        used["storage_bytes"] += s.disk_bytes
        used["instances"] += 1
    for v in volumes:
        used["storage_bytes"] += v.size_bytes
    for snap in snapshots:
        used["storage_bytes"] += snap.size_bytes
    return used


def _quota_total(quotas: list[ObservedQuota]) -> dict[str, Decimal | None]:
    total: dict[str, Decimal | None] = dict.fromkeys(_COMPARED, Decimal(0))
    for q in quotas:
        for name in _COMPARED:
            value = getattr(q, name)
            current = total[name]
            total[name] = None if value is None or current is None else current + Decimal(value)
    return total


def _owner_index(desired: DesiredCloud) -> dict[str, DesiredSystem]:
    owners: dict[str, DesiredSystem] = {}
    for system in desired.systems:
        for ref in system.footprint:
            owners[ref] = system
    return owners


def _assign_groups(
    desired: DesiredCloud, inventory: Inventory, result: CloudResult
) -> tuple[dict[str, DesiredSystem | None], dict[str, list[ObservedGroup]]]:
    """Which system each listed group belongs to (footprint first, then the cloud's label); unowned ones are drift."""
    cloud = desired.cloud.name
    by_key = {s.key: s for s in desired.systems}
    owners = _owner_index(desired)
    groups_of: dict[str, list[ObservedGroup]] = defaultdict(list)
    group_owner: dict[str, DesiredSystem | None] = {}
    for group in sorted(inventory.groups, key=lambda g: g.id):
        if group.id in desired.ignore_groups or group.name in desired.ignore_groups:
            continue
        owner = owners.get(group.id) or owners.get(group.name)
        in_footprint = owner
        if inventory.ownership is GroupOwnership.FOOTPRINT_AND_LABEL:
            if owner is not None and group.system_label != owner.key:
                owner = None
        elif owner is None and group.system_label:
            owner = by_key.get(group.system_label)
        group_owner[group.id] = owner
        if owner is None:
            result.drift.append(
                Drift(
                    cloud=cloud,
                    system=None,
                    drift_class=DriftClass.UNAPPROVED,
                    resource_kind=group.kind.value,
                    resource_id=group.id,
                    resource_name=group.name,
                    detail={
                        "servers": sum(1 for s in inventory.servers if s.group_id == group.id),
                        "label": group.system_label,
                        **({"footprint": in_footprint.key} if in_footprint else {}),
                        **({"facts": group.facts} if group.facts else {}),
                    },
                )
            )
        else:
            groups_of[owner.key].append(group)
    return group_owner, groups_of


def reconcile_cloud(desired: DesiredCloud, inventory: Inventory) -> CloudResult:
    """Drift on one cloud. ``inventory.cloud`` must be ``desired.cloud.name``."""
    if inventory.cloud != desired.cloud.name:
        raise ValueError(f"inventory of {inventory.cloud!r} given for cloud {desired.cloud.name!r}")
    result = CloudResult(
        desired.cloud.name, inventory.complete, problems=inventory.problems, api_calls=inventory.api_calls
    )
    cloud = desired.cloud.name
    group_owner, groups_of = _assign_groups(desired, inventory, result)

    ignored = {g.id for g in inventory.groups if g.id in desired.ignore_groups or g.name in desired.ignore_groups}
    servers_of: dict[str, list[ObservedServer]] = defaultdict(list)
    volumes_of: dict[str, list[ObservedVolume]] = defaultdict(list)
    for server in sorted(inventory.servers, key=lambda s: s.id):
        if server.group_id in ignored:
            continue
        if server.group_id not in group_owner:
            if inventory.complete:
                result.drift.append(
                    Drift(
                        cloud=cloud,
                        system=None,
                        drift_class=DriftClass.UNAPPROVED,
                        resource_kind="server",
                        resource_id=server.id,
                        resource_name=server.name,
                        detail={"group": server.group_id},
                    )
                )
            else:
                result.suppressed.append(f"server {server.id}: its group was not listed")
            continue
        owner = group_owner[server.group_id]
        if owner is not None:
            servers_of[owner.key].append(server)
            zone = desired.zone_map.get(server.zone, desired.cloud.zone)
            if zone != owner.zone:
                result.drift.append(
                    Drift(
                        cloud=cloud,
                        system=owner.key,
                        drift_class=DriftClass.ZONE_MISMATCH,
                        resource_kind="server",
                        resource_id=server.id,
                        resource_name=server.name,
                        detail={"approved": owner.zone.value, "observed": zone.value, "availability_zone": server.zone},
                    )
                )
    for volume in sorted(inventory.volumes, key=lambda v: v.id):
        owner = group_owner.get(volume.group_id)
        if owner is not None:
            volumes_of[owner.key].append(volume)

    quotas_by_group = {q.group_id: q for q in inventory.quotas}
    for system in sorted(desired.systems, key=lambda s: s.key):
        _system_drift(
            desired,
            inventory,
            system,
            groups_of[system.key],
            servers_of[system.key],
            volumes_of[system.key],
            quotas_by_group,
            result,
        )
    return result


def _system_drift(  # noqa: PLR0917 - one system's slice of every listing
    desired: DesiredCloud,
    inventory: Inventory,
    system: DesiredSystem,
    groups: list[ObservedGroup],
    servers: list[ObservedServer],
    volumes: list[ObservedVolume],
    quotas: dict[str, ObservedQuota],
    result: CloudResult,
) -> None:
    cloud = desired.cloud.name
    group_ids = {g.id for g in groups}
    snapshots = [snap for snap in inventory.snapshots if snap.group_id in group_ids]
    if system.status is SystemStatus.TERMINATED:
        for group in groups:
            result.drift.append(
                Drift(
                    cloud=cloud,
                    system=system.key,
                    drift_class=DriftClass.ORPHAN,
                    resource_kind=group.kind.value,
                    resource_id=group.id,
                    resource_name=group.name,
                    detail={
                        "servers": sum(1 for s in servers if s.group_id == group.id),
                        "volumes": sum(1 for v in volumes if v.group_id == group.id),
                        "snapshots": sum(1 for snap in snapshots if snap.group_id == group.id),
                        **({"facts": group.facts} if group.facts else {}),
                    },
                )
            )
        return
    approved = system.allocation or Quantities()
    used = _usage(servers, volumes, snapshots, groups)
    for name in _USED:
        allowed = Decimal(getattr(approved, name))
        if used[name] > allowed:
            occupying = sorted(g.id for g in groups if getattr(g.occupies, name))
            result.drift.append(
                Drift(
                    cloud=cloud,
                    system=system.key,
                    drift_class=DriftClass.OVER,
                    resource_kind="allocation",
                    resource_id=f"{system.key}:{name}",
                    detail={
                        "quantity": name,
                        "approved": str(allowed),
                        "observed": str(used[name]),
                        "complete": inventory.complete,
                        **({"groups": occupying} if occupying else {}),
                    },
                )
            )
    found = {g.id for g in groups} | {g.name for g in groups}
    if groups:
        _quota_drift(inventory, system, groups, quotas, approved, result)
    if system.allocation is None or system.allocation.is_zero():
        return
    deadline_passed = system.provisioning_deadline is not None and desired.day > system.provisioning_deadline
    missing = [ref for ref in system.footprint if ref not in found]
    unprovisioned = any(getattr(system.allocation, name) > 0 and used[name] == 0 for name in _COUNTED)
    if deadline_passed and (missing or unprovisioned):
        if not inventory.complete:
            result.suppressed.append(f"{system.key}: 'under' not concluded from an incomplete listing")
            return
        result.drift.append(
            Drift(
                cloud=cloud,
                system=system.key,
                drift_class=DriftClass.UNDER,
                resource_kind="allocation",
                resource_id=f"{system.key}:provisioning",
                detail={
                    "missing_groups": missing,
                    "approved_instances": system.allocation.instances,
                    "observed_instances": len(servers),
                    **(
                        {"approved_devices": system.allocation.devices, "observed_devices": int(used["devices"])}
                        if system.allocation.devices
                        else {}
                    ),
                    "deadline": str(system.provisioning_deadline),
                },
            )
        )


def _quota_drift(  # noqa: PLR0917 - one system's groups and their quotas
    inventory: Inventory,
    system: DesiredSystem,
    groups: list[ObservedGroup],
    quotas: dict[str, ObservedQuota],
    approved: Quantities,
    result: CloudResult,
) -> None:
    """The system's quotas against its approval, summed over its groups; a group with no quota is unbounded."""
    if not inventory.quota_quantities:
        return
    group_quotas = [quotas.get(g.id) or ObservedQuota(group_id=g.id) for g in groups]
    if any(g.id not in quotas for g in groups) and not inventory.complete:
        result.suppressed.append(f"{system.key}: quota of some groups not read")
        return
    total = _quota_total(group_quotas)
    for name in inventory.quota_quantities:
        allowed = Decimal(getattr(approved, name))
        value = total[name]
        if value == allowed:
            continue
        if inventory.quota_role is QuotaRole.CEILING:
            drift_class = DriftClass.QUOTA_MISMATCH
        else:
            drift_class = DriftClass.OVER if value is None or value > allowed else DriftClass.UNDER
        result.drift.append(
            Drift(
                cloud=inventory.cloud,
                system=system.key,
                drift_class=drift_class,
                resource_kind="quota",
                resource_id=f"{system.key}:{name}",
                detail={
                    "quantity": name,
                    "approved": str(allowed),
                    "quota": "unlimited" if value is None else str(value),
                    "groups": sorted(g.id for g in groups),
                    "without_quota": sorted(g.id for g in groups if g.id not in quotas),
                    **({"facts": {g.id: g.facts for g in groups if g.facts}} if any(g.facts for g in groups) else {}),
                },
            )
        )
