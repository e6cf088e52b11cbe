"""Hosted equipment as frozen models, and the pure rules on where it may sit.

Units as everywhere in the core: power in watts, bandwidth in bit/s (forms and the API say Mbps; ``units`` converts).
A rack position is the site, room and rack plus the U range ``[u_start, u_start + u_height)``: two pieces of
equipment may touch (one ends at U10, the next starts at U11) but never share a U. Retired equipment holds no space.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from controlplane.domain import Frozen, Name, Quantities

# bounds that catch typos, not real equipment: the tallest rack in a data hall is 58U, one device draws a few kW,
# patches a few hundred ports and is contracted at most a few hundred Gbit/s
MAX_RACK_U = 100
MAX_POWER_WATTS = 1_000_000
MAX_PORTS = 100_000
MAX_BANDWIDTH_BPS = 10**13

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class EquipmentKind(StrEnum):
    SERVER = "server"
    NETWORK = "network"
    STORAGE = "storage"
    SPECIAL = "special"  # the unit's special-purpose equipment (Suining 7(3))


class EquipmentState(StrEnum):
    REGISTERED = "registered"  # the vendor has recorded it (delivered, not yet in service)
    ACTIVE = "active"  # installed and in service
    RETIRED = "retired"  # gone from the hosting zone: holds no rack space, counts against no allocation


class RetireReason(StrEnum):
    REMOVED = "removed"  # taken back by the unit: the asset stays the unit's (Suining 7(3))
    DISPOSED = "disposed"  # scrapped: media must be degaussed or destroyed first (Chongqing 39)


class EvidenceKind(StrEnum):
    DELIVERY_RECEIPT = "delivery-receipt"
    SANITIZATION_CERTIFICATE = "sanitization-certificate"  # degauss or destruction certificate (Chongqing 39)
    OTHER = "other"


# equipment that carries data: disposing of it needs a sanitization certificate (Chongqing 39)
HOLDS_DATA = frozenset({EquipmentKind.SERVER, EquipmentKind.STORAGE})


class Position(Frozen):
    """Where equipment sits: a rack in a room of a site, from ``u_start`` up ``u_height`` units."""

    site: Name
    room: Name
    rack: Name
    u_start: int = Field(ge=1, le=MAX_RACK_U, description="lowest rack unit occupied (1-based)")
    u_height: int = Field(ge=1, le=MAX_RACK_U, description="rack units occupied")

    @property
    def u_end(self) -> int:
        """Highest rack unit occupied (inclusive)."""
        return self.u_start + self.u_height - 1

    def same_rack(self, other: Position) -> bool:
        return (self.site, self.room, self.rack) == (other.site, other.room, other.rack)

    def overlaps(self, other: Position) -> bool:
        """Same rack and at least one U in common; touching ranges do not overlap."""
        return self.same_rack(other) and self.u_start <= other.u_end and other.u_start <= self.u_end

    def label(self) -> str:
        return f"{self.site}/{self.room}/{self.rack} U{self.u_start}-U{self.u_end}"


class EquipmentSpec(Frozen):
    """What a vendor states about one piece of equipment when registering it."""

    serial: Name = Field(description="serial number: unique among the vendor's equipment")
    asset_tag: Text = Field(default="", description="the owning unit's asset tag")
    kind: EquipmentKind
    model: Name
    unit: Name = Field(description="the owning unit (department); the asset stays the unit's")
    system: Name | None = Field(default=None, description="the application system it serves (its code)")
    position: Position
    power_watts: int = Field(ge=0, le=MAX_POWER_WATTS, description="rated power, watts")
    ports: int = Field(default=0, ge=0, le=MAX_PORTS, description="network ports patched")
    bandwidth_bps: int = Field(default=0, ge=0, le=MAX_BANDWIDTH_BPS, description="contracted bandwidth, bit/s")
    hosted_since: dt.date


class EquipmentChange(Frozen):
    """A partial update: the fields given change, the others stay. Serial and vendor never change."""

    asset_tag: Text | None = None
    kind: EquipmentKind | None = None
    model: Name | None = None
    unit: Name | None = None
    system: Name | None = None
    clear_system: bool = Field(default=False, description="detach from its system")
    position: Position | None = None
    power_watts: int | None = Field(default=None, ge=0, le=MAX_POWER_WATTS, description="watts")
    ports: int | None = Field(default=None, ge=0, le=MAX_PORTS)
    bandwidth_bps: int | None = Field(default=None, ge=0, le=MAX_BANDWIDTH_BPS, description="bit/s")
    hosted_since: dt.date | None = None
    state: EquipmentState | None = Field(default=None, description="registered -> active; retiring is its own step")


class EvidenceFile(Frozen):
    """A file kept for equipment: its bytes live in the state dir under their SHA-256."""

    id: int
    equipment_id: int
    kind: EvidenceKind
    name: Name
    size: int = Field(ge=0, description="bytes")
    media_type: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    uploaded_by: str
    uploaded_at: dt.datetime


class Equipment(Frozen):
    """One piece of hosted equipment as stored."""

    id: int
    vendor: Name
    serial: Name
    asset_tag: str
    kind: EquipmentKind
    model: Name
    unit: Name
    system: Name | None
    position: Position
    power_watts: int
    ports: int
    bandwidth_bps: int
    hosted_since: dt.date
    state: EquipmentState
    retired_on: dt.date | None = None
    retire_reason: RetireReason | None = None
    registered_by: str
    registered_at: dt.datetime
    updated_at: dt.datetime
    evidence: tuple[EvidenceFile, ...] = ()

    def occupies(self) -> Quantities:
        """What it takes of its system's hosting allocation: its rack units, power, bandwidth and one device."""
        if self.state is EquipmentState.RETIRED:
            return Quantities()
        return Quantities(
            rack_units=self.position.u_height,
            power_watts=self.power_watts,
            bandwidth_bps=self.bandwidth_bps,
            devices=1,
        )

    def sanitization_certificate_missing(self) -> bool:
        """Disposed of while holding data and no degauss/destruction certificate kept (Chongqing 39)."""
        return (
            self.retire_reason is RetireReason.DISPOSED
            and self.kind in HOLDS_DATA
            and not any(e.kind is EvidenceKind.SANITIZATION_CERTIFICATE for e in self.evidence)
        )


def first_overlap(position: Position, others: list[Equipment], *, ignore: int | None = None) -> Equipment | None:
    """The first non-retired equipment (other than ``ignore``) whose position shares a U with ``position``."""
    for other in sorted(others, key=lambda e: e.id):
        if other.id == ignore or other.state is EquipmentState.RETIRED:
            continue
        if other.position.overlaps(position):
            return other
    return None
