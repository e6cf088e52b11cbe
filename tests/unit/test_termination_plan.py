"""The termination plan without clouds: scoped to the system's footprint and nothing else (a target outside it
refuses the whole plan), refused on an incomplete listing, ordered by phase with each server's disks just before it,
hosted equipment matched by its zone's vendor; and the final reconcile's leftovers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from controlplane.domain import FootprintItem, FootprintKind
from controlplane.hosting.model import Equipment, Position
from controlplane.reconcile.drift import Drift, DriftClass
from controlplane.reconcile.engine import CloudResult
from controlplane.reconcile.runs import RunSummary
from controlplane.termination.leftovers import leftovers_of
from controlplane.termination.plan import OutsideFootprintError, PlanError, build_plan
from controlplane.termination.ports import (
    Category,
    FootprintListing,
    Method,
    TargetKind,
    WipeError,
    WipeOutcome,
    WipeTarget,
)

T0 = dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC)


class ListingWiper:
    """A wiper that lists what it was given (the plan only lists)."""

    def __init__(
        self,
        targets: Sequence[WipeTarget],
        complete: bool = True,
        fail: bool = False,
        resolved: dict[str, str] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.resolved = resolved or {}
        self.complete = complete
        self.fail = fail
        self.asked: list[list[str]] = []

    def footprint(self, groups: Sequence[str]) -> FootprintListing:
        self.asked.append(list(groups))
        if self.fail:
            raise WipeError("HTTP 503 from the compute API")
        return FootprintListing(
            targets=tuple(self.targets), complete=self.complete, reason="volumes page 2 failed", resolved=self.resolved
        )

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        return WipeOutcome(
            target=target, method=Method.DELETE, category=Category.NONE, started=T0, ended=T0, verified=False
        )

    def gone(self, target: WipeTarget) -> bool:
        return True


class Disks:
    def __init__(self, disks: dict[str, list[WipeTarget]]) -> None:
        self.disks = disks

    def server_disks(self, server_id: str) -> list[WipeTarget]:
        return self.disks.get(server_id, [])

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        return WipeOutcome(
            target=target, method=Method.OVERWRITE_ZERO, category=Category.CLEAR, started=T0, ended=T0, verified=True
        )


def t(kind: TargetKind, ident: str, group: str = "proj-a", phase: int = 0, cloud: str = "os") -> WipeTarget:
    return WipeTarget(cloud=cloud, kind=kind, id=ident, group=group, phase=phase)


FOOTPRINT = [
    FootprintItem(system="SYS-1", cloud="os", kind=FootprintKind.PROJECT, ref="proj-a"),
    FootprintItem(system="SYS-1", cloud="os", kind=FootprintKind.PROJECT, ref="proj-b"),
    FootprintItem(system="SYS-1", cloud="zone", kind=FootprintKind.EQUIPMENT, ref="SN-1"),
    FootprintItem(system="OTHER", cloud="os", kind=FootprintKind.PROJECT, ref="proj-other"),
]


def equipment(serial: str, vendor: str, ident: int) -> Equipment:
    return Equipment.model_validate(
        {
            "id": ident,
            "vendor": vendor,
            "serial": serial,
            "asset_tag": "",
            "kind": "server",
            "model": "R740",
            "unit": "u",
            "system": "SYS-1",
            "position": Position(site="s", room="r", rack="a", u_start=1, u_height=2),
            "power_watts": 1,
            "ports": 0,
            "bandwidth_bps": 0,
            "hosted_since": dt.date(2026, 1, 1),
            "state": "active",
            "registered_by": "vendor:v",
            "registered_at": T0,
            "updated_at": T0,
        }
    )


def test_the_plan_orders_by_phase_with_disks_before_their_server_and_equipment_last() -> None:
    """Volumes (phase 3) after servers (1); each server with disks is stopped, then its disks wiped, just before it,
    scoped to its project; a server without hypervisor disks is not stopped."""
    wiper = ListingWiper(
        [
            t(TargetKind.VOLUME, "vol-1", phase=3),
            t(TargetKind.SERVER, "srv-2", "proj-b", 1),
            t(TargetKind.SERVER, "srv-1", phase=1),
        ]
    )
    disks = Disks({"srv-1": [WipeTarget(cloud="hv", kind=TargetKind.SERVER_DISK, id="pool/srv-1.qcow2")]})
    plan = build_plan(
        "SYS-1",
        FOOTPRINT,
        wipers={"os": wiper},
        disk_wipers={"os": disks},
        equipment=[equipment("SN-1", "other vendor", 7), equipment("SN-1", "vendor-z", 8)],
        vendors={"zone": "vendor-z"},
    )
    assert [(x.kind.value, x.id) for x in plan.targets] == [
        ("server-stop", "srv-1"),
        ("server-disk", "pool/srv-1.qcow2"),
        ("server", "srv-1"),
        ("server", "srv-2"),
        ("volume", "vol-1"),
        ("equipment", "SN-1"),
    ]
    disk = plan.targets[1]
    assert (disk.cloud, disk.group, disk.attributes["server"]) == ("os", "proj-a", "srv-1")
    assert plan.targets[-1].attributes["equipment_id"] == "8"  # the zone's vendor's, not the other's
    assert wiper.asked == [["proj-a", "proj-b"]]  # only this system's groups; proj-other never asked
    assert plan.clouds() == ["os", "zone"]


def test_a_target_outside_the_footprint_refuses_the_whole_plan() -> None:
    """A wiper answering with another project's volume: nothing is planned, and the error names it."""
    wiper = ListingWiper([t(TargetKind.SERVER, "srv-1", phase=1), t(TargetKind.VOLUME, "vol-x", "proj-other", 3)])
    with pytest.raises(OutsideFootprintError, match=r"volume vol-x \(group 'proj-other' on os\)"):
        build_plan("SYS-1", FOOTPRINT[:2], wipers={"os": wiper}, disk_wipers={}, equipment=[], vendors={})


