"""What a monthly report says, as frozen data: built by ``gather`` from the store, or by hand in tests, and turned
into XLSX, HTML or CSV by the renderers without any further I/O.

Units: CPU in cores, memory and storage in bytes, bandwidth in bit/s, power in watts (as in the ledger); measured
figures are percentages 0-100; times are aware UTC datetimes, days are calendar days in China Standard Time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

# the measured resources of a system, in report order
RESOURCES = ("cpu", "memory", "disk")


class Quality(StrEnum):
    """How far a measured figure can be trusted; the report says so beside every number."""

    MEASURED = "measured"  # samples on enough of the month's days, none estimated, every server weighed
    ESTIMATED = "estimated"  # some samples are host-side estimates standing in for the guest's figure
    PARTIAL = "partial"  # measured, but on too few days, or some servers could not be weighed
    UNKNOWN = "unknown"  # nothing measured (no samples, or nothing on this cloud to measure)


@dataclass(frozen=True)
class Allocation:
    """The approval in force on the month's last day (UTC+8) for one system on one cloud."""

    approval_ref: str
    kind: str  # standard, temporary, emergency
    effective_from: dt.date
    effective_to: dt.date | None
    vcpu: Decimal  # cores
    memory_bytes: int
    storage_bytes: int
    instances: int
    rack_units: int = 0
    power_watts: int = 0
    bandwidth_bps: int = 0
    devices: int = 0

    @property
    def hosting(self) -> bool:
        """True when it approves hosting quantities (rack units, power, bandwidth, devices)."""
        return any((self.rack_units, self.power_watts, self.bandwidth_bps, self.devices))


@dataclass(frozen=True)
class Measured:
    """One resource of one system on one cloud over the month, from the rollups.

    ``basis`` says what the percentage is of: ``capacity`` (servers: of their own vCPUs, memory, disk, each server
    weighted by its size) or ``approval`` (namespaces: cores and bytes in use against the approved quantity)."""

    resource: str  # cpu, memory, disk
    metric: str  # the rollup metric behind it: cpu_percent, memory_bytes, ...
    basis: str  # capacity or approval
    mean: float | None  # percent; None when nothing was measured
    peak: float | None  # percent: the highest sample (capacity) or the highest hourly total (approval)
    peak_at: dt.datetime | None  # the hour (UTC start) the peak fell in, when known
    peak_scope: str  # the server or namespace that peaked, when known, else ""
    samples: int  # samples with a value
    estimated: int  # of those, estimates
    missing: int  # tries that measured nothing
    days: int  # days of the month with samples
    month_days: int
    unweighted: int  # servers left out of the mean for want of a capacity figure
    quality: Quality
    why: str = ""  # what lacks: not-measured, no-samples, estimates, coverage, unweighted, no-approval; else ""


@dataclass(frozen=True)
class SystemMonth:
    """One system on one cloud: its allocation at the month's end and its measured use over the month."""

    unit: str
    system: str  # the system's key (code)
    name: str
    cloud: str
    cloud_kind: str  # openstack, kubernetes, hosting
    mode: str  # shared, dedicated, hosting, bare-metal
    status: str  # active, terminating, terminated
    allocation: Allocation | None  # None: nothing approved on that day (the system only has a footprint)
    measured: tuple[Measured, ...]  # one per RESOURCES entry

    def figure(self, resource: str) -> Measured | None:
        return next((m for m in self.measured if m.resource == resource), None)


@dataclass(frozen=True)
class Finding:
    """A finding of a regulation pack, as the findings lifecycle records it."""

    id: int
    pack: str
    rule_id: str
    citation: str
    system: str
    cloud: str | None
    scope_kind: str
    scope_id: str
    outcome: str  # controlplane.policy.model.Outcome values
    state: str  # controlplane.policy.model.FindingState values
    opened: dt.datetime
    deadline: dt.date | None


@dataclass(frozen=True)
class Action:
    """An enforcement action taken on a cloud (downsize, reclaim, freeze, a notice)."""

    id: int
    finding_id: int | None
    system: str
    cloud: str | None
    kind: str  # controlplane.policy.actuation.ActionKind values: resize-server, set-project-quota, ...
    target: str  # server id, namespace or project id
    state: str  # planned, approved, applying, done, failed
    at: dt.datetime  # its last change


@dataclass(frozen=True)
class VendorFigure:
    """A vendor-reported figure against the same figure measured (``controlplane.vendor_usage.compare``)."""

    system: str
    cloud: str
    server: str  # "" for the whole system
    metric: str  # cpu_mean, memory_mean, storage, cpu_peak, memory_peak
    vendor: str
    reported: Decimal  # percent
    measured: Decimal | None
    difference: Decimal | None  # reported - measured, points; None when unknown
    samples: int
    estimated: int
    days: int
    month_days: int
    verdict: str  # agrees, differs, unknown
    why: str


@dataclass(frozen=True)
class MonthlyReport:
    month: str  # YYYY-MM, a calendar month in China Standard Time
    start: dt.datetime  # the month's first instant, UTC
    end: dt.datetime  # the next month's first instant, UTC
    as_of: dt.date  # the month's last day: the allocation shown is the one in force then
    generated_at: dt.datetime
    margin_points: Decimal  # vendor figures differ beyond this
    min_coverage: Decimal  # share of the month's days a measured figure needs
    systems: tuple[SystemMonth, ...]
    findings: tuple[Finding, ...] = ()
    findings_recorded: bool = False  # False: this store keeps no findings yet (not "none found")
    actions: tuple[Action, ...] = ()
    actions_recorded: bool = False  # False: this store keeps no enforcement actions yet
    vendor: tuple[VendorFigure, ...] = ()

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(sorted({s.unit for s in self.systems}))

    def unit_of(self, system: str) -> str:
        return next((s.unit for s in self.systems if s.system == system), "")

    def name_of(self, system: str) -> str:
        return next((s.name for s in self.systems if s.system == system), system)

    def finding_states(self) -> Counter[str]:
        return Counter(f.state for f in self.findings)

    def differing(self) -> int:
        return sum(1 for v in self.vendor if v.verdict == "differs")
