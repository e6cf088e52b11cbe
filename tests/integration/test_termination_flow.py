"""A termination on the real store (SQLite and PostgreSQL) with the clock injected: request (late flag), approval
and its transition, the unit's backup evidence, the two-person rule, guards refusing before the transition ends, the
write-ahead run with a crash in the middle resumed without repeating a finished step, hosted equipment confirmed on
the vendor's certificate and retired, leftovers keeping the case open, reclaim with the billing end, and the signed
certificate checked against the operation log.

The clouds are played by a small in-test wiper that implements the ``Wiper`` protocol over a dict (the orchestration
is what is tested here; the real adapters have their own integration tests), and the final reconcile by a function
that reports what that dict still holds, as reconcile reports a terminated system's groups."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from hosting_data import A, import_ledger, register, spec
from sqlalchemy import select

from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify as verify_log
from controlplane.clock import FixedClock
from controlplane.domain import FootprintItem, FootprintKind
from controlplane.hosting import store as hosting
from controlplane.hosting.evidence import evidence_store
from controlplane.hosting.model import EquipmentState, EvidenceKind
from controlplane.ledger.store import footprints, systems
from controlplane.reconcile.drift import Drift, DriftClass
from controlplane.reconcile.engine import CloudResult
from controlplane.reconcile.runs import RunSummary
from controlplane.runtime import Runtime
from controlplane.store.tables import termination_steps
from controlplane.termination import cases
from controlplane.termination.case import CaseState, CaseStateError
from controlplane.termination.certificate import case_events, certificate_body, sign, store_lookup, verify
from controlplane.termination.equipment import Sanitization, confirm_equipment
from controlplane.termination.guards import GuardError
from controlplane.termination.plan import build_plan
from controlplane.termination.ports import (
    Category,
    FootprintListing,
    Method,
    Sample,
    TargetKind,
    WipeError,
    WipeOutcome,
    WipeTarget,
)
from controlplane.termination.reminders import log_due_reminders
from controlplane.termination.run import Runner
from controlplane.termination.steps import StepState, steps_of
from controlplane.termination.terms import TerminationTerms

SUINING = TerminationTerms(request_within_months=1, transition_months=3, citation="Suining 16")
CLOUD = "yunguan-local"
ZERO = hashlib.sha256(bytes(4096)).hexdigest()


class Crash(BaseException):
    """The process dies between the wiper's act and the result being recorded."""


class DictWiper:
    """A cloud as a dict of targets; ``crash_on`` dies right after deleting that target."""

    def __init__(self, rt: Runtime, targets: Sequence[WipeTarget]) -> None:
        self.rt = rt
        self.held = {t.id: t for t in targets}
        self.wiped: list[str] = []
        self.crash_on: str | None = None
        self.refuse: str | None = None

    def footprint(self, groups: Sequence[str]) -> FootprintListing:
        return FootprintListing(targets=tuple(t for t in self.held.values() if t.group in groups), complete=True)

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        # write-ahead: the intent is committed before the cloud is touched
        with self.rt.engine.connect() as conn:
            state = conn.execute(
                select(termination_steps.c.state).where(termination_steps.c.target_id == target.id)
            ).scalar_one()
        assert state == StepState.INTENT.value
        if target.id == self.refuse:
            raise WipeError(f"{target.id}: read-back sample at 0 does not match")
        now = self.rt.clock.now()
        gone = target.id not in self.held
        self.held.pop(target.id, None)
        self.wiped.append(target.id)
        if target.id == self.crash_on:
            self.crash_on = None
            raise Crash
        return WipeOutcome(
            target=target,
            method=Method.OVERWRITE_ZERO if target.kind is TargetKind.VOLUME else Method.DELETE,
            category=Category.CLEAR if target.kind is TargetKind.VOLUME else Category.NONE,
            started=now,
            ended=now,
            verified=target.kind is TargetKind.VOLUME,
            samples=(Sample(offset=0, length=4096, sha256=ZERO, expected_sha256=ZERO),)
            if target.kind is TargetKind.VOLUME
            else (),
            already_gone=gone,
        )

    def gone(self, target: WipeTarget) -> bool:
        return target.id not in self.held

    def reconcile(self, clouds: Sequence[str]) -> RunSummary:
        drift = [
            Drift(
                cloud=CLOUD,
                system="ZW-001",
                drift_class=DriftClass.ORPHAN,
                resource_kind="project",
                resource_id="zwfw",
                detail={"servers": sum(t.kind is TargetKind.SERVER for t in self.held.values()), "volumes": 0},
            )
        ]
        return RunSummary(1, "ok", [CloudResult(c, True, drift if c == CLOUD else []) for c in clouds])


