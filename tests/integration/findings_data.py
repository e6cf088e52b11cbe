"""Shared by the findings and notices integration tests: the demo ledger, a Chongqing 17 escalation, evaluations of
a calendar month (UTC+8), and ticks on a fixed clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection

from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST, FixedClock
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.policy import transitions
from controlplane.policy.findings import Finding, get_finding
from controlplane.policy.model import Duration, EscalationStep, Evaluation, Evidence, FindingState, Outcome, Verdict
from controlplane.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
S = FindingState
D = dt.date
T = TypeVar("T")
ACTOR = "agent:lifecycle"

STEPS = {
    "cq-17-idle-cpu": (
        EscalationStep(to="reminded", after=Duration(days=0), citation="Chongqing art. 17"),
        EscalationStep(to="urged", after=Duration(months=1), citation="Chongqing art. 17"),
        EscalationStep(to="enforceable", after=Duration(working_days=5), citation="Chongqing art. 17"),
    ),
    # opened Sunday 2026-02-01, urged more than 10 days later: on Thursday 2026-02-12
    "cq-urge-feb": (
        EscalationStep(to="urged", after=Duration(days=10)),
        EscalationStep(to="enforceable", after=Duration(working_days=5)),
    ),
}


def escalation_of(rule_id: str) -> tuple[EscalationStep, ...]:
    return STEPS[rule_id]


def with_demo_ledger(runtime: Runtime) -> Runtime:
    """The runtime with the demo ledger imported (ZW-001 of 市政务服务数据管理局, GA-007 of 市公安局, ...)."""
    with runtime.engine.begin() as conn:
        sync_clouds(conn, runtime.configured_clouds(), runtime.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.csv"), load_clouds(conn))
        apply_batch(conn, batch, runtime.audit, "operator:test", runtime.clock.now())
    return runtime


def at(clock: FixedClock, day: dt.date, hour: int = 2) -> dt.datetime:
    """Set the clock to ``hour`` o'clock on ``day`` in UTC+8 (the agent's daily tick)."""
    clock.set(dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST))
    return clock.now()


def month(period: str) -> tuple[dt.datetime, dt.datetime]:
    year, mon = (int(p) for p in period.split("-"))
    start = dt.datetime(year, mon, 1, tzinfo=CST)
    end = dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=CST)
    return start, end


def evaluation(verdict: Verdict, period: str, system: str = "ZW-001", value: float = 4.2) -> Evaluation:
    start, end = month(period)
    met = verdict is Verdict.FINDING
    return Evaluation(
        pack="chongqing",
        rule_id="cq-17-idle-cpu",
        citation="Chongqing art. 17",
        system=system,
        cloud="yunguan-local",
        scope_kind="system",
        scope_id=system,
        outcome=Outcome.DOWNSIZE,
        verdict=verdict,
        period=period,
        window_start=start,
        window_end=end,
        evidence=(
            Evidence(
                metric="cpu_percent",
                aggregate="mean",
                window_start=start,
                window_end=end,
                value=value if verdict is not Verdict.UNKNOWN else None,
                comparison="lt",
                threshold=10,
                met=met if verdict is not Verdict.UNKNOWN else None,
                samples=720,
            ),
        ),
        reason="" if verdict is not Verdict.UNKNOWN else "too few samples",
    )


def tx(rt: Runtime, work: Callable[[Connection], T]) -> T:
    with rt.engine.begin() as conn:
        return work(conn)


def record(rt: Runtime, *evaluations: Evaluation) -> transitions.Result:
    return tx(
        rt,
        lambda c: transitions.record_evaluations(
            c, rt.audit, evaluations, escalation_of, rt.clock.now(), ACTOR, calendar=WorkingCalendar()
        ),
    )


def tick(rt: Runtime, calendar: WorkingCalendar) -> transitions.Result:
    return tx(rt, lambda c: transitions.tick(c, rt.audit, rt.clock.now(), calendar, escalation_of, ACTOR))


def one(rt: Runtime, finding_id: int) -> Finding:
    found = tx(rt, lambda c: get_finding(c, finding_id))
    assert found is not None
    return found


def ticks_until(rt: Runtime, clock: FixedClock, calendar: WorkingCalendar, first: D, last: D) -> list[tuple[D, str]]:
    """Tick every day from first to last; the days something moved and what."""
    moves: list[tuple[D, str]] = []
    day = first
    while day <= last:
        at(clock, day)
        moves += [(day, c.to_state.value) for c in tick(rt, calendar).changes]
        day += dt.timedelta(days=1)
    return moves


def audit_ok(rt: Runtime) -> None:
    with rt.engine.connect() as conn:
        report = verify(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn))
    assert report.ok, report.problems
