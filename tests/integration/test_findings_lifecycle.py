"""Findings in a real store (SQLite and PostgreSQL) through a scripted timeline on a fixed clock: an evaluation opens
a finding, daily ticks move it to reminded, urged and enforceable on the right UTC+8 days (Chongqing 17: more than a
month after the reminder, more than 5 working days after the urging), a CLEAR evaluation resolves it; exemption,
dispute, refused transitions; every transition in the operation log, which still verifies."""

from __future__ import annotations

import datetime as dt

import pytest
from findings_data import (
    at,
    audit_ok,
    escalation_of,
    evaluation,
    month,
    one,
    record,
    tick,
    ticks_until,
    tx,
    with_demo_ledger,
)
from sqlalchemy import func, select

from controlplane.audit.log import iter_events, read_head
from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST, FixedClock
from controlplane.policy import transitions
from controlplane.policy.findings import finding_history, findings, transitions_between
from controlplane.policy.lifecycle import TransitionError
from controlplane.policy.model import FindingState, Verdict
from controlplane.policy.notices.outbox import NoticeError, announce_maintenance, maintenance_ready, notices
from controlplane.runtime import Runtime
from controlplane.store.tables import finding_events

S = FindingState
D = dt.date


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_demo_ledger(runtime)


def test_timeline_open_remind_urge_enforceable_then_resolved(
    rt: Runtime, clock: FixedClock, calendar: WorkingCalendar
) -> None:
    """Opened 2026-07-20 and reminded that day; urged 2026-08-21 (more than a month); enforceable 2026-08-29
    (5 working days end Friday 08-28); a CLEAR evaluation of August resolves it; each step logged and noticed."""
    at(clock, D(2026, 7, 20))
    opened = record(rt, evaluation(Verdict.FINDING, "2026-06"))
    assert [c.transition.value for c in opened.changes] == ["open"]
    finding_id = opened.changes[0].finding_id
    first = one(rt, finding_id)
    assert (first.state, first.deadline, first.cycle) == (S.OPEN, D(2026, 7, 20), 1)
    assert first.key == "chongqing/cq-17-idle-cpu/ZW-001/yunguan-local/ZW-001"
    assert first.evidence[0].value == 4.2

    moves = ticks_until(rt, clock, calendar, D(2026, 7, 20), D(2026, 9, 10))
    assert moves == [(D(2026, 7, 20), "reminded"), (D(2026, 8, 21), "urged"), (D(2026, 8, 29), "enforceable")]
    assert one(rt, finding_id).deadline is None

    with rt.engine.connect() as conn:
        history = finding_history(conn, finding_id)
        sent = notices(conn, finding_id=finding_id)
    assert [(e.transition, e.from_state, e.to_state) for e in history] == [
        ("open", None, S.OPEN),
        ("remind", S.OPEN, S.REMINDED),
        ("urge", S.REMINDED, S.URGED),
        ("make-enforceable", S.URGED, S.ENFORCEABLE),
    ]
    assert [(n.kind.value, n.deadline) for n in sent] == [
        ("reminded", D(2026, 8, 20)),
        ("urged", D(2026, 8, 28)),
        ("enforceable", None),
    ]
    assert sent[0].snapshot["unit"] == "市政务服务数据管理局"
    assert sent[0].snapshot["system_name"] == "政务服务网"
    assert one(rt, finding_id).notified == ("reminded", "urged", "enforceable")

    at(clock, D(2026, 9, 2))
    same = record(rt, evaluation(Verdict.FINDING, "2026-06"))  # the same evaluation again changes nothing
    assert (same.changes, same.unchanged) == ([], 1)
    unknown = record(rt, evaluation(Verdict.UNKNOWN, "2026-08"))
    assert (unknown.changes, unknown.ignored) == ([], 1)
    resolved = record(rt, evaluation(Verdict.CLEAR, "2026-08", value=35))
    assert [(c.transition.value, c.to_state) for c in resolved.changes] == [("resolve", S.RESOLVED)]
    stale = record(rt, evaluation(Verdict.FINDING, "2026-07"))  # older than what the finding holds
    assert (stale.changes, stale.ignored) == ([], 1)
    assert one(rt, finding_id).state is S.RESOLVED

    at(clock, D(2026, 10, 9))
    again = record(rt, evaluation(Verdict.FINDING, "2026-09"))
    assert [c.transition.value for c in again.changes] == ["reopen"]
    reopened = one(rt, finding_id)
    assert (reopened.state, reopened.cycle, reopened.notified, reopened.period) == (S.OPEN, 2, (), "2026-09")
    assert [c.to_state for c in tick(rt, calendar).changes] == [S.REMINDED]  # a new cycle, a new reminder

    with rt.engine.connect() as conn:
        logged = [e for e in iter_events(conn) if e.action.startswith("finding.")]
        rows = conn.execute(select(func.count()).select_from(finding_events)).scalar_one()
        month_events = transitions_between(conn, month("2026-08")[0], month("2026-09")[0])
    assert [e.action for e in logged] == [
        "finding.open",
        "finding.remind",
        "finding.urge",
        "finding.make-enforceable",
        "finding.resolve",
        "finding.reopen",
        "finding.remind",
    ]
    assert len(logged) == rows
    assert {e.target for e in logged} == {first.key}
    assert '"state":"urged"' in logged[2].after
    assert '"state":"reminded"' in logged[2].before
    assert [e.transition for e in month_events] == ["urge", "make-enforceable"]
    audit_ok(rt)


