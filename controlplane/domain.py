"""The ledger's domain: departments, application systems, clouds, allocation revisions and footprints.

Models are frozen and state their units (CPU in cores, memory and storage in bytes, power in watts, bandwidth in
bit/s). Rules that the regulations put on a single revision are checked here, with their article.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from controlplane.periods import first_day_after_months, last_day_of_months

# Bozhou 22: a temporary expansion states its period, at most 3 months.
TEMPORARY_MAX_MONTHS = 3
# Bozhou 24: emergency resources are kept at most 6 months.
EMERGENCY_MAX_MONTHS = 6
# Bozhou 22: changing resources by more than 50% of what exists is handled as a new onboarding.
MAJOR_CHANGE_RATIO = Decimal("0.5")
# Suining 14: a newly onboarded system is monitored only after 3 months of stable operation.
MONITORING_GRACE_MONTHS = 3

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Zone(StrEnum):
    INTERNET = "internet"
    EXTRANET = "extranet"


class Mode(StrEnum):
    SHARED = "shared"
    DEDICATED = "dedicated"
    HOSTING = "hosting"
    BARE_METAL = "bare-metal"


class CloudKind(StrEnum):
    OPENSTACK = "openstack"
    KUBERNETES = "kubernetes"
    HOSTING = "hosting"


class AllocationKind(StrEnum):
    STANDARD = "standard"
    TEMPORARY = "temporary"
    EMERGENCY = "emergency"


class SystemStatus(StrEnum):
    ACTIVE = "active"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


class FootprintKind(StrEnum):
    PROJECT = "project"
    NAMESPACE = "namespace"
    EQUIPMENT = "equipment"


class Department(Frozen):
    """A using unit (使用单位). Subordinate units apply through their parent (Bozhou 15, Chongqing 19)."""

    name: Name
    parent: Name | None = None

    @model_validator(mode="after")
    def _not_own_parent(self) -> Self:
        if self.parent == self.name:
            raise ValueError(f"department {self.name!r} cannot be its own parent")
        return self


class ApplicationSystem(Frozen):
    """An application system (应用系统) owned by one department."""

    key: Name = Field(description="stable identifier: the system code when the unit has one, else its name")
    name: Name
    department: Name
    mlps_level: int = Field(ge=1, le=3, description="MLPS (等保) level; the clouds host level 3 or below (Bozhou 3)")
    zone: Zone
    mode: Mode
    stable_since: dt.date | None = Field(default=None, description="first day of stable operation")
    status: SystemStatus = SystemStatus.ACTIVE

    def monitoring_starts(self) -> dt.date | None:
        """First day utilization rules apply: after 3 months of stable operation (Suining 14)."""
        if self.stable_since is None:
            return None
        return first_day_after_months(self.stable_since, MONITORING_GRACE_MONTHS)


class Cloud(Frozen):
    """A cloud platform the department pays for: an OpenStack region, a Kubernetes cluster or a hosting zone."""

    name: Name
    kind: CloudKind
    vendor: Name
    zone: Zone
    connection: str = Field(default="", description="clouds.yaml cloud name, kubeconfig context, or empty")


class Quantities(Frozen):
    """What is approved on one cloud. Zero means none approved."""

    vcpu: Decimal = Field(default=Decimal(0), ge=0, description="CPU in cores")
    memory_bytes: int = Field(default=0, ge=0)
    storage_bytes: int = Field(default=0, ge=0)
    instances: int = Field(default=0, ge=0)
    rack_units: int = Field(default=0, ge=0, description="hosting: rack units (U)")
    power_watts: int = Field(default=0, ge=0, description="hosting: power in watts")
    bandwidth_bps: int = Field(default=0, ge=0, description="hosting: bandwidth in bit/s")
    devices: int = Field(default=0, ge=0, description="hosting: number of devices")

    def is_zero(self) -> bool:
        return all(getattr(self, name) == 0 for name in type(self).model_fields)

    def major_changes(self, previous: Quantities) -> list[str]:
        """Quantities that change by more than 50% of what exists (Bozhou 22)."""
        changed: list[str] = []
        for name in type(self).model_fields:
            old = Decimal(getattr(previous, name))
            new = Decimal(getattr(self, name))
            if old == new:
                continue
            if old == 0 or abs(new - old) / old > MAJOR_CHANGE_RATIO:
                changed.append(name)
        return changed


class AllocationRevision(Frozen):
    """One approved revision of a system's allocation on one cloud. History is append-only: a change is a new
    revision; the revision in force on a date is the one with the latest start whose period covers the date."""

    system: Name
    cloud: Name
    quantities: Quantities
    approval_ref: Name = Field(description="approval number (审批文号)")
    approval_date: dt.date
    effective_from: dt.date
    effective_to: dt.date | None = Field(default=None, description="last day in force, inclusive")
    kind: AllocationKind = AllocationKind.STANDARD

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"effective to {self.effective_to} is before effective from {self.effective_from}")
        limit = {
            AllocationKind.TEMPORARY: (TEMPORARY_MAX_MONTHS, "Bozhou 22"),
            AllocationKind.EMERGENCY: (EMERGENCY_MAX_MONTHS, "Bozhou 24"),
        }.get(self.kind)
        if limit is not None:
            months, article = limit
            if self.effective_to is None:
                raise ValueError(f"a {self.kind} allocation must state its end date ({article})")
            latest = last_day_of_months(self.effective_from, months)
            if self.effective_to > latest:
                raise ValueError(
                    f"a {self.kind} allocation lasts at most {months} months ({article}): "
                    f"from {self.effective_from} it must end by {latest}, not {self.effective_to}"
                )
        return self

    def covers(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class RecordedRevision(Frozen):
    """A revision as stored: its number, when it was recorded, and whether it was a major change."""

    revision: int
    recorded_at: dt.datetime
    allocation: AllocationRevision
    major_change: tuple[str, ...] = ()


class FootprintItem(Frozen):
    """A cloud resource group that belongs to a system: an OpenStack project, a namespace or hosted equipment."""

    system: Name
    cloud: Name
    kind: FootprintKind
    ref: Name = Field(description="project name or id, namespace name, or equipment serial")


def in_force(revisions: list[RecordedRevision], day: dt.date) -> RecordedRevision | None:
    """The revision in force on ``day`` among one system's revisions on one cloud, or None.

    The latest start covering the day wins, so a temporary expansion overrides the standard allocation while it
    lasts and the standard one applies again after it; ties go to the later-recorded revision.
    """
    covering = [r for r in revisions if r.allocation.covers(day)]
    if not covering:
        return None
    return max(covering, key=lambda r: (r.allocation.effective_from, r.revision))