def targets() -> list[WipeTarget]:
    return [
        WipeTarget(cloud=CLOUD, kind=TargetKind.SERVER, id="srv-1", name="web", group="zwfw", phase=1),
        WipeTarget(cloud=CLOUD, kind=TargetKind.SNAPSHOT, id="snap-1", group="zwfw", phase=2),
        WipeTarget(cloud=CLOUD, kind=TargetKind.VOLUME, id="vol-1", group="zwfw", size_bytes=1 << 30, phase=3),
        WipeTarget(cloud=CLOUD, kind=TargetKind.VOLUME, id="vol-other", group="not-ours", phase=3),
    ]


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    import_ledger(runtime)
    return runtime


def clock_of(rt: Runtime) -> FixedClock:
    assert isinstance(rt.clock, FixedClock)
    return rt.clock


def open_case(rt: Runtime, stopped: dt.date | None = None, system: str = "ZW-001") -> cases.Case:
    with rt.engine.begin() as conn:
        return cases.request(
            conn,
            rt.audit,
            SUINING,
            system,
            reason="迁移至省级平台",
            stopped_use_on=stopped,
            actor="operator:a",
            now=rt.clock.now(),
        )


def backup_confirmed(rt: Runtime, system: str = "ZW-001") -> cases.Case:
    """Requested by a, approved by b on 2026-11-20, backup confirmed by the unit."""
    case = open_case(rt, system=system)
    with rt.engine.begin() as conn:
        cases.approve(conn, rt.audit, SUINING, case.id, actor="operator:b", now=rt.clock.now())
        return cases.confirm_backup(
            conn,
            rt.audit,
            evidence_store(rt.settings.state_dir),
            case.id,
            name="迁移备份确认.pdf",
            chunks=[b"%PDF-1.4 backup done"],
            actor="unit:市政务服务数据管理局",
            now=rt.clock.now(),
        )


def ready_to_wipe(rt: Runtime, system: str = "ZW-001") -> cases.Case:
    """Backup confirmed as above, then the wipe approved by c."""
    case = backup_confirmed(rt, system)
    with rt.engine.begin() as conn:
        return cases.approve_wipe(conn, rt.audit, case.id, actor="operator:c", now=rt.clock.now())


def plan_of(rt: Runtime, wiper: DictWiper, system: str = "ZW-001") -> Any:
    with rt.engine.connect() as conn:
        items = footprints(conn, system)
        equipment = hosting.list_equipment(conn, hosting.Caller(hosting.Role.OPERATOR, "operator:c"))
    return build_plan(
        system, items, wipers={CLOUD: wiper}, disk_wipers={}, equipment=equipment, vendors={"hosting-zone": A.vendor}
    )


def runner(rt: Runtime, wiper: DictWiper) -> Runner:
    return Runner(rt.engine, rt.audit, rt.clock, SUINING, {CLOUD: wiper}, {}, "operator:c")


def actions(rt: Runtime, prefix: str = "termination.") -> list[Any]:
    with rt.engine.connect() as conn:
        return [e for e in iter_events(conn) if e.action.startswith(prefix)]


def test_a_late_request_is_flagged_and_logged_for_audit_and_finance(rt: Runtime) -> None:
    """Stopped use on 2026-09-30, requested 2026-11-20: more than one month → late, and a termination.late event."""
    case = open_case(rt, stopped=dt.date(2026, 9, 30))
    assert case.late
    late = actions(rt, "termination.late")
    assert len(late) == 1
    assert '"report_to":["audit","finance"]' in late[0].after
    assert '"request_deadline":"2026-10-30"' in late[0].after
    with rt.engine.begin() as conn:
        cases.cancel(conn, rt.audit, case.id, "test", actor="operator:a", now=rt.clock.now())
    assert not open_case(rt, stopped=dt.date(2026, 10, 20)).late


