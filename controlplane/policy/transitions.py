"""How findings move: from evaluations (``record_evaluations``), from the calendar (``tick``) and from people
(``exempt``, ``dispute``, ``reject_dispute``, ``resolve``, ``mark_enforced``).

Every function works on the caller's connection and writes each transition with its operation-log event
(``findings.write``), so a transition and its record commit together. A FINDING evaluation opens a finding (or
refreshes an open one's evidence, or reopens a resolved or enforced one as a new cycle); a CLEAR evaluation resolves
it by itself ("a finding resolves by itself when the unit downsizes or use recovers"); UNKNOWN changes nothing. An
evaluation older than the one a finding already holds changes nothing either, so re-running an old month cannot
undo a newer verdict. Exempted findings stay exempted until the exemption's last day has passed; then they return to
the state it interrupted with that step's period counted again from the exemption's last day (or resolve, if the
latest evaluation was clear). Each escalation step (reminded, urged, enforceable) queues a notice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from controlplane.audit.log import AuditLog
from controlplane.calendar import CalendarError, WorkingCalendar
from controlplane.clock import CST
from controlplane.policy import lifecycle
from controlplane.policy.findings import (
    Finding,
    evidence_json,
    finding_key,
    get_finding,
    insert_finding,
    to_finding,
    write,
)
from controlplane.policy.lifecycle import ACTIVE, LIVE, STEP_TRANSITION, Transition
from controlplane.policy.model import EscalationStep, Evaluation, FindingState, Verdict
from controlplane.policy.notices.outbox import queue_notice
from controlplane.store.tables import findings as findings_table

S = FindingState
EscalationOf = Callable[[str], tuple[EscalationStep, ...]]  # rule id -> its escalation (LookupError: unknown rule)


class FindingNotFoundError(LookupError):
    """No finding with that id."""


class FindingInputError(ValueError):
    """A transition asked for with a missing reason, an impossible day, or a rule no configured pack has."""


@dataclass(frozen=True, slots=True)
class Change:
    """One transition that happened."""

    finding_id: int
    key: str
    transition: Transition
    from_state: FindingState | None
    to_state: FindingState
    deadline: dt.date | None


@dataclass
class Result:
    """What a ``record_evaluations`` or ``tick`` did."""

    changes: list[Change] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)  # ids of notices queued
    unchanged: int = 0  # evaluations that changed nothing
    ignored: int = 0  # UNKNOWN evaluations, and stale ones (older than what the finding holds)
    problems: list[str] = field(default_factory=list)  # findings that could not move, and why

    def count(self) -> Counter[str]:
        return Counter(c.transition.value for c in self.changes)

    def _add(self, before: Finding | None, after: Finding, transition: Transition) -> None:
        self.changes.append(
            Change(after.id, after.key, transition, before.state if before else None, after.state, after.deadline)
        )


def cst_day(now: dt.datetime) -> dt.date:
    return now.astimezone(CST).date()


# -- from evaluations -------------------------------------------------------------------------------------------------


def record_evaluations(  # noqa: PLR0917 - the issue's signature, which the evaluator and the agent call
    conn: Connection,
    audit: AuditLog,
    evaluations: Iterable[Evaluation],
    escalation_of: EscalationOf,
    now: dt.datetime,
    actor: str,
    *,
    calendar: WorkingCalendar | None = None,
) -> Result:
    """Open, refresh, reopen or resolve findings from a pack's evaluations (see the module docstring)."""
    calendar = calendar or WorkingCalendar()
    today = cst_day(now)
    result = Result()
    batch = sorted(evaluations, key=lambda e: e.window_end)  # several periods at once: in time order
    keys = sorted({finding_key(e) for e in batch})
    held: dict[str, Finding] = {}
    for i in range(0, len(keys), 500):
        query = select(findings_table).where(findings_table.c.key.in_(keys[i : i + 500])).with_for_update()
        held.update({row["key"]: to_finding(row) for row in conn.execute(query).mappings()})
    for ev in batch:
        key = finding_key(ev)
        current = held.get(key)
        if ev.verdict is Verdict.UNKNOWN or (current is not None and ev.window_end < current.window_end):
            result.ignored += 1
            continue
        after = _apply_evaluation(
            conn,
            audit,
            ev,
            current,
            escalation_of=escalation_of,
            calendar=calendar,
            today=today,
            now=now,
            actor=actor,
            result=result,
        )
        if after is None:
            result.unchanged += 1
        else:
            held[key] = after
    return result


