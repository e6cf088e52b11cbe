"""The OpenStack adapter's parsing, on answers recorded from the real local OpenStack (bodies only, no headers):
servers and volumes as the raw JSON the adapter reads them as, the small listings as SDK resources."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openstack.block_storage.v3.quota_set import QuotaSet as VolumeQuotaSet
from openstack.compute.v2.quota_set import QuotaSet as ComputeQuotaSet
from openstack.compute.v2.server_action import ServerAction
from openstack.identity.v3.project import Project

from adapters.openstack.convert import group_from, quota_from, record_from, server_from, volume_from

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openstack"
GIB = 1024**3


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_servers_carry_their_flavor_in_core_units() -> None:
    """vCPU in cores, memory and root disk in bytes, the AZ and host, from one detailed listing."""
    raw = recorded("servers-detail")["servers"]
    servers = [server_from(item) for item in raw]
    first, src = servers[0], raw[0]
    assert first.id == src["id"]
    assert first.group_id == src["tenant_id"]
    assert first.vcpu == Decimal(src["flavor"]["vcpus"])
    assert first.memory_bytes == src["flavor"]["ram"] * 1024**2
    assert first.disk_bytes == src["flavor"]["disk"] * GIB
    assert first.zone == src["OS-EXT-AZ:availability_zone"]
    assert first.flavor == src["flavor"]["original_name"]


def test_server_without_embedded_flavor_is_refused() -> None:
    """An old-microversion answer (flavor by id only) is an error, never a server of 0 vCPU."""
    item = dict(recorded("servers-detail")["servers"][0])
    item["flavor"] = {"id": "3", "links": []}
    with pytest.raises(ValueError, match="no embedded flavor"):
        server_from(item)


def test_volume_sizes_and_projects() -> None:
    """Volume sizes in bytes, owned by their project."""
    raw = recorded("volumes-detail")["volumes"]
    volumes = [volume_from(item) for item in raw]
    assert [v.size_bytes for v in volumes] == [item["size"] * GIB for item in raw]
    assert [v.group_id for v in volumes] == [item["os-vol-tenant-attr:tenant_id"] for item in raw]


def test_quotas_in_core_units_and_unlimited_as_none() -> None:
    """Cores, RAM (MiB) and gigabytes become cores and bytes; -1 means unlimited."""
    compute = recorded("compute-quota")["quota_set"]
    volume = recorded("volume-quota")["quota_set"]
    quota = quota_from("p", ComputeQuotaSet(**compute), VolumeQuotaSet(**volume))
    assert quota.vcpu == Decimal(compute["cores"])
    assert quota.memory_bytes == compute["ram"] * 1024**2
    assert quota.storage_bytes == volume["gigabytes"] * GIB
    unlimited = quota_from("p", ComputeQuotaSet(**{**compute, "cores": -1}), VolumeQuotaSet(**volume))
    assert unlimited.vcpu is None


def test_project_system_label_from_property_or_tag() -> None:
    """A project names its system by the yunguan_system property or a yunguan-system= tag."""
    projects = [Project(**item) for item in recorded("projects")["projects"]]
    labelled = {p.name: group_from(p).system_label for p in projects}
    assert labelled.get("admin") is None
    tagged = group_from(Project(id="x", name="x", tags=["yunguan-system=GA-007"]))
    assert tagged.system_label == "GA-007"


def test_instance_actions_become_records_in_utc() -> None:
    """Nova's naive start times are UTC; the request id identifies the record."""
    raw = recorded("instance-actions")["instanceActions"]
    records = [record_from("nova.instance_action", "srv", "name", ServerAction(**item)) for item in raw]
    assert [r.record_id for r in records] == [item["request_id"] for item in raw]
    assert all(r.time.tzinfo is not None for r in records)
    assert {r.action for r in records} >= {"create"}