def test_requests_are_checked(rt: Runtime) -> None:
    """Unknown system, a second open case, a stopped-use day in the future: each refused naming the field."""
    with pytest.raises(cases.CaseNotFoundError, match="no system 'NOPE'"):
        open_case(rt, system="NOPE")
    open_case(rt)
    with pytest.raises(cases.TerminationError, match="already has open termination case") as twice:
        open_case(rt)
    assert twice.value.field == "system"
    with pytest.raises(cases.TerminationError, match="after today") as future:
        open_case(rt, stopped=dt.date(2027, 1, 1), system="GA-007")
    assert future.value.field == "stopped_use_on"


def test_approval_starts_the_transition_and_marks_the_system_terminating(rt: Runtime) -> None:
    """Approved 2026-11-20 (UTC+8): transition until 2027-02-20; the ledger says terminating; events logged."""
    case = open_case(rt)
    with rt.engine.begin() as conn:
        approved = cases.approve(conn, rt.audit, SUINING, case.id, actor="operator:b", now=rt.clock.now())
    assert approved.transition_ends == dt.date(2027, 2, 20)
    with rt.engine.connect() as conn:
        status = {s.key: s.status.value for s, _ in systems(conn)}
    assert status["ZW-001"] == "terminating"
    assert [e.action for e in actions(rt)] == ["termination.request", "termination.approve"]
    with rt.engine.begin() as conn, pytest.raises(CaseStateError, match="only when backup-confirmed"):
        cases.approve_wipe(conn, rt.audit, case.id, actor="operator:c", now=rt.clock.now())


def test_the_two_person_rule(rt: Runtime) -> None:
    """The case's approver cannot approve its wipe: refused and nothing written."""
    case = backup_confirmed(rt)
    with rt.engine.begin() as conn, pytest.raises(GuardError, match="two-person rule"):
        cases.approve_wipe(conn, rt.audit, case.id, actor="operator:b", now=rt.clock.now())
    with rt.engine.connect() as conn:
        assert cases.get_case(conn, case.id).state is CaseState.BACKUP_CONFIRMED


def test_no_wipe_before_the_transition_ends(rt: Runtime) -> None:
    """On the transition's last day the run is refused and the cloud is not touched; the next day it runs."""
    ready_to_wipe(rt)
    wiper = DictWiper(rt, targets())
    clock_of(rt).set(dt.datetime(2027, 2, 20, 12, 0, tzinfo=dt.UTC))  # 20:00 on Feb 20 in UTC+8
    with pytest.raises(GuardError, match="runs until 2027-02-20 inclusive: no wipe before 2027-02-21"):
        runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    assert wiper.wiped == []
    clock_of(rt).set(dt.datetime(2027, 2, 20, 16, 0, tzinfo=dt.UTC))  # 00:00 on Feb 21 in UTC+8
    report = runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    assert report.state is CaseState.RECLAIMED


def test_a_crash_mid_wipe_resumes_without_repeating(rt: Runtime) -> None:
    """The process dies after the snapshot was deleted but before its result was logged: the rerun reads the cloud
    back, records the snapshot done without wiping it again, finishes the volume, reclaims, and bills to the day the
    wipe started. The other project's volume is never touched."""
    ready_to_wipe(rt)
    wiper = DictWiper(rt, targets())
    wiper.crash_on = "snap-1"
    clock_of(rt).set(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC))
    with pytest.raises(Crash):
        runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    with rt.engine.connect() as conn:
        case = cases.case_of(conn, "ZW-001")
        states = {s.target.id: s.state for s in steps_of(conn, case.id)}
    assert case.state is CaseState.WIPING
    assert states == {"srv-1": StepState.DONE, "snap-1": StepState.INTENT, "vol-1": StepState.PLANNED}
    clock_of(rt).advance(dt.timedelta(days=1))
    report = runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    assert report.resumed == [f"{CLOUD}/snapshot/snap-1"]
    assert report.done == [f"{CLOUD}/volume/vol-1"]
    assert wiper.wiped == ["srv-1", "snap-1", "vol-1"]  # each once
    assert "vol-other" in wiper.held
    assert report.state is CaseState.RECLAIMED
    with rt.engine.connect() as conn:
        case = cases.case_of(conn, "ZW-001")
        steps = steps_of(conn, case.id)
        status = {s.key: s.status.value for s, _ in systems(conn)}
        assert verify_log(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn)).ok
    assert case.billing_end == dt.date(2027, 3, 1)  # offline when the wipe started (Bozhou 23)
    assert status["ZW-001"] == "terminated"
    volume = next(s for s in steps if s.target.id == "vol-1")
    assert (volume.method, volume.category, volume.verified, len(volume.samples)) == (
        "overwrite-zero",
        "clear",
        True,
        1,
    )
    snapshot = next(s for s in steps if s.target.id == "snap-1")
    assert snapshot.already_gone and snapshot.method is None and snapshot.attempts == 1
    assert all(s.intent_seq and s.result_seq and s.intent_seq < s.result_seq for s in steps)
    kinds = [e.action for e in actions(rt, "termination.wipe.")]
    assert (
        kinds
        == ["termination.wipe.intent"] * 3
        + ["termination.wipe.resumed"]
        + [
            "termination.wipe.intent",
            "termination.wipe.result",
        ]
        or kinds.count("termination.wipe.resumed") == 1
    )


