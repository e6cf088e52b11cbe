"""Hosting reconcile on SQLite and PostgreSQL: the ledger's hosting allocations (rack units, power, bandwidth,
devices and the equipment serials footprint) against what the vendor registered, through the registered
``yunguan.adapters`` entry point and a recorded run: over, under, unapproved and orphan, and nothing for equipment
that was retired."""

from __future__ import annotations

import datetime as dt

from hosting_data import OPERATOR, VENDOR_B, A, import_ledger, register, spec

from controlplane.calendar import WorkingCalendar
from controlplane.clock import today_cst
from controlplane.domain import Cloud
from controlplane.hosting import store
from controlplane.hosting.model import RetireReason
from controlplane.reconcile.desired_build import build_desired
from controlplane.reconcile.runs import RunSummary, latest_drift, record_run, take_inventories
from controlplane.reconcile.sources import open_source
from controlplane.runtime import Runtime

ZONE = "hosting-zone"


def reconcile(rt: Runtime) -> RunSummary:
    settings = next(c for c in rt.settings.clouds if c.name == ZONE)
    cloud = Cloud(name=settings.name, kind=settings.kind, vendor=settings.vendor, zone=settings.zone)
    with rt.engine.connect() as conn:
        wanted = [build_desired(conn, cloud, today_cst(rt.clock), WorkingCalendar())]
    inventories = take_inventories(wanted, {ZONE: open_source(settings, rt.clock, store=rt.engine)})
    with rt.engine.begin() as conn:
        return record_run(conn, rt.audit, wanted, inventories, rt.clock.now(), rt.clock.now, "operator:test")


def found(summary: RunSummary) -> set[tuple[str, str | None, str, str]]:
    return {(d.drift_class.value, d.system, d.resource_kind, d.resource_id) for d in summary.drift}


def test_nothing_registered_after_the_deadline_is_under(runtime: Runtime) -> None:
    """RS-004 (in force since 2026-03-01) and BK-009 (since 2026-09-01) with nothing registered are under; the
    terminated DA-003 left nothing behind."""
    import_ledger(runtime)
    summary = reconcile(runtime)
    assert summary.status == "ok"
    assert found(summary) == {
        ("under", "RS-004", "allocation", "RS-004:provisioning"),
        ("under", "BK-009", "allocation", "BK-009:provisioning"),
    }
    rs = next(d for d in summary.drift if d.system == "RS-004")
    assert rs.detail["missing_groups"] == ["SN-HOST-0001", "SN-HOST-0002"]
    assert (rs.detail["approved_devices"], rs.detail["observed_devices"]) == (2, 0)


def test_registered_equipment_against_the_hosting_allocations(runtime: Runtime) -> None:
    """RS-004 approved 8U, 3200 W, 200 Mbps, 2 devices: its two footprint serials take 10U and 3500 W (over on
    both, bandwidth exactly at the approval); a device for no system and one whose serial is in no footprint are
    unapproved; the terminated DA-003's device is an orphan; a retired device counts for nothing; another vendor's
    equipment is another zone's."""
    import_ledger(runtime)
    register(runtime, A, spec("SN-HOST-0001", 1, 4, power_watts=2000))
    register(runtime, A, spec("SN-HOST-0002", 5, 6, power_watts=1500))
    register(runtime, A, spec("SN-LOOSE", 11, 1, system=None, power_watts=100, bandwidth_bps=0))
    register(runtime, A, spec("SN-STRAY", 12, 1, power_watts=100, bandwidth_bps=0))
    register(runtime, A, spec("SN-DA-0001", 13, 2, unit="市档案馆", system="DA-003", bandwidth_bps=0))
    old = register(runtime, A, spec("SN-OLD", 20, 10, power_watts=9000))
    with runtime.engine.begin() as conn:
        store.retire(
            conn, runtime.audit, A, old, reason=RetireReason.REMOVED, on=dt.date(2026, 10, 1), now=runtime.clock.now()
        )
    register(runtime, OPERATOR, spec("SN-ELSEWHERE", 1, 40, system=None), vendor=VENDOR_B)

    summary = reconcile(runtime)
    assert found(summary) == {
        ("over", "RS-004", "allocation", "RS-004:rack_units"),
        ("over", "RS-004", "allocation", "RS-004:power_watts"),
        ("unapproved", None, "equipment", "SN-LOOSE"),
        ("unapproved", None, "equipment", "SN-STRAY"),
        ("orphan", "DA-003", "equipment", "SN-DA-0001"),
        ("under", "BK-009", "allocation", "BK-009:provisioning"),
    }
    over = {d.resource_id: d.detail for d in summary.drift if d.drift_class.value == "over"}
    assert over["RS-004:rack_units"] == {
        "quantity": "rack_units",
        "approved": "8",
        "observed": "10",
        "complete": True,
        "groups": ["SN-HOST-0001", "SN-HOST-0002"],
    }
    assert over["RS-004:power_watts"]["observed"] == "3500"
    stray = next(d for d in summary.drift if d.resource_id == "SN-STRAY")
    assert stray.detail["label"] == "RS-004"
    assert stray.detail["facts"]["position"] == "遂宁数据中心/3F-301/A07 U12-U12"
    with runtime.engine.connect() as conn:
        recorded = latest_drift(conn, ZONE)
    assert len(recorded) == 6


def test_a_footprint_serial_registered_for_another_system_is_not_that_systems(runtime: Runtime) -> None:
    """SN-HOST-0001 is RS-004's in the ledger; registered for no system it is unapproved, and RS-004 (2 devices)
    has one device short of its serials after the deadline."""
    import_ledger(runtime)
    register(runtime, A, spec("SN-HOST-0001", 1, 2, system=None))
    register(runtime, A, spec("SN-HOST-0002", 3, 2))
    summary = reconcile(runtime)
    unowned = next(d for d in summary.drift if d.resource_id == "SN-HOST-0001")
    assert (unowned.drift_class.value, unowned.detail["footprint"]) == ("unapproved", "RS-004")
    under = next(d for d in summary.drift if d.system == "RS-004")
    assert under.drift_class.value == "under"
    assert under.detail["missing_groups"] == ["SN-HOST-0001"]


def test_without_a_store_the_zone_is_partial_and_concludes_nothing_from_absence(runtime: Runtime) -> None:
    """An inventory source opened with no store says so and is incomplete: no 'under' is drawn from it."""
    import_ledger(runtime)
    settings = next(c for c in runtime.settings.clouds if c.name == ZONE)
    inventory = open_source(settings, runtime.clock).take()
    assert not inventory.complete
    assert "no store" in inventory.problems[0]
