"""Findings as the store keeps them, and the one way a finding changes: ``write`` updates the row, appends the
operation-log event (``finding.<transition>``, target the finding's key, before and after) and the ``finding_events``
row that keeps it queryable, all on the caller's connection, so they commit or roll back together.

The transitions themselves (from evaluations, from the calendar, from people) are in ``transitions``; the state
machine they obey in ``lifecycle``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, RowMapping, insert, select, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.domain import Frozen
from controlplane.policy.lifecycle import Transition
from controlplane.policy.model import Evaluation, Evidence, FindingState, Outcome, Verdict
from controlplane.store.tables import finding_events
from controlplane.store.tables import findings as findings_table

ACROSS_CLOUDS = "*"  # the key's cloud part for an evaluation of a system across its clouds


class Finding(Frozen):
    """One rule a system breaks (or broke), with the latest evaluation's evidence and where its lifecycle stands."""

    id: int
    key: str
    pack: str
    rule_id: str
    citation: str
    system: str
    cloud: str | None
    scope_kind: str
    scope_id: str
    outcome: Outcome
    state: FindingState
    cycle: int = Field(description="1, then +1 each time a resolved or enforced finding is broken again")
    opened: dt.datetime = Field(description="UTC: when this cycle opened")
    state_since: dt.datetime
    updated: dt.datetime
    period: str = Field(description="the latest evaluation's period, e.g. 2026-10")
    window_start: dt.datetime
    window_end: dt.datetime
    evidence: tuple[Evidence, ...]
    reason: str
    last_verdict: Verdict
    deadline: dt.date | None = Field(description="UTC+8 day the next escalation step falls due; None: no step")
    paused_state: FindingState | None = Field(description="the state an exemption or dispute interrupted")
    exempt_reason: str | None
    exempt_until: dt.date | None = Field(description="last day (UTC+8) of the exemption")
    exempt_by: str | None
    dispute_reason: str | None
    notified: tuple[str, ...] = Field(description="notice kinds produced in this cycle")
    action_ref: str | None = Field(description="enforcement's reference of the action that enforced it")


class FindingEvent(Frozen):
    """One transition, as ``finding_events`` keeps it beside its operation-log event."""

    id: int
    finding_id: int
    time: dt.datetime
    actor: str
    transition: str
    from_state: FindingState | None
    to_state: FindingState
    cycle: int
    detail: dict[str, Any]
    audit_seq: int


def finding_key(evaluation: Evaluation) -> str:
    """pack/rule/system/cloud/scope: one finding per rule, system, cloud and scope, across periods."""
    cloud = evaluation.cloud or ACROSS_CLOUDS
    return f"{evaluation.pack}/{evaluation.rule_id}/{evaluation.system}/{cloud}/{evaluation.scope_id}"


def evidence_json(evidence: Iterable[Evidence]) -> str:
    return json.dumps([e.model_dump(mode="json") for e in evidence], ensure_ascii=False, sort_keys=True)


