"""SDK objects -> the core's frozen observed models. The only place that knows openstacksdk's resource shapes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from controlplane.domain import FootprintKind
from controlplane.reconcile.observed import (
    ObservedGroup,
    ObservedHost,
    ObservedQuota,
    ObservedServer,
    ObservedSnapshot,
    ObservedVolume,
)
from controlplane.records import CloudRecord

GIB = 1024**3
MIB = 1024**2
SYSTEM_PROPERTY = "yunguan_system"
SYSTEM_TAG_PREFIX = "yunguan-system="


def group_from(project: Any) -> ObservedGroup:
    label = None
    extra = dict(getattr(project, "properties", None) or {})
    for key in (SYSTEM_PROPERTY,):
        label = extra.get(key) or getattr(project, key, None) or label
    for tag in getattr(project, "tags", None) or []:
        if tag.startswith(SYSTEM_TAG_PREFIX):
            label = tag.removeprefix(SYSTEM_TAG_PREFIX)
    return ObservedGroup(kind=FootprintKind.PROJECT, id=project.id, name=project.name, system_label=label)


def server_from(server: Any) -> ObservedServer:
    """Needs compute microversion >= 2.47: the flavor is embedded, so no per-server flavor lookup."""
    flavor = server.flavor
    if not isinstance(flavor, dict) and flavor is not None:
        flavor = flavor.to_dict() if hasattr(flavor, "to_dict") else dict(flavor)
    # the SDK fills missing flavor fields with 0, so "vcpus is None" cannot tell an old-microversion answer (flavor
    # by id only) from a real one: an embedded flavor (>= 2.47) always has its original_name
    if not flavor or not flavor.get("original_name") or flavor.get("vcpus") is None:
        raise ValueError(f"server {server.id} has no embedded flavor (compute microversion < 2.47?)")
    image = server.image
    image_id = image.get("id") if isinstance(image, dict) else getattr(image, "id", None)
    booted_from_volume = not image_id
    return ObservedServer(
        id=server.id,
        name=server.name or "",
        group_id=server.project_id,
        vcpu=Decimal(int(flavor["vcpus"])),
        memory_bytes=int(flavor["ram"]) * MIB,
        disk_bytes=0 if booted_from_volume else int(flavor.get("disk") or 0) * GIB,
        status=server.status or "",
        zone=server.availability_zone or "",
        host=getattr(server, "compute_host", None) or getattr(server, "hypervisor_hostname", None) or "",
        flavor=str(flavor.get("original_name") or flavor.get("name") or ""),
    )


def volume_from(volume: Any) -> ObservedVolume:
    return ObservedVolume(
        id=volume.id,
        name=volume.name or "",
        group_id=volume.project_id,
        size_bytes=int(volume.size or 0) * GIB,
        status=volume.status or "",
        zone=volume.availability_zone or "",
    )


def snapshot_from(snapshot: Any) -> ObservedSnapshot:
    return ObservedSnapshot(
        id=snapshot.id,
        name=snapshot.name or "",
        group_id=snapshot.project_id or "",
        volume_id=snapshot.volume_id or "",
        size_bytes=int(snapshot.size or 0) * GIB,
        status=snapshot.status or "",
    )


def host_from(hypervisor: Any) -> ObservedHost:
    """Nova drops the capacity fields from compute microversion 2.88 on; at 2.87, used here, they are present."""
    memory = getattr(hypervisor, "memory_size", None)
    return ObservedHost(
        name=hypervisor.name or "",
        host_ip=getattr(hypervisor, "host_ip", None) or "",
        state=getattr(hypervisor, "state", None) or "",
        status=getattr(hypervisor, "status", None) or "",
        vcpus=getattr(hypervisor, "vcpus", None),
        memory_bytes=None if memory is None else int(memory) * MIB,
        running=getattr(hypervisor, "running_vms", None),
    )


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    value = int(value)
    return None if value < 0 else value


def quota_from(project_id: str, compute: Any, volume: Any) -> ObservedQuota:
    cores = _limit(compute.cores)
    ram = _limit(compute.ram)
    gigabytes = _limit(volume.gigabytes) if volume is not None else None
    return ObservedQuota(
        group_id=project_id,
        vcpu=None if cores is None else Decimal(cores),
        memory_bytes=None if ram is None else ram * MIB,
        storage_bytes=None if gigabytes is None else gigabytes * GIB,
        instances=_limit(compute.instances),
    )


def parse_time(value: str) -> dt.datetime:
    """A Nova timestamp: ISO 8601, in UTC whether or not it says so."""
    parsed = dt.datetime.fromisoformat(str(value))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def nova_time(value: dt.datetime) -> str:
    """A time as Nova's `changes-since` takes it (seconds, UTC)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_from(source: str, server_id: str, server_name: str, action: Any) -> CloudRecord:
    return CloudRecord(
        source=source,
        record_id=str(action.request_id),
        time=parse_time(action.start_time),
        user=str(action.user_id or ""),
        project=str(action.project_id or ""),
        action=str(action.action),
        target=f"server:{server_id}",
        detail={"server_name": server_name, "message": action.message},
    )
