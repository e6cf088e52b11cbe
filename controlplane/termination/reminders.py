"""Reminders before a transition ends (the pack's ``reminder_days``, e.g. 30, 7 and 1 days before its last day).

``due_reminders`` is pure: for each case whose transition runs, the one reminder due today (the nearest of the
days-before already reached that was not logged yet; reminders missed on earlier days are not sent late one by one).
``record_reminder`` logs it once (``termination.reminder``) and remembers every days-before it covers, so the
agent's daily tick or an operator's ``terminate reminders`` never sends the same reminder twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.clock import CST
from controlplane.store.tables import termination_cases as cases_t
from controlplane.termination.case import CaseState
from controlplane.termination.cases import Case, list_cases
from controlplane.termination.terms import TerminationTerms

_RUNNING = frozenset({CaseState.APPROVED, CaseState.BACKUP_CONFIRMED})


@dataclass(frozen=True, slots=True)
class Reminder:
    case: Case
    days: int  # the days-before this reminder stands for
    covers: tuple[int, ...]  # every days-before already reached: none of them is sent after this one


def due_reminders(cases: Iterable[Case], today: dt.date, terms: TerminationTerms) -> list[Reminder]:
    due: list[Reminder] = []
    for case in cases:
        if case.state not in _RUNNING or case.transition_ends is None:
            continue
        left = (case.transition_ends - today).days
        if left < 0:
            continue
        reached = sorted((d for d in terms.reminder_days if left <= d), reverse=True)
        if reached and reached[-1] not in case.reminders:
            due.append(Reminder(case, reached[-1], tuple(reached)))
    return due


def record_reminder(conn: Connection, audit: AuditLog, reminder: Reminder, *, actor: str, now: dt.datetime) -> None:
    case = reminder.case
    covered = sorted({*case.reminders, *reminder.covers}, reverse=True)
    conn.execute(update(cases_t).where(cases_t.c.id == case.id).values(reminders=json.dumps(covered), updated_at=now))
    audit.append(
        conn,
        Entry(
            actor,
            "termination.reminder",
            f"termination:{case.id}:system:{case.system}",
            None,
            {"unit": case.unit, "transition_ends": case.transition_ends, "days_before": reminder.days},
        ),
    )


def log_due_reminders(
    engine: Engine, audit: AuditLog, terms: TerminationTerms, *, actor: str, now: dt.datetime
) -> list[Reminder]:
    """Log every reminder due today (UTC+8) once, in one transaction (the agent's daily tick calls this)."""
    with engine.begin() as conn:
        due = due_reminders(list_cases(conn), now.astimezone(CST).date(), terms)
        for reminder in due:
            record_reminder(conn, audit, reminder, actor=actor, now=now)
    return due
