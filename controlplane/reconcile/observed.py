"""What adapters observed on a cloud, as frozen core models. Adapters build these at their edge from SDK objects;
nothing here knows an SDK.

An ``Inventory`` says whether it is complete. A listing that failed part way (HTTP error, timeout, a page that failed
after retries, an answer the adapter did not understand) makes it incomplete, and the engine then draws no
conclusion from the absence of anything on that cloud.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from controlplane.domain import FootprintKind, Frozen, Quantities


class ObservedGroup(Frozen):
    """An OpenStack project, a Kubernetes namespace or a hosting unit's equipment group."""

    kind: FootprintKind
    id: str
    name: str
    system_label: str | None = Field(default=None, description="system id the cloud carries (tag/property/label)")
    facts: dict[str, str] = Field(
        default_factory=dict, description="what the cloud says about the group that an operator should see with it"
    )
    occupies: Quantities = Field(
        default_factory=Quantities,
        description="what the group itself takes of its system's allocation (hosted equipment: its rack units, power, "
        "bandwidth and one device); servers and volumes in it are counted apart",
    )


class ObservedServer(Frozen):
    id: str
    name: str
    group_id: str
    vcpu: Decimal = Field(ge=0, description="cores")
    memory_bytes: int = Field(ge=0)
    disk_bytes: int = Field(ge=0, description="root disk from the flavor; 0 when booted from a volume")
    status: str
    zone: str = Field(default="", description="availability zone")
    host: str = ""
    flavor: str = ""


class ObservedVolume(Frozen):
    """A block volume (Cinder) or a claim on one (a Kubernetes PersistentVolumeClaim, sized by its request)."""

    id: str
    name: str
    group_id: str
    size_bytes: int = Field(ge=0)
    status: str
    zone: str = ""
    storage_class: str = Field(default="", description="volume type / storage class")
    bound_to: str = Field(default="", description="the backing volume (a PVC's PersistentVolume)")
    reclaim_policy: str = Field(default="", description="what happens to the data when released: Delete, Retain")


class ObservedSnapshot(Frozen):
    """A volume snapshot: it occupies storage and outlives its volume (a known leak on termination)."""

    id: str
    name: str
    group_id: str
    volume_id: str = ""
    size_bytes: int = Field(ge=0)
    status: str


class ObservedHost(Frozen):
    """A hypervisor the cloud reports (later: where the libvirt collector connects)."""

    name: str
    host_ip: str = ""
    state: str = ""
    status: str = ""
    vcpus: int | None = None
    memory_bytes: int | None = None
    running: int | None = None


class ObservedQuota(Frozen):
    """A group's quota; None means unlimited."""

    group_id: str
    vcpu: Decimal | None = None
    memory_bytes: int | None = None
    storage_bytes: int | None = None
    instances: int | None = None


class QuotaRole(StrEnum):
    """What a group's quota means on a cloud kind.

    ceiling: a limit over resources the cloud lists (OpenStack: servers and volumes are the usage; the quota should
        equal the approved allocation, else ``quota-mismatch``).
    allocation: the quota is the allocation itself (Kubernetes: a namespace's ResourceQuota hard limits are what
        its workloads may take): above the approval, or none at all (unbounded), is ``over``; below it, ``under``.
    """

    CEILING = "ceiling"
    ALLOCATION = "allocation"


class GroupOwnership(StrEnum):
    """How a listed group is matched to its system on a cloud kind.

    footprint-or-label: the ledger's footprint, else the system the cloud labels the group with (OpenStack project
        property, Kubernetes namespace label): either alone makes the group the system's.
    footprint-and-label: both, naming the same system (hosted equipment: the ledger's ``equipment serials`` and the
        system the vendor registered it for). Equipment registered for no system, for another system than the
        footprint's, or whose serial is in no footprint is ``unapproved``.
    """

    FOOTPRINT_OR_LABEL = "footprint-or-label"
    FOOTPRINT_AND_LABEL = "footprint-and-label"


class Inventory(Frozen):
    cloud: str
    taken_at: dt.datetime
    complete: bool
    problems: tuple[str, ...] = ()
    api_calls: int = 0
    groups: tuple[ObservedGroup, ...] = ()
    servers: tuple[ObservedServer, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()
    snapshots: tuple[ObservedSnapshot, ...] = ()
    quotas: tuple[ObservedQuota, ...] = ()
    zones: tuple[str, ...] = ()
    hosts: tuple[ObservedHost, ...] = ()
    quota_role: QuotaRole = QuotaRole.CEILING
    quota_quantities: tuple[str, ...] = Field(
        default=("vcpu", "memory_bytes", "storage_bytes", "instances"), description="what this cloud's quotas bound"
    )
    ownership: GroupOwnership = GroupOwnership.FOOTPRINT_OR_LABEL
