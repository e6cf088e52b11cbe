"""The hosting zone's pure rules: where equipment may sit in a rack, what it occupies, who sees it."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from controlplane.domain import Quantities
from controlplane.hosting.model import (
    Equipment,
    EquipmentKind,
    EquipmentState,
    EvidenceFile,
    EvidenceKind,
    Position,
    RetireReason,
    first_overlap,
)
from controlplane.hosting.scope import Caller, Role

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


def at(u_start: int, u_height: int, rack: str = "A01", room: str = "R1", site: str = "S1") -> Position:
    return Position(site=site, room=room, rack=rack, u_start=u_start, u_height=u_height)


def item(ident: int, position: Position, **kw: object) -> Equipment:
    values: dict[str, object] = {
        "id": ident,
        "vendor": "hv",
        "serial": f"SN-{ident}",
        "asset_tag": "",
        "kind": EquipmentKind.SERVER,
        "model": "R740",
        "unit": "D1",
        "system": None,
        "position": position,
        "power_watts": 500,
        "ports": 2,
        "bandwidth_bps": 100_000_000,
        "hosted_since": dt.date(2026, 3, 1),
        "state": EquipmentState.ACTIVE,
        "registered_by": "vendor:hv",
        "registered_at": NOW,
        "updated_at": NOW,
    }
    values.update(kw)
    return Equipment.model_validate(values)


def test_touching_u_ranges_do_not_overlap() -> None:
    """U1-U2 and U3-U4 touch: both may be racked."""
    assert not at(1, 2).overlaps(at(3, 2))
    assert not at(3, 2).overlaps(at(1, 2))
    assert at(1, 2).u_end == 2


@pytest.mark.parametrize(
    ("a", "b"),
    [((1, 2), (2, 2)), ((1, 10), (4, 1)), ((5, 1), (5, 1)), ((4, 4), (1, 4))],
)
def test_intersecting_u_ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> None:
    """Any shared U is an overlap, whichever way round."""
    assert at(*a).overlaps(at(*b))
    assert at(*b).overlaps(at(*a))


def test_other_rack_room_or_site_never_overlaps() -> None:
    """The same U range in another rack, room or site is another place."""
    assert not at(1, 4).overlaps(at(1, 4, rack="A02"))
    assert not at(1, 4).overlaps(at(1, 4, room="R2"))
    assert not at(1, 4).overlaps(at(1, 4, site="S2"))


def test_retired_equipment_frees_its_space() -> None:
    """A retired device's U range is free; a live one's is not; a device does not collide with itself."""
    old = item(1, at(10, 2), state=EquipmentState.RETIRED)
    live = item(2, at(20, 2))
    assert first_overlap(at(10, 2), [old, live]) is None
    assert first_overlap(at(21, 1), [old, live]) == live
    assert first_overlap(at(20, 2), [old, live], ignore=2) is None


def test_position_bounds_are_checked() -> None:
    """U numbers start at 1 and a height is at least 1."""
    with pytest.raises(ValidationError):
        at(0, 1)
    with pytest.raises(ValidationError):
        at(1, 0)


def test_equipment_occupies_its_height_power_bandwidth_and_one_device() -> None:
    """What counts against its system's hosting allocation; nothing once retired."""
    live = item(1, at(1, 2))
    assert live.occupies() == Quantities(rack_units=2, power_watts=500, bandwidth_bps=100_000_000, devices=1)
    assert item(1, at(1, 2), state=EquipmentState.RETIRED).occupies().is_zero()


def test_disposed_storage_needs_a_sanitization_certificate() -> None:
    """Chongqing 39: disposing of equipment holding data is pending until a degauss certificate is kept."""
    disposed = item(1, at(1, 2), state=EquipmentState.RETIRED, retire_reason=RetireReason.DISPOSED)
    assert disposed.sanitization_certificate_missing()
    cert = EvidenceFile(
        id=1,
        equipment_id=1,
        kind=EvidenceKind.SANITIZATION_CERTIFICATE,
        name="消磁证明.pdf",
        size=3,
        media_type="application/pdf",
        sha256="0" * 64,
        uploaded_by="vendor:hv",
        uploaded_at=NOW,
    )
    assert not disposed.model_copy(update={"evidence": (cert,)}).sanitization_certificate_missing()
    removed = disposed.model_copy(update={"retire_reason": RetireReason.REMOVED})
    assert not removed.sanitization_certificate_missing()
    network = disposed.model_copy(update={"kind": EquipmentKind.NETWORK})
    assert not network.sanitization_certificate_missing()


def test_only_operators_admins_and_vendors_write() -> None:
    """Auditors and units read; operators and auditors read everything (the store narrows vendors and units)."""
    assert Caller(Role.VENDOR, "vendor:a", vendor="a").can_write
    assert Caller(Role.OPERATOR, "operator:x").can_write
    assert not Caller(Role.AUDITOR, "auditor:x").can_write
    assert not Caller(Role.UNIT, "unit:D1", unit="D1").can_write
    assert Caller(Role.AUDITOR, "auditor:x").sees_all
    assert not Caller(Role.VENDOR, "vendor:a", vendor="a").sees_all


def test_a_vendor_caller_must_be_bound_to_a_vendor() -> None:
    """A vendor or unit caller without its binding is a programming error, refused at once."""
    with pytest.raises(ValueError, match="vendor"):
        Caller(Role.VENDOR, "vendor:?")
    with pytest.raises(ValueError, match="department"):
        Caller(Role.UNIT, "unit:?")