def test_a_failed_step_stops_the_run_and_is_retried(rt: Runtime) -> None:
    """A wipe whose read-back fails: the run stops there (exit state wiping) with the error; a rerun retries it."""
    ready_to_wipe(rt)
    wiper = DictWiper(rt, targets())
    wiper.refuse = "snap-1"
    clock_of(rt).set(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC))
    report = runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    assert report.failed == [(f"{CLOUD}/snapshot/snap-1", "snap-1: read-back sample at 0 does not match")]
    assert report.state is CaseState.WIPING
    assert "vol-1" in wiper.held
    wiper.refuse = None
    assert runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile).state is CaseState.RECLAIMED


def test_leftovers_keep_the_case_open(rt: Runtime) -> None:
    """A server the final reconcile still sees (created after the plan): the case stays wiped with it listed; the
    next run plans it, wipes it and reclaims."""
    ready_to_wipe(rt)
    wiper = DictWiper(rt, targets())
    clock_of(rt).set(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC))
    plan = plan_of(rt, wiper)
    wiper.held["srv-late"] = WipeTarget(cloud=CLOUD, kind=TargetKind.SERVER, id="srv-late", group="zwfw", phase=1)
    report = runner(rt, wiper).run("ZW-001", plan, wiper.reconcile)
    assert report.state is CaseState.WIPED
    assert report.leftovers == [
        {"cloud": CLOUD, "kind": "project", "id": "zwfw", "name": "", "class": "orphan", "servers": 1}
    ]
    with rt.engine.connect() as conn:
        assert cases.case_of(conn, "ZW-001").leftovers == tuple(report.leftovers)
    again = runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    assert (again.new_steps, again.done, again.state) == (1, [f"{CLOUD}/server/srv-late"], CaseState.RECLAIMED)


def test_hosted_equipment_waits_for_the_certificate_then_is_retired(rt: Runtime) -> None:
    """RS-004's two hosted servers: the run waits; confirming without the vendor's certificate is refused; with it
    the step is done (degauss: Purge) and the equipment retired; the next run reclaims."""
    first = register(rt, A, spec("SN-HOST-0001", 1))
    register(rt, A, spec("SN-HOST-0002", 3))
    ready_to_wipe(rt, "RS-004")
    wiper = DictWiper(rt, [])
    clock_of(rt).set(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC))
    report = runner(rt, wiper).run("RS-004", plan_of(rt, wiper, "RS-004"), wiper.reconcile)
    assert [w[0] for w in report.waiting] == [
        "hosting-zone/equipment/SN-HOST-0001",
        "hosting-zone/equipment/SN-HOST-0002",
    ]
    with rt.engine.begin() as conn, pytest.raises(GuardError, match="no degauss or destruction certificate"):
        confirm_equipment(
            conn, rt.audit, "RS-004", "SN-HOST-0001", how=Sanitization.DEGAUSS, actor="operator:c", now=rt.clock.now()
        )
    files = evidence_store(rt.settings.state_dir)
    with rt.engine.begin() as conn:
        for ident in (first, first + 1):
            hosting.attach_evidence(
                conn,
                rt.audit,
                A,
                files,
                ident,
                kind=EvidenceKind.SANITIZATION_CERTIFICATE,
                name="消磁证明.pdf",
                media_type="application/pdf",
                chunks=[b"%PDF degauss"],
                now=rt.clock.now(),
            )
    with rt.engine.begin() as conn:
        step = confirm_equipment(
            conn, rt.audit, "RS-004", "SN-HOST-0001", how=Sanitization.DEGAUSS, actor="operator:c", now=rt.clock.now()
        )
        confirm_equipment(
            conn,
            rt.audit,
            "RS-004",
            "SN-HOST-0002",
            how=Sanitization.DESTRUCTION,
            actor="operator:c",
            now=rt.clock.now(),
        )
    assert (step.method, step.category, step.state) == ("degauss", "purge", StepState.DONE)
    with pytest.raises(cases.TerminationError, match="not in the termination plan"), rt.engine.begin() as conn:
        confirm_equipment(
            conn, rt.audit, "RS-004", "SN-X", how=Sanitization.DEGAUSS, actor="operator:c", now=rt.clock.now()
        )
    with rt.engine.connect() as conn:
        pieces = hosting.list_equipment(conn, hosting.Caller(hosting.Role.OPERATOR, "operator:c"), system="RS-004")
    assert {p.state for p in pieces} == {EquipmentState.RETIRED}
    assert runner(rt, wiper).run("RS-004", plan_of(rt, wiper, "RS-004"), wiper.reconcile).state is CaseState.RECLAIMED