def to_finding(row: RowMapping) -> Finding:
    paused = row["paused_state"]
    return Finding(
        id=int(row["id"]),
        key=row["key"],
        pack=row["pack"],
        rule_id=row["rule_id"],
        citation=row["citation"],
        system=row["system"],
        cloud=row["cloud"],
        scope_kind=row["scope_kind"],
        scope_id=row["scope_id"],
        outcome=Outcome(row["outcome"]),
        state=FindingState(row["state"]),
        cycle=int(row["cycle"]),
        opened=row["opened"],
        state_since=row["state_since"],
        updated=row["updated"],
        period=row["period"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        evidence=tuple(Evidence.model_validate(e) for e in json.loads(row["evidence"])),
        reason=row["reason"],
        last_verdict=Verdict(row["last_verdict"]),
        deadline=row["deadline"],
        paused_state=FindingState(paused) if paused else None,
        exempt_reason=row["exempt_reason"],
        exempt_until=row["exempt_until"],
        exempt_by=row["exempt_by"],
        dispute_reason=row["dispute_reason"],
        notified=tuple(json.loads(row["notified"])),
        action_ref=row["action_ref"],
    )


# -- queries ---------------------------------------------------------------------------------------------------------


def findings(
    conn: Connection,
    *,
    state: FindingState | str | Iterable[FindingState | str] | None = None,
    system: str | None = None,
    pack: str | None = None,
    cloud: str | None = None,
    rule_id: str | None = None,
) -> list[Finding]:
    """Findings by state(s), system, pack, cloud or rule, oldest first."""
    query = select(findings_table).order_by(findings_table.c.id)
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        query = query.where(findings_table.c.state.in_([str(s) for s in states]))
    for column, value in (("system", system), ("pack", pack), ("cloud", cloud), ("rule_id", rule_id)):
        if value is not None:
            query = query.where(findings_table.c[column] == value)
    return [to_finding(row) for row in conn.execute(query).mappings()]


def get_finding(conn: Connection, finding_id: int, *, for_update: bool = False) -> Finding | None:
    query = select(findings_table).where(findings_table.c.id == finding_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return to_finding(row) if row is not None else None


def finding_history(conn: Connection, finding_id: int) -> list[FindingEvent]:
    """Every transition of one finding, in order."""
    query = select(finding_events).where(finding_events.c.finding_id == finding_id).order_by(finding_events.c.id)
    return [_to_event(row) for row in conn.execute(query).mappings()]


def transitions_between(conn: Connection, start: dt.datetime, end: dt.datetime) -> list[FindingEvent]:
    """Every transition of any finding in [start, end) (UTC): what a monthly report counts."""
    query = (
        select(finding_events)
        .where(finding_events.c.time >= start, finding_events.c.time < end)
        .order_by(finding_events.c.id)
    )
    return [_to_event(row) for row in conn.execute(query).mappings()]


def _to_event(row: RowMapping) -> FindingEvent:
    return FindingEvent(
        id=int(row["id"]),
        finding_id=int(row["finding_id"]),
        time=row["time"],
        actor=row["actor"],
        transition=row["transition"],
        from_state=FindingState(row["from_state"]) if row["from_state"] else None,
        to_state=FindingState(row["to_state"]),
        cycle=int(row["cycle"]),
        detail=json.loads(row["detail"]),
        audit_seq=int(row["audit_seq"]),
    )


# -- writing ---------------------------------------------------------------------------------------------------------

# what the operation log shows of a finding before and after a transition
_LOGGED = (
    "state",
    "cycle",
    "deadline",
    "period",
    "paused_state",
    "exempt_reason",
    "exempt_until",
    "exempt_by",
    "dispute_reason",
    "action_ref",
    "last_verdict",
)


def logged(finding: Finding | Mapping[str, Any]) -> dict[str, Any]:
    data = finding.model_dump(mode="json") if isinstance(finding, Finding) else dict(finding)
    return {k: _plain(data.get(k)) for k in _LOGGED if data.get(k) is not None}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def insert_finding(
    conn: Connection, audit: AuditLog, values: Mapping[str, Any], *, now: dt.datetime, actor: str
) -> Finding:
    """A new finding (``values`` are its columns), with its ``finding.open`` event."""
    finding_id = conn.execute(insert(findings_table).values(**values)).inserted_primary_key
    assert finding_id is not None
    created = get_finding(conn, int(finding_id[0]))
    assert created is not None
    after = {
        **logged(created),
        "rule_id": created.rule_id,
        "citation": created.citation,
        "system": created.system,
        "cloud": created.cloud,
        "scope": f"{created.scope_kind}:{created.scope_id}",
        "outcome": created.outcome.value,
        "evidence": [e.model_dump(mode="json") for e in created.evidence],
    }
    _record(conn, audit, created, Transition.OPEN, None, after, now=now, actor=actor, detail={})
    return created


def write(
    conn: Connection,
    audit: AuditLog,
    finding: Finding,
    transition: Transition,
    changes: Mapping[str, Any],
    *,
    now: dt.datetime,
    actor: str,
    detail: Mapping[str, Any] | None = None,
) -> Finding:
    """Apply ``changes`` (columns) to the finding as ``transition``, logged before/after; returns the new finding."""
    values = dict(changes)
    if "state" in values and values["state"] != finding.state:
        values.setdefault("state_since", now)
    values["updated"] = now
    conn.execute(update(findings_table).where(findings_table.c.id == finding.id).values(**values))
    after = get_finding(conn, finding.id)
    assert after is not None
    before_log = logged(finding)
    after_log = logged(after)
    if "evidence" in values:
        after_log["evidence"] = [e.model_dump(mode="json") for e in after.evidence]
    _record(conn, audit, after, transition, before_log, after_log, now=now, actor=actor, detail=detail or {})
    return after


def _record(  # noqa: PLR0917 - private: the transition and its before/after, as write has them
    conn: Connection,
    audit: AuditLog,
    finding: Finding,
    transition: Transition,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    *,
    now: dt.datetime,
    actor: str,
    detail: Mapping[str, Any],
) -> None:
    seq = audit.append(
        conn,
        Entry(
            actor=actor,
            action=f"finding.{transition.value}",
            target=finding.key,
            before=before,
            after={**after, **({"detail": dict(detail)} if detail else {})},
        ),
    )
    conn.execute(
        insert(finding_events).values(
            finding_id=finding.id,
            time=now,
            actor=actor,
            transition=transition.value,
            from_state=before.get("state") if before else None,
            to_state=finding.state.value,
            cycle=finding.cycle,
            detail=json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, default=str),
            audit_seq=seq,
        )
    )