def _latest(ev: Evaluation) -> dict[str, object]:
    return {
        "period": ev.period,
        "window_start": ev.window_start,
        "window_end": ev.window_end,
        "evidence": evidence_json(ev.evidence),
        "reason": ev.reason,
        "last_verdict": ev.verdict.value,
        "citation": ev.citation,
        "outcome": ev.outcome.value,
    }


def _apply_evaluation(
    conn: Connection,
    audit: AuditLog,
    ev: Evaluation,
    current: Finding | None,
    *,
    escalation_of: EscalationOf,
    calendar: WorkingCalendar,
    today: dt.date,
    now: dt.datetime,
    actor: str,
    result: Result,
) -> Finding | None:
    latest = _latest(ev)
    period = {"period": ev.period}
    if ev.verdict is Verdict.FINDING:
        steps = escalation_of(ev.rule_id)
        first = lifecycle.next_deadline(steps, S.OPEN, today, calendar)
        if current is None:
            values = {
                **latest,
                "key": finding_key(ev),
                "pack": ev.pack,
                "rule_id": ev.rule_id,
                "system": ev.system,
                "cloud": ev.cloud,
                "scope_kind": ev.scope_kind,
                "scope_id": ev.scope_id,
                "state": S.OPEN.value,
                "cycle": 1,
                "opened": now,
                "state_since": now,
                "updated": now,
                "deadline": first,
                "notified": "[]",
            }
            after = insert_finding(conn, audit, values, now=now, actor=actor)
            result._add(None, after, Transition.OPEN)
            return after
        if current.state in (S.RESOLVED, S.ENFORCED):
            changes = {
                **latest,
                **_cleared(),
                "state": S.OPEN.value,
                "cycle": current.cycle + 1,
                "opened": now,
                "deadline": first,
                "action_ref": None,
            }
            after = write(conn, audit, current, Transition.REOPEN, changes, now=now, actor=actor, detail=period)
            result._add(current, after, Transition.REOPEN)
            return after
        return _refresh(conn, audit, current, latest, now=now, actor=actor, result=result)
    # CLEAR
    if current is None or current.state not in LIVE:
        return None
    if current.state is S.EXEMPTED:  # stays exempted until the exemption ends; remembered for then
        return _refresh(conn, audit, current, latest, now=now, actor=actor, result=result)
    changes = {**latest, "state": S.RESOLVED.value, "deadline": None}
    detail = {**period, "by": "evaluation"}
    after = write(conn, audit, current, Transition.RESOLVE, changes, now=now, actor=actor, detail=detail)
    result._add(current, after, Transition.RESOLVE)
    return after


def _cleared() -> dict[str, object]:
    return {
        "paused_state": None,
        "exempt_reason": None,
        "exempt_until": None,
        "exempt_by": None,
        "dispute_reason": None,
        "notified": "[]",
    }


def _refresh(
    conn: Connection,
    audit: AuditLog,
    current: Finding,
    latest: dict[str, object],
    *,
    now: dt.datetime,
    actor: str,
    result: Result,
) -> Finding | None:
    held = {
        "period": current.period,
        "window_start": current.window_start,
        "window_end": current.window_end,
        "evidence": evidence_json(current.evidence),
        "reason": current.reason,
        "last_verdict": current.last_verdict.value,
        "citation": current.citation,
        "outcome": current.outcome.value,
    }
    changes = {k: v for k, v in latest.items() if held[k] != v}
    if not changes:
        return None
    detail = {"period": latest["period"]}
    after = write(conn, audit, current, Transition.REFRESH, changes, now=now, actor=actor, detail=detail)
    result._add(current, after, Transition.REFRESH)
    return after


# -- from the calendar -----------------------------------------------------------------------------------------------