def test_urging_on_thursday_2026_02_12_is_enforceable_after_the_26th(
    rt: Runtime, clock: FixedClock, calendar: WorkingCalendar
) -> None:
    """Urged on Thursday 2026-02-12: its 5 working days end 2026-02-26 (Sat 14 worked, 15-23 off); still urged on
    the 26th, enforceable on the 27th."""
    at(clock, D(2026, 2, 1))
    opened = record(rt, evaluation(Verdict.FINDING, "2026-01").model_copy(update={"rule_id": "cq-urge-feb"}))
    finding_id = opened.changes[0].finding_id
    moves = ticks_until(rt, clock, calendar, D(2026, 2, 1), D(2026, 3, 2))
    assert moves == [(D(2026, 2, 12), "urged"), (D(2026, 2, 27), "enforceable")]
    with rt.engine.connect() as conn:
        history = finding_history(conn, finding_id)
    urged = next(e for e in history if e.transition == "urge")
    assert urged.time.astimezone(CST).date() == D(2026, 2, 12)
    assert [n.deadline for n in tx(rt, lambda c: notices(c, finding_id=finding_id))] == [D(2026, 2, 26), None]


def test_refused_transitions_change_nothing(rt: Runtime, clock: FixedClock, calendar: WorkingCalendar) -> None:
    """Enforcing an open finding, rejecting a dispute that is not one, exempting into the past or without a reason,
    and an unknown id are refused; the store and the operation log are as before."""
    at(clock, D(2026, 7, 20))
    finding_id = record(rt, evaluation(Verdict.FINDING, "2026-06")).changes[0].finding_id
    with rt.engine.connect() as conn:
        head = read_head(conn)
    now = clock.now()
    with pytest.raises(TransitionError, match="cannot mark-enforced a finding that is open"):
        tx(rt, lambda c: transitions.mark_enforced(c, rt.audit, finding_id, action_ref="a-1", actor="x", now=now))
    with pytest.raises(TransitionError, match="cannot reject-dispute"):
        tx(
            rt,
            lambda c: transitions.reject_dispute(
                c,
                rt.audit,
                finding_id,
                reason="no",
                actor="x",
                now=now,
                calendar=calendar,
                escalation_of=escalation_of,
            ),
        )
    with pytest.raises(transitions.FindingInputError, match="already past"):
        tx(
            rt,
            lambda c: transitions.exempt(
                c, rt.audit, finding_id, reason="budget", until=D(2026, 7, 19), actor="x", now=now
            ),
        )
    with pytest.raises(transitions.FindingInputError, match="reason is required"):
        tx(rt, lambda c: transitions.dispute(c, rt.audit, finding_id, reason="  ", actor="x", now=now))
    with pytest.raises(transitions.FindingNotFoundError):
        tx(rt, lambda c: transitions.resolve(c, rt.audit, 999, reason="gone", actor="x", now=now))
    with rt.engine.connect() as conn:
        assert read_head(conn) == head
    assert one(rt, finding_id).state is S.OPEN


