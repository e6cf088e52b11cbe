"""Termination cases in the store: request, approve (the transition starts), the unit's backup confirmation with its
evidence, the second operator's wipe approval, refusal and cancellation.

Every function runs in the caller's transaction and appends its operation-log event (``termination.*``) on the same
connection, so the change and its event commit together. A system has at most one open case.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, RowMapping, insert, select, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.clock import CST
from controlplane.domain import Frozen, SystemStatus
from controlplane.hosting.evidence import EvidenceStore
from controlplane.store.tables import departments as dep_t
from controlplane.store.tables import systems as sys_t
from controlplane.store.tables import termination_cases as cases_t
from controlplane.termination.case import OPEN_STATES, CaseState, Move, advance
from controlplane.termination.guards import GuardError, two_person_refusal
from controlplane.termination.terms import TerminationTerms


class TerminationError(Exception):
    """Something termination refuses; the message is for the operator (``field`` names the input at fault)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CaseNotFoundError(TerminationError):
    """No such system, or no case for it."""


class Case(Frozen):
    """One termination case as stored."""

    id: int
    system: str
    unit: str
    state: CaseState
    reason: str
    stopped_use_on: dt.date | None
    late: bool = Field(description="requested later than the pack allows (Suining 16: reported to audit and finance)")
    requested_by: str
    requested_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    transition_ends: dt.date | None = Field(description="last day of the transition (UTC+8), inclusive")
    backup_confirmed_by: str | None
    backup_confirmed_at: dt.datetime | None
    backup_name: str | None
    backup_sha256: str | None
    backup_size: int | None
    wipe_approved_by: str | None
    wipe_approved_at: dt.datetime | None
    wipe_started_at: dt.datetime | None
    wiped_at: dt.datetime | None
    reclaimed_at: dt.datetime | None
    billing_end: dt.date | None
    closed_at: dt.datetime | None
    leftovers: tuple[dict[str, Any], ...] = ()
    reminders: tuple[int, ...] = Field(default=(), description="days-before of the reminders already logged")
    note: str = ""
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, m: Mapping[str, Any] | RowMapping) -> Case:
        data = dict(m)
        data["leftovers"] = tuple(json.loads(data["leftovers"]))
        data["reminders"] = tuple(json.loads(data["reminders"]))
        return cls.model_validate(data)

    def record(self) -> dict[str, Any]:
        """The case for the operation log and the CLI's json/yaml."""
        return self.model_dump(mode="json")


def _day(when: dt.datetime) -> dt.date:
    return when.astimezone(CST).date()


def _target(case: Case) -> str:
    return f"termination:{case.id}:system:{case.system}"


# -- reading -----------------------------------------------------------------------------------------------------