def test_the_certificate_verifies_against_the_log_and_names_everything(rt: Runtime) -> None:
    """After reclaim: operators, methods, samples, seqs; valid against the store; a changed field is invalid."""
    ready_to_wipe(rt)
    wiper = DictWiper(rt, targets())
    clock_of(rt).set(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC))
    runner(rt, wiper).run("ZW-001", plan_of(rt, wiper), wiper.reconcile)
    with rt.engine.connect() as conn:
        case = cases.case_of(conn, "ZW-001")
        body = certificate_body(
            case,
            "政务服务网",
            steps_of(conn, case.id),
            case_events(conn, case.id),
            issued_by="operator:c",
            issued_at=rt.clock.now(),
        )
        document = sign(body, rt.signer)
        assert verify(document, rt.signer.public, store_lookup(conn)) == []
        assert body["operators"] == {
            "requester": "operator:a",
            "approver": "operator:b",
            "backup_confirmer": "unit:市政务服务数据管理局",
            "second_approver": "operator:c",
            "executors": ["operator:c"],
        }
        assert {r["id"] for r in body["resources"]} == {"srv-1", "snap-1", "vol-1"}
        seqs = {e["seq"] for e in body["events"]}
        assert all(r["intent_seq"] in seqs and r["result_seq"] in seqs for r in body["resources"])
        assert {"termination.billing-end", "termination.reclaim"} <= {e["action"] for e in body["events"]}
        document["certificate"]["billing_end"] = "2027-06-30"
        assert verify(document, rt.signer.public, store_lookup(conn)) != []


def test_the_footprint_is_the_only_scope(rt: Runtime) -> None:
    """Another system's project is never listed: the plan asks the cloud for ZW-001's groups only."""
    wiper = DictWiper(rt, targets())
    ready_to_wipe(rt)
    plan = plan_of(rt, wiper)
    assert {t.group for t in plan.targets} == {"zwfw"}
    with rt.engine.connect() as conn:
        assert FootprintItem(system="ZW-001", cloud=CLOUD, kind=FootprintKind.PROJECT, ref="zwfw") in footprints(conn)


def test_reminders_before_the_transition_ends_are_logged_once(rt: Runtime) -> None:
    """Approved 2026-11-20 (transition to 2027-02-20): 30 days before, one reminder; the same day again, none; 7 days
    before, the 7-day one; each a termination.reminder event."""
    case = open_case(rt)
    with rt.engine.begin() as conn:
        cases.approve(conn, rt.audit, SUINING, case.id, actor="operator:b", now=rt.clock.now())
    clock = clock_of(rt)

    def log_on(day: dt.date) -> list[int]:
        clock.set(dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC))
        return [
            r.days for r in log_due_reminders(rt.engine, rt.audit, SUINING, actor="agent:lifecycle", now=clock.now())
        ]

    assert log_on(dt.date(2027, 1, 20)) == []
    assert log_on(dt.date(2027, 1, 21)) == [30]
    assert log_on(dt.date(2027, 1, 21)) == []
    assert log_on(dt.date(2027, 2, 13)) == [7]
    assert log_on(dt.date(2027, 2, 20)) == [1]
    assert len(actions(rt, "termination.reminder")) == 3
