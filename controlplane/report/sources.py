"""The report's seams onto what other parts of yunguan record: findings (the findings lifecycle, table ``findings``)
and enforcement actions (table ``actions``). Each is read by one small function here and nowhere else in the report,
so the report follows those parts' tables without knowing their logic.

A store whose schema predates those tables answers "not recorded" — which the report says in words — rather than
"none": an empty list means "none" only when the table is there.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, and_, inspect, or_, select

from controlplane.audit.chain import format_time, parse_time
from controlplane.policy.model import TERMINAL
from controlplane.report.model import Action, Finding
from controlplane.store.tables import actions as actions_t
from controlplane.store.tables import findings as findings_t


def _recorded(conn: Connection, name: str) -> bool:
    return inspect(conn).has_table(name)


def findings_in_month(conn: Connection, start: dt.datetime, end: dt.datetime) -> tuple[list[Finding], bool]:
    """The findings that were open at some time in the month: opened before its end, and either still being handled
    or closed (enforced, resolved, exempted) no earlier than its start; each with its state now. Returns (findings,
    recorded): ``recorded`` is False when this store has no findings table."""
    if not _recorded(conn, "findings"):
        return [], False
    f = findings_t.c
    closed = [s.value for s in TERMINAL]
    rows = conn.execute(
        select(
            f.id,
            f.pack,
            f.rule_id,
            f.citation,
            f.system,
            f.cloud,
            f.scope_kind,
            f.scope_id,
            f.outcome,
            f.state,
            f.opened,
            f.deadline,
        )
        .where(f.opened < end, or_(f.state.not_in(closed), f.state_since >= start))
        .order_by(f.system, f.opened, f.id)
    )
    return [
        Finding(
            id=r.id,
            pack=r.pack,
            rule_id=r.rule_id,
            citation=r.citation,
            system=r.system,
            cloud=r.cloud or None,
            scope_kind=r.scope_kind,
            scope_id=r.scope_id,
            outcome=r.outcome,
            state=r.state,
            opened=r.opened,
            deadline=r.deadline,
        )
        for r in rows
    ], True


def actions_in_month(conn: Connection, start: dt.datetime, end: dt.datetime) -> tuple[list[Action], bool]:
    """Enforcement actions with activity in the month (created before its end, last changed after its start), with
    their state now and the system of the finding they act on. Returns (actions, recorded) as above."""
    if not _recorded(conn, "actions"):
        return [], False
    a, f = actions_t.c, findings_t.c
    rows = conn.execute(
        select(a.id, a.finding_id, f.system, a.cloud, a.kind, a.target, a.state, a.updated)
        .select_from(actions_t.outerjoin(findings_t, f.id == a.finding_id))
        .where(and_(a.created < format_time(end), a.updated >= format_time(start)))
        .order_by(a.updated, a.id)
    )
    return [
        Action(
            id=r.id,
            finding_id=r.finding_id,
            system=r.system or "",
            cloud=r.cloud or None,
            kind=r.kind,
            target=r.target,
            state=r.state,
            at=parse_time(r.updated),
        )
        for r in rows
    ], True