def test_dispute_pauses_and_exemption_expires_back(rt: Runtime, clock: FixedClock, calendar: WorkingCalendar) -> None:
    """A dispute stops the ticks; rejected, the month counts again from that day. An exemption keeps the finding
    exempted through FINDING and CLEAR evaluations; after its last day it returns to reminded, or resolves when the
    latest evaluation was clear. Enforcement marks an enforceable finding enforced."""
    at(clock, D(2026, 7, 20))
    finding_id = record(rt, evaluation(Verdict.FINDING, "2026-06")).changes[0].finding_id
    tick(rt, calendar)  # reminded, deadline 08-20
    at(clock, D(2026, 7, 25))
    disputed = tx(
        rt,
        lambda c: transitions.dispute(
            c, rt.audit, finding_id, reason="业务高峰在年底", actor="unit:zwfw", now=clock.now()
        ),
    )
    assert (disputed.state, disputed.paused_state, disputed.deadline) == (S.DISPUTED, S.REMINDED, None)
    assert ticks_until(rt, clock, calendar, D(2026, 7, 26), D(2026, 9, 1)) == []
    at(clock, D(2026, 9, 1))
    back = tx(
        rt,
        lambda c: transitions.reject_dispute(
            c,
            rt.audit,
            finding_id,
            reason="全年利用率均低",
            actor="operator:li",
            now=clock.now(),
            calendar=calendar,
            escalation_of=escalation_of,
        ),
    )
    assert (back.state, back.deadline) == (S.REMINDED, D(2026, 10, 1))

    at(clock, D(2026, 9, 2))
    exempted = tx(
        rt,
        lambda c: transitions.exempt(
            c, rt.audit, finding_id, reason="迁移期间", until=D(2026, 9, 30), actor="operator:li", now=clock.now()
        ),
    )
    assert (exempted.state, exempted.paused_state, exempted.exempt_by) == (S.EXEMPTED, S.REMINDED, "operator:li")
    assert [c.transition.value for c in record(rt, evaluation(Verdict.FINDING, "2026-08")).changes] == ["refresh"]
    assert one(rt, finding_id).state is S.EXEMPTED
    assert ticks_until(rt, clock, calendar, D(2026, 9, 3), D(2026, 9, 30)) == []
    at(clock, D(2026, 10, 1))
    expired = tick(rt, calendar)
    assert [(c.transition.value, c.to_state) for c in expired.changes] == [("expire-exemption", S.REMINDED)]
    assert one(rt, finding_id).deadline == D(2026, 10, 30)  # a month again from the exemption's last day

    # exempted again, use recovers meanwhile: the expiry resolves it
    exempt_again = tx(
        rt,
        lambda c: transitions.exempt(
            c, rt.audit, finding_id, reason="再议", until=D(2026, 10, 5), actor="operator:li", now=clock.now()
        ),
    )
    assert exempt_again.state is S.EXEMPTED
    at(clock, D(2026, 10, 3))
    cleared = record(rt, evaluation(Verdict.CLEAR, "2026-09", value=40))
    assert [c.to_state for c in cleared.changes] == [S.EXEMPTED]
    at(clock, D(2026, 10, 6))
    assert [(c.transition.value, c.to_state) for c in tick(rt, calendar).changes] == [
        ("expire-exemption", S.REMINDED),
        ("resolve", S.RESOLVED),
    ]

    # another system goes all the way and is enforced
    at(clock, D(2026, 7, 20))
    other = record(rt, evaluation(Verdict.FINDING, "2026-06", system="SB-002")).changes[0].finding_id
    ticks_until(rt, clock, calendar, D(2026, 7, 20), D(2026, 8, 29))
    assert one(rt, other).state is S.ENFORCEABLE
    enforced = tx(
        rt,
        lambda c: transitions.mark_enforced(
            c, rt.audit, other, action_ref="action:42", actor="agent:enforcement", now=clock.now()
        ),
    )
    assert (enforced.state, enforced.action_ref) == (S.ENFORCED, "action:42")
    key = one(rt, finding_id).key
    with rt.engine.connect() as conn:
        assert [f.id for f in findings(conn, state=S.ENFORCED)] == [other]
        assert [f.id for f in findings(conn, system="ZW-001", state=[S.RESOLVED, S.OPEN])] == [finding_id]
        actions = [e.action for e in iter_events(conn) if e.target == key]
    for action in ("finding.dispute", "finding.reject-dispute", "finding.exempt", "finding.expire-exemption"):
        assert action in actions
    audit_ok(rt)


def test_maintenance_notice_two_working_days_ahead(rt: Runtime, clock: FixedClock, calendar: WorkingCalendar) -> None:
    """Enforcement announces a restart: refused for a day less than 2 working days away (Jiuquan 13), queued once
    per action ref otherwise, and ready only 2 working days after its delivery."""
    at(clock, D(2026, 7, 20))  # a Monday
    finding_id = record(rt, evaluation(Verdict.FINDING, "2026-06")).changes[0].finding_id
    now = clock.now()

    def announce(day: D) -> int:
        return tx(
            rt,
            lambda c: announce_maintenance(
                c,
                rt.audit,
                finding_id,
                ref="action:7",
                action="resize server web-1 to m1.small",
                action_day=day,
                now=now,
                calendar=calendar,
                actor="agent:enforcement",
            ),
        ).notice_id

    with pytest.raises(NoticeError, match="earliest day is 2026-07-22"):
        announce(D(2026, 7, 21))
    notice_id = announce(D(2026, 7, 22))
    assert announce(D(2026, 7, 22)) == notice_id
    with rt.engine.connect() as conn:
        assert not maintenance_ready(conn, notice_id, D(2026, 7, 22), calendar)  # not delivered yet
        (notice,) = notices(conn, kind="maintenance")
    assert notice.snapshot["action_day"] == "2026-07-22"
    assert notice.snapshot["action"]["en"] == "resize server web-1 to m1.small"
