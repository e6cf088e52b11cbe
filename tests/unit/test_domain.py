"""Ledger rules on single revisions: temporary and emergency limits, major changes, the revision in force."""

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from controlplane.domain import (
    AllocationKind,
    AllocationRevision,
    ApplicationSystem,
    Quantities,
    RecordedRevision,
    in_force,
)

GIB = 1024**3
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def revision(
    kind: AllocationKind, start: dt.date, end: dt.date | None, vcpu: int = 8, ref: str = "A"
) -> AllocationRevision:
    return AllocationRevision(
        system="S",
        cloud="c",
        quantities=Quantities(vcpu=Decimal(vcpu), memory_bytes=16 * GIB),
        approval_ref=ref,
        approval_date=start,
        effective_from=start,
        effective_to=end,
        kind=kind,
    )


def test_temporary_allocation_may_last_exactly_three_months() -> None:
    """Bozhou 22: from 2026-05-31 a temporary allocation may run to 2026-08-31 but not a day more."""
    revision(AllocationKind.TEMPORARY, dt.date(2026, 5, 31), dt.date(2026, 8, 31))
    with pytest.raises(ValidationError, match=r"at most 3 months \(Bozhou 22\).*must end by 2026-08-31"):
        revision(AllocationKind.TEMPORARY, dt.date(2026, 5, 31), dt.date(2026, 9, 1))


def test_temporary_allocation_needs_an_end_date() -> None:
    """A temporary allocation with no end is refused, citing the article."""
    with pytest.raises(ValidationError, match="must state its end date"):
        revision(AllocationKind.TEMPORARY, dt.date(2026, 1, 1), None)


def test_emergency_allocation_is_capped_at_six_months() -> None:
    """Bozhou 24: emergency resources at most 6 months."""
    revision(AllocationKind.EMERGENCY, dt.date(2026, 1, 31), dt.date(2026, 7, 31))
    with pytest.raises(ValidationError, match="Bozhou 24"):
        revision(AllocationKind.EMERGENCY, dt.date(2026, 1, 31), dt.date(2026, 8, 1))


def test_end_before_start_is_refused() -> None:
    """A period cannot end before it starts."""
    with pytest.raises(ValidationError, match="before effective from"):
        revision(AllocationKind.STANDARD, dt.date(2026, 3, 1), dt.date(2026, 2, 1))


def test_major_change_is_strictly_more_than_half() -> None:
    """Bozhou 22: +50% is not a major change, +51% is; a quantity from zero is."""
    base = Quantities(vcpu=Decimal(100), memory_bytes=100 * GIB)
    assert Quantities(vcpu=Decimal(150), memory_bytes=100 * GIB).major_changes(base) == []
    assert Quantities(vcpu=Decimal(151), memory_bytes=100 * GIB).major_changes(base) == ["vcpu"]
    assert Quantities(vcpu=Decimal(100), memory_bytes=49 * GIB).major_changes(base) == ["memory_bytes"]
    assert Quantities(vcpu=Decimal(100), memory_bytes=100 * GIB, instances=1).major_changes(base) == ["instances"]


def test_temporary_expansion_overrides_then_standard_returns() -> None:
    """While a temporary revision lasts it is in force; after its end the standard one applies again."""
    standard = RecordedRevision(
        revision=1, recorded_at=NOW, allocation=revision(AllocationKind.STANDARD, dt.date(2026, 1, 1), None)
    )
    temporary = RecordedRevision(
        revision=2,
        recorded_at=NOW,
        allocation=revision(AllocationKind.TEMPORARY, dt.date(2026, 6, 1), dt.date(2026, 8, 31), vcpu=12, ref="B"),
    )
    history = [standard, temporary]
    assert in_force(history, dt.date(2025, 12, 31)) is None
    assert in_force(history, dt.date(2026, 5, 31)) is standard
    assert in_force(history, dt.date(2026, 8, 31)) is temporary
    assert in_force(history, dt.date(2026, 9, 1)) is standard


def test_monitoring_starts_after_three_months_of_stable_operation() -> None:
    """Suining 14: stable since 2026-01-31 → rules apply from 2026-05-01 (after the last day 2026-04-30)."""
    system = ApplicationSystem(
        key="S",
        name="S",
        department="D",
        mlps_level=2,
        zone="internet",
        mode="shared",
        stable_since=dt.date(2026, 1, 31),
    )
    assert system.monitoring_starts() == dt.date(2026, 5, 1)


def test_mlps_level_above_three_is_refused() -> None:
    """Bozhou 3: the clouds host MLPS level 3 or below."""
    with pytest.raises(ValidationError):
        ApplicationSystem(key="S", name="S", department="D", mlps_level=4, zone="internet", mode="shared")