def test_a_project_asked_by_name_is_matched_by_the_id_it_resolved_to() -> None:
    """Targets carry the project id the name resolved to: accepted when the listing says so, refused otherwise."""
    by_id = [t(TargetKind.VOLUME, "vol-1", "id-a", 3)]
    footprint = FOOTPRINT[:1]
    plan = build_plan(
        "SYS-1",
        footprint,
        wipers={"os": ListingWiper(by_id, resolved={"proj-a": "id-a"})},
        disk_wipers={},
        equipment=[],
        vendors={},
    )
    assert [x.id for x in plan.targets] == ["vol-1"]
    with pytest.raises(OutsideFootprintError, match="group 'id-a'"):
        build_plan("SYS-1", footprint, wipers={"os": ListingWiper(by_id)}, disk_wipers={}, equipment=[], vendors={})
    with pytest.raises(OutsideFootprintError, match="group 'id-a'"):  # resolved for a ref this system does not have
        build_plan(
            "SYS-1",
            footprint,
            wipers={"os": ListingWiper(by_id, resolved={"proj-other": "id-a"})},
            disk_wipers={},
            equipment=[],
            vendors={},
        )


def test_a_target_on_another_cloud_is_outside_too() -> None:
    """The right group on the wrong cloud is still outside."""
    wiper = ListingWiper([t(TargetKind.VOLUME, "vol-1", cloud="elsewhere")])
    with pytest.raises(OutsideFootprintError):
        build_plan("SYS-1", FOOTPRINT[:2], wipers={"os": wiper}, disk_wipers={}, equipment=[], vendors={})


def test_a_disk_of_another_group_is_outside() -> None:
    """A disk wiper naming another group for a server's disk: refused."""
    wiper = ListingWiper([t(TargetKind.SERVER, "srv-1", phase=1)])
    disks = Disks({"srv-1": [WipeTarget(cloud="os", kind=TargetKind.SERVER_DISK, id="d", group="proj-other")]})
    with pytest.raises(OutsideFootprintError, match="disk d of server srv-1"):
        build_plan("SYS-1", FOOTPRINT[:2], wipers={"os": wiper}, disk_wipers={"os": disks}, equipment=[], vendors={})


def test_an_incomplete_listing_refuses_and_says_why() -> None:
    """Fail safe: an incomplete listing, a failed one, a cloud without a wiper, unknown equipment: every reason."""
    with pytest.raises(PlanError) as refused:
        build_plan(
            "SYS-1",
            [*FOOTPRINT, FootprintItem(system="SYS-1", cloud="k8s", kind=FootprintKind.NAMESPACE, ref="ns")],
            wipers={"os": ListingWiper([], complete=False)},
            disk_wipers={},
            equipment=[],
            vendors={"zone": "vendor-z"},
        )
    assert refused.value.reasons == [
        "k8s: no wiper for this cloud",
        "os: the listing is incomplete (volumes page 2 failed)",
        "zone: equipment 'SN-1' is not registered",
    ]
    with pytest.raises(PlanError, match="os: listing failed: HTTP 503"):
        build_plan(
            "SYS-1", FOOTPRINT[:2], wipers={"os": ListingWiper([], fail=True)}, disk_wipers={}, equipment=[], vendors={}
        )


def _summary(*results: CloudResult) -> RunSummary:
    return RunSummary(1, "ok", list(results))


def _orphan(kind: str, ident: str, **held: int) -> Drift:
    return Drift(
        cloud="os", system="SYS-1", drift_class=DriftClass.ORPHAN, resource_kind=kind, resource_id=ident, detail=held
    )


def test_an_emptied_project_is_no_leftover_but_anything_in_it_is() -> None:
    """An empty project is clean; a snapshot left, a namespace, a cloud listed partially are leftovers."""
    clean = _summary(CloudResult("os", True, [_orphan("project", "p1", servers=0, volumes=0, snapshots=0)]))
    assert leftovers_of(clean, "SYS-1", ["os"]) == []
    dirty = _summary(
        CloudResult("os", True, [_orphan("project", "p1", servers=0, snapshots=1), _orphan("namespace", "ns")]),
        CloudResult("k8s", False, [], problems=("timeout",)),
        CloudResult("unrelated", False, []),
    )
    assert leftovers_of(dirty, "SYS-1", ["os", "k8s"]) == [
        {"cloud": "os", "kind": "project", "id": "p1", "name": "", "class": "orphan", "snapshots": 1},
        {"cloud": "os", "kind": "namespace", "id": "ns", "name": "", "class": "orphan"},
        {"cloud": "k8s", "why": "not listed completely", "problems": ["timeout"]},
    ]