def get_case(conn: Connection, case_id: int, *, for_update: bool = False) -> Case:
    query = select(cases_t).where(cases_t.c.id == case_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise CaseNotFoundError(f"no termination case {case_id}", "case")
    return Case.from_row(row)


def case_of(conn: Connection, system: str, *, for_update: bool = False) -> Case:
    """The system's open case, else its latest one; ``CaseNotFoundError`` when it has none."""
    query = select(cases_t).where(cases_t.c.system == system).order_by(cases_t.c.id.desc())
    if for_update:
        query = query.with_for_update()
    rows = [Case.from_row(r) for r in conn.execute(query).mappings()]
    if not rows:
        raise CaseNotFoundError(f"system {system!r} has no termination case", "system")
    return next((c for c in rows if c.state in OPEN_STATES), rows[0])


def list_cases(conn: Connection, state: CaseState | None = None) -> list[Case]:
    query = select(cases_t).order_by(cases_t.c.id)
    if state is not None:
        query = query.where(cases_t.c.state == state.value)
    return [Case.from_row(r) for r in conn.execute(query).mappings()]


# -- writing -----------------------------------------------------------------------------------------------------


def _system_row(conn: Connection, system: str) -> RowMapping:
    row = (
        conn.execute(
            select(sys_t.c.key, sys_t.c.status, dep_t.c.name.label("unit"))
            .join(dep_t, dep_t.c.id == sys_t.c.department_id)
            .where((sys_t.c.key == system) | (sys_t.c.name == system))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise CaseNotFoundError(f"no system {system!r} in the ledger", "system")
    return row


def system_key(conn: Connection, system: str) -> str:
    """The ledger key of a system given by code or name; ``CaseNotFoundError`` when the ledger has none."""
    return str(_system_row(conn, system)["key"])


def set_system_status(
    conn: Connection, audit: AuditLog, system: str, status: SystemStatus, *, actor: str, why: str
) -> None:
    """Change the ledger's status of a system (terminating during a case, terminated once wiped), logged."""
    old = conn.execute(select(sys_t.c.status).where(sys_t.c.key == system)).scalar_one()
    if old == status.value:
        return
    conn.execute(update(sys_t).where(sys_t.c.key == system).values(status=status.value))
    audit.append(
        conn, Entry(actor, "system.status", f"system:{system}", {"status": old}, {"status": status, "why": why})
    )


def _save(conn: Connection, case: Case, now: dt.datetime, **values: Any) -> Case:
    conn.execute(update(cases_t).where(cases_t.c.id == case.id).values(updated_at=now, **values))
    return get_case(conn, case.id)


def _log(conn: Connection, audit: AuditLog, action: str, *, actor: str, before: Case | None, after: Case) -> int:
    keep = ("state", "late", "transition_ends", "backup_sha256", "billing_end")
    return audit.append(
        conn,
        Entry(
            actor,
            action,
            _target(after),
            {k: before.record()[k] for k in keep} if before is not None else None,
            after.record(),
        ),
    )


def request(
    conn: Connection,
    audit: AuditLog,
    terms: TerminationTerms,
    system: str,
    *,
    reason: str,
    stopped_use_on: dt.date | None,
    actor: str,
    now: dt.datetime,
) -> Case:
    """Open a case for ``system``; flagged ``late`` when requested after the pack's deadline (Suining 16)."""
    row = _system_row(conn, system)
    key = str(row["key"])
    if str(row["status"]) == SystemStatus.TERMINATED.value:
        raise TerminationError(f"system {key!r} is already terminated", "system")
    open_ = [c for c in list_cases(conn) if c.system == key and c.state in OPEN_STATES]
    if open_:
        raise TerminationError(f"system {key!r} already has open termination case {open_[0].id}", "system")
    today = _day(now)
    if stopped_use_on is not None and stopped_use_on > today:
        raise TerminationError(f"stopped-use date {stopped_use_on} is after today ({today})", "stopped_use_on")
    if not reason.strip():
        raise TerminationError("a termination request states its reason", "reason")
    late = terms.is_late(stopped_use_on, today)
    new_id = conn.execute(
        insert(cases_t).values(
            system=key,
            unit=str(row["unit"]),
            state=CaseState.REQUESTED.value,
            reason=reason.strip(),
            stopped_use_on=stopped_use_on,
            late=late,
            requested_by=actor,
            requested_at=now,
            leftovers="[]",
            reminders="[]",
            note="",
            updated_at=now,
        )
    ).inserted_primary_key
    assert new_id is not None
    case = get_case(conn, int(new_id[0]))
    _log(conn, audit, "termination.request", actor=actor, before=None, after=case)
    if late:
        deadline = terms.request_deadline(stopped_use_on) if stopped_use_on else None
        audit.append(
            conn,
            Entry(
                actor,
                "termination.late",
                _target(case),
                None,
                {
                    "stopped_use_on": stopped_use_on,
                    "request_deadline": deadline,
                    "requested_on": today,
                    "report_to": ["audit", "finance"],
                    "citation": terms.citation,
                },
            ),
        )
    return case


def approve(
    conn: Connection, audit: AuditLog, terms: TerminationTerms, case_id: int, *, actor: str, now: dt.datetime
) -> Case:
    """Approve: the transition starts the next day and runs ``terms.transition_months`` (Civil Code counting)."""
    case = get_case(conn, case_id, for_update=True)
    state = advance(case.state, Move.APPROVE)
    ends = terms.transition_last_day(_day(now))
    after = _save(conn, case, now, state=state.value, approved_by=actor, approved_at=now, transition_ends=ends)
    _log(conn, audit, "termination.approve", actor=actor, before=case, after=after)
    set_system_status(
        conn, audit, case.system, SystemStatus.TERMINATING, actor=actor, why=f"termination case {case.id}"
    )
    return after


def refuse(conn: Connection, audit: AuditLog, case_id: int, reason: str, *, actor: str, now: dt.datetime) -> Case:
    case = get_case(conn, case_id, for_update=True)
    state = advance(case.state, Move.REFUSE)
    after = _save(conn, case, now, state=state.value, note=reason, closed_at=now)
    _log(conn, audit, "termination.refuse", actor=actor, before=case, after=after)
    return after


def cancel(conn: Connection, audit: AuditLog, case_id: int, reason: str, *, actor: str, now: dt.datetime) -> Case:
    """Withdraw a case before its wipe started; the system is active again."""
    case = get_case(conn, case_id, for_update=True)
    state = advance(case.state, Move.CANCEL)
    after = _save(conn, case, now, state=state.value, note=reason, closed_at=now)
    _log(conn, audit, "termination.cancel", actor=actor, before=case, after=after)
    set_system_status(
        conn, audit, case.system, SystemStatus.ACTIVE, actor=actor, why=f"termination case {case.id} cancelled"
    )
    return after


def confirm_backup(
    conn: Connection,
    audit: AuditLog,
    files: EvidenceStore,
    case_id: int,
    *,
    name: str,
    chunks: Iterable[bytes],
    actor: str,
    now: dt.datetime,
) -> Case:
    """The unit's confirmation that migration and backup are done, with its evidence file (kept by SHA-256)."""
    case = get_case(conn, case_id, for_update=True)
    state = advance(case.state, Move.CONFIRM_BACKUP)
    if not name.strip():
        raise TerminationError("the evidence file needs a name", "evidence")
    stored = files.put(chunks)
    if stored.size == 0:
        raise TerminationError("the evidence file is empty", "evidence")
    after = _save(
        conn,
        case,
        now,
        state=state.value,
        backup_confirmed_by=actor,
        backup_confirmed_at=now,
        backup_name=name.strip()[:200],
        backup_sha256=stored.sha256,
        backup_size=stored.size,
    )
    _log(conn, audit, "termination.confirm-backup", actor=actor, before=case, after=after)
    return after


def approve_wipe(conn: Connection, audit: AuditLog, case_id: int, actor: str, now: dt.datetime) -> Case:
    """The second operator's approval of the wipe (two-person rule: not the case's approver)."""
    case = get_case(conn, case_id, for_update=True)
    state = advance(case.state, Move.APPROVE_WIPE)
    refusal = two_person_refusal(case.approved_by, actor)
    if refusal:
        raise GuardError([refusal])
    after = _save(conn, case, now, state=state.value, wipe_approved_by=actor, wipe_approved_at=now)
    _log(conn, audit, "termination.approve-wipe", actor=actor, before=case, after=after)
    return after


def move(
    conn: Connection, audit: AuditLog, case: Case, to: Move, *, actor: str, now: dt.datetime, **values: Any
) -> Case:
    """A move the run makes (start-wipe, finish-wipe, reclaim, close), with its fields and its event."""
    state = advance(case.state, to)
    after = _save(conn, case, now, state=state.value, **values)
    _log(conn, audit, f"termination.{to.value}", actor=actor, before=case, after=after)
    return after