def tick(  # noqa: PLR0917 - the issue's signature, which the agent and enforcement call
    conn: Connection,
    audit: AuditLog,
    now: dt.datetime,
    calendar: WorkingCalendar,
    escalation_of: EscalationOf,
    actor: str,
) -> Result:
    """Expire ended exemptions, then take every escalation step that has fallen due by today (UTC+8), each with
    its notice. A finding whose rule is unknown or whose next deadline cannot be counted (a year the calendar does
    not know) stays where it is and is reported in ``problems``; the others move on."""
    today = cst_day(now)
    result = Result()
    expired = select(findings_table).where(
        findings_table.c.state == S.EXEMPTED.value, findings_table.c.exempt_until < today
    )
    for row in conn.execute(expired.order_by(findings_table.c.id).with_for_update()).mappings().all():
        finding = to_finding(row)
        _expire(
            conn, audit, finding, calendar=calendar, escalation_of=escalation_of, now=now, actor=actor, result=result
        )
    due = select(findings_table).where(
        findings_table.c.state.in_([S.OPEN.value, S.REMINDED.value, S.URGED.value]),
        findings_table.c.deadline <= today,
    )
    for row in conn.execute(due.order_by(findings_table.c.id).with_for_update()).mappings().all():
        finding = to_finding(row)
        _escalate(
            conn,
            audit,
            finding,
            calendar=calendar,
            escalation_of=escalation_of,
            today=today,
            now=now,
            actor=actor,
            result=result,
        )
    return result


def _steps(finding: Finding, escalation_of: EscalationOf, result: Result) -> tuple[EscalationStep, ...] | None:
    try:
        return escalation_of(finding.rule_id)
    except LookupError:
        result.problems.append(f"{finding.key}: rule {finding.rule_id} is in no loaded pack; left {finding.state}")
        return None


def _escalate(
    conn: Connection,
    audit: AuditLog,
    finding: Finding,
    *,
    calendar: WorkingCalendar,
    escalation_of: EscalationOf,
    today: dt.date,
    now: dt.datetime,
    actor: str,
    result: Result,
) -> None:
    steps = _steps(finding, escalation_of, result)
    if steps is None:
        return
    try:
        taken = lifecycle.due_steps(steps, finding.state, finding.deadline, today, calendar)
    except CalendarError as exc:
        result.problems.append(f"{finding.key}: {exc}; left {finding.state}")
        return
    for step, deadline in taken:
        transition = STEP_TRANSITION[step.to]
        lifecycle.check(finding.key, transition, finding.state)
        notified = json.dumps([*finding.notified, step.to])
        changes = {"state": step.to, "deadline": deadline, "notified": notified}
        detail = {"due": finding.deadline.isoformat() if finding.deadline else None, "citation": step.citation}
        before = finding
        finding = write(conn, audit, finding, transition, changes, now=now, actor=actor, detail=detail)
        result._add(before, finding, transition)
        following = lifecycle.next_step(steps, finding.state)  # what the notice says comes next, and why
        notice = queue_notice(
            conn,
            audit,
            finding,
            step.to,
            now=now,
            deadline=deadline,
            step_citation=(following or step).citation or step.citation,
            next_step=following.to if following else None,
            actor=actor,
        )
        result.notices.append(notice)


def _expire(
    conn: Connection,
    audit: AuditLog,
    finding: Finding,
    *,
    calendar: WorkingCalendar,
    escalation_of: EscalationOf,
    now: dt.datetime,
    actor: str,
    result: Result,
) -> None:
    back = finding.paused_state or S.OPEN
    deadline: dt.date | None = None
    if back in ACTIVE:
        steps = _steps(finding, escalation_of, result)
        if steps is None:
            return
        assert finding.exempt_until is not None
        try:
            deadline = lifecycle.next_deadline(steps, back, finding.exempt_until, calendar)
        except CalendarError as exc:
            result.problems.append(f"{finding.key}: {exc}; left exempted")
            return
    changes = {"state": back.value, "deadline": deadline, "paused_state": None}
    detail = {"until": finding.exempt_until.isoformat() if finding.exempt_until else None}
    before = finding
    finding = write(conn, audit, finding, Transition.EXPIRE_EXEMPTION, changes, now=now, actor=actor, detail=detail)
    result._add(before, finding, Transition.EXPIRE_EXEMPTION)
    if finding.last_verdict is Verdict.CLEAR:  # use recovered while it was exempted
        changes = {"state": S.RESOLVED.value, "deadline": None}
        detail = {"period": finding.period, "by": "evaluation"}
        before = finding
        finding = write(conn, audit, finding, Transition.RESOLVE, changes, now=now, actor=actor, detail=detail)
        result._add(before, finding, Transition.RESOLVE)


# -- from people -----------------------------------------------------------------------------------------------------


def _load(conn: Connection, finding_id: int) -> Finding:
    finding = get_finding(conn, finding_id, for_update=True)
    if finding is None:
        raise FindingNotFoundError(f"no finding {finding_id}")
    return finding


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise FindingInputError("a reason is required")
    return reason


