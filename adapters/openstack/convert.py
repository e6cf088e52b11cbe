"""API answers -> the core's frozen observed models. The only place that knows their shapes: servers, volumes and
snapshots as the services' raw JSON (see paging.py), the small listings as openstacksdk resources."""

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


def server_from(server: dict[str, Any]) -> ObservedServer:
    """A server of Nova's detailed listing at compute microversion >= 2.47: the flavor is embedded, so no
    per-server flavor lookup."""
    flavor = server.get("flavor")
    # an embedded flavor (>= 2.47) always has its original_name and vcpus; an old-microversion answer has the
    # flavor's id only, which must never read as a server of 0 vCPU
    if not isinstance(flavor, dict) or not flavor.get("original_name") or flavor.get("vcpus") is None:
        raise ValueError(f"server {server.get('id')} has no embedded flavor (compute microversion < 2.47?)")
    image = server.get("image")
    booted_from_volume = not (isinstance(image, dict) and image.get("id"))
    return ObservedServer(
        id=server["id"],
        name=server.get("name") or "",
        group_id=server["tenant_id"],
        vcpu=Decimal(int(flavor["vcpus"])),
        memory_bytes=int(flavor["ram"]) * MIB,
        disk_bytes=0 if booted_from_volume else int(flavor.get("disk") or 0) * GIB,
        status=server.get("status") or "",
        zone=server.get("OS-EXT-AZ:availability_zone") or "",
        host=server.get("OS-EXT-SRV-ATTR:host") or server.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or "",
        flavor=str(flavor["original_name"]),
    )


def volume_from(volume: dict[str, Any]) -> ObservedVolume:
    """A volume of Cinder's detailed listing."""
    return ObservedVolume(
        id=volume["id"],
        name=volume.get("name") or "",
        group_id=volume["os-vol-tenant-attr:tenant_id"],
        size_bytes=int(volume.get("size") or 0) * GIB,
        status=volume.get("status") or "",
        zone=volume.get("availability_zone") or "",
    )


def snapshot_from(snapshot: dict[str, Any]) -> ObservedSnapshot:
    """A snapshot of Cinder's detailed listing."""
    return ObservedSnapshot(
        id=snapshot["id"],
        name=snapshot.get("name") or "",
        group_id=snapshot.get("os-extended-snapshot-attributes:project_id") or "",
        volume_id=snapshot.get("volume_id") or "",
        size_bytes=int(snapshot.get("size") or 0) * GIB,
        status=snapshot.get("status") or "",
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