def exempt(
    conn: Connection,
    audit: AuditLog,
    finding_id: int,
    *,
    reason: str,
    until: dt.date,
    actor: str,
    now: dt.datetime,
) -> Finding:
    """Exempt a finding until ``until`` (its last day, UTC+8): escalation stops, evaluations only refresh the
    evidence; after that day the next tick returns it to the state it interrupted. An exempted dispute is settled:
    it returns to the state the dispute had interrupted."""
    finding = _load(conn, finding_id)
    lifecycle.check(finding.key, Transition.EXEMPT, finding.state)
    reason = _reason(reason)
    if until < cst_day(now):
        raise FindingInputError(f"the exemption's last day {until} is already past")
    paused = finding.paused_state if finding.state is S.DISPUTED else finding.state
    changes = {
        "state": S.EXEMPTED.value,
        "paused_state": (paused or S.OPEN).value,
        "deadline": None,
        "exempt_reason": reason,
        "exempt_until": until,
        "exempt_by": actor,
    }
    detail = {"reason": reason, "until": until.isoformat()}
    return write(conn, audit, finding, Transition.EXEMPT, changes, now=now, actor=actor, detail=detail)


def dispute(
    conn: Connection, audit: AuditLog, finding_id: int, *, reason: str, actor: str, now: dt.datetime
) -> Finding:
    """The unit contests the finding: escalation pauses until the dispute is rejected or the finding resolves."""
    finding = _load(conn, finding_id)
    lifecycle.check(finding.key, Transition.DISPUTE, finding.state)
    reason = _reason(reason)
    changes = {
        "state": S.DISPUTED.value,
        "paused_state": finding.state.value,
        "deadline": None,
        "dispute_reason": reason,
    }
    return write(conn, audit, finding, Transition.DISPUTE, changes, now=now, actor=actor, detail={"reason": reason})


def reject_dispute(
    conn: Connection,
    audit: AuditLog,
    finding_id: int,
    *,
    reason: str,
    actor: str,
    now: dt.datetime,
    calendar: WorkingCalendar,
    escalation_of: EscalationOf,
) -> Finding:
    """The dispute is not upheld: back to the state it interrupted, that step's period counted again from today."""
    finding = _load(conn, finding_id)
    lifecycle.check(finding.key, Transition.REJECT_DISPUTE, finding.state)
    reason = _reason(reason)
    back = finding.paused_state or S.OPEN
    try:
        escalation = escalation_of(finding.rule_id)
    except KeyError:
        msg = f"finding {finding_id}: its rule {finding.rule_id} is in no configured pack: no next deadline"
        raise FindingInputError(msg) from None
    deadline = lifecycle.next_deadline(escalation, back, cst_day(now), calendar)
    changes = {"state": back.value, "paused_state": None, "deadline": deadline}
    detail = {"reason": reason}
    return write(conn, audit, finding, Transition.REJECT_DISPUTE, changes, now=now, actor=actor, detail=detail)


def resolve(
    conn: Connection, audit: AuditLog, finding_id: int, *, reason: str, actor: str, now: dt.datetime
) -> Finding:
    """An operator closes the finding (the unit fixed it, or the dispute was upheld)."""
    finding = _load(conn, finding_id)
    lifecycle.check(finding.key, Transition.RESOLVE, finding.state)
    reason = _reason(reason)
    changes = {"state": S.RESOLVED.value, "deadline": None}
    detail = {"reason": reason, "by": "operator"}
    return write(conn, audit, finding, Transition.RESOLVE, changes, now=now, actor=actor, detail=detail)


def mark_enforced(
    conn: Connection, audit: AuditLog, finding_id: int, *, action_ref: str, actor: str, now: dt.datetime
) -> Finding:
    """Enforcement carried out the action (``action_ref``: its reference) on an enforceable finding."""
    finding = _load(conn, finding_id)
    lifecycle.check(finding.key, Transition.MARK_ENFORCED, finding.state)
    if not action_ref.strip():
        raise FindingInputError("the action's reference is required")
    changes = {"state": S.ENFORCED.value, "deadline": None, "action_ref": action_ref.strip()}
    detail = {"action_ref": action_ref.strip()}
    return write(conn, audit, finding, Transition.MARK_ENFORCED, changes, now=now, actor=actor, detail=detail)
