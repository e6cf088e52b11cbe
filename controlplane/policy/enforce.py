"""Enforcement: plan → approval → apply → verify, with every guard required and every step in the operation log.

An action is carried out only when all agree (DESIGN.md principle 2, the issue's guards):
- the pack enforces the rule (``enforce: true``), and the finding is ``enforceable`` (its deadline has passed on the
  working-day calendar) — an exempted, disputed or resolved finding never is;
- it was approved by an operator, or the pack approves automatically (``auto: true``);
- the run is not a dry run;
- the run stays within the blast radius: at most ``max_actions`` actions, and at most ``max_percent`` of the cloud's
  resources;
- an action that interrupts a system (resize restarts a server, stop stops it) had its maintenance notice sent at
  least 2 working days before (Jiuquan 13): the first run that finds it due sends the notice and waits.

Write-ahead: the intent is logged (and the action marked ``applying``) in a committed transaction before the cloud
is touched; the result is logged after. Each action has an idempotency key, so a crash between intent and result is
resumed on the next run: if the cloud already holds the action's target (read back), the result is recorded without
touching the cloud again; otherwise the idempotent action is applied once more, and after ``max_attempts`` it is
marked failed for an operator.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from controlplane.audit.chain import format_time
from controlplane.audit.log import AuditLog, Entry
from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST, Clock
from controlplane.policy.actuation import RESTARTS, ActionSpec, Actuator, ActuatorError
from controlplane.store.tables import actions as actions_table

MAINTENANCE_WORKING_DAYS = 2  # Jiuquan 13: an interruption is announced at least 2 working days ahead


class ActionState:
    PLANNED = "planned"
    APPROVED = "approved"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Guards:
    """What the pack and the deployment allow for one run."""

    enforces: Callable[[str], bool]  # rule id -> the pack enforces it
    finding_state: Callable[[Connection, int], str | None]  # finding id -> its state now (None: gone)
    max_actions: int = 5
    max_percent: float = 10.0
    resources: Mapping[str, int] = field(default_factory=dict)  # cloud -> how many servers/namespaces it has
    max_attempts: int = 2
    on_done: Callable[[Connection, int, str], None] | None = None  # (finding id, action key): mark it enforced


@dataclass
class RunReport:
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (key, why not now)
    resumed: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def action_key(finding_key: str, spec: ActionSpec) -> str:
    """The idempotency key: the finding and exactly what is to be done."""
    what = json.dumps(spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return f"{finding_key}#{hashlib.sha256(what.encode()).hexdigest()[:16]}"


def plan(
    conn: Connection,
    audit: AuditLog,
    *,
    finding_id: int,
    finding_key: str,
    rule_id: str,
    spec: ActionSpec,
    detail: Mapping[str, Any],
    now: dt.datetime,
    actor: str,
    auto: bool = False,
) -> str:
    """Record the plan for a finding (once: the same plan again is a no-op); approved at once when the pack says
    ``auto``. Returns the action's key."""
    key = action_key(finding_key, spec)
    if conn.execute(select(actions_table.c.id).where(actions_table.c.key == key)).first() is not None:
        return key
    state = ActionState.APPROVED if auto else ActionState.PLANNED
    conn.execute(
        insert(actions_table).values(
            key=key,
            finding_id=finding_id,
            rule_id=rule_id,
            cloud=spec.cloud,
            kind=spec.kind.value,
            target=spec.target,
            spec=json.dumps(spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False),
            detail=json.dumps(dict(detail), sort_keys=True, ensure_ascii=False, default=str),
            state=state,
            approved_by=actor if auto else None,
            attempts=0,
            created=format_time(now),
            updated=format_time(now),
        )
    )
    audit.append(conn, Entry(actor, "enforcement.plan", key, None, {"spec": spec.model_dump(mode="json"), **detail}))
    if auto:
        audit.append(
            conn, Entry(actor, "enforcement.approve", key, {"state": "planned"}, {"state": state, "auto": True})
        )
    return key


def approve(conn: Connection, audit: AuditLog, key: str, now: dt.datetime, actor: str) -> bool:
    """An operator approves a planned action; False when there is no such planned action."""
    done = conn.execute(
        update(actions_table)
        .where(actions_table.c.key == key, actions_table.c.state == ActionState.PLANNED)
        .values(state=ActionState.APPROVED, approved_by=actor, updated=format_time(now))
    )
    if done.rowcount != 1:
        return False
    audit.append(conn, Entry(actor, "enforcement.approve", key, {"state": "planned"}, {"state": "approved"}))
    return True


def _spec(row: Any) -> ActionSpec:
    return ActionSpec.model_validate(json.loads(row.spec))


def _set(conn: Connection, key: str, now: dt.datetime, **values: Any) -> None:
    conn.execute(update(actions_table).where(actions_table.c.key == key).values(updated=format_time(now), **values))


def _notice_due(row: Any, today: dt.date, calendar: WorkingCalendar) -> tuple[bool, str]:
    """Whether a restarting action's maintenance notice went out at least 2 working days before today."""
    if row.notice_sent is None:
        return False, "maintenance notice not sent yet"
    sent = dt.date.fromisoformat(row.notice_sent)
    earliest = calendar.add_working_days(sent, MAINTENANCE_WORKING_DAYS)
    if today < earliest:
        return False, f"maintenance notice sent {sent}: not before {earliest} (Jiuquan 13)"
    return True, ""


def run(  # noqa: PLR0912, PLR0915 - one run reads best as the sequence of guards it is
    engine: Engine,
    audit: AuditLog,
    actuators: Mapping[str, Actuator],
    *,
    guards: Guards,
    clock: Clock,
    calendar: WorkingCalendar,
    actor: str,
    dry_run: bool = False,
    send_notice: Callable[[Connection, Any, ActionSpec], None] | None = None,
) -> RunReport:
    """One enforcement run: resume what a crash left ``applying``, then carry out approved actions that pass every
    guard. The store is never held open while a cloud is touched."""
    report = RunReport()
    today = clock.now().astimezone(CST).date()
    with engine.begin() as conn:
        rows = conn.execute(
            select(actions_table)
            .where(actions_table.c.state.in_([ActionState.APPLYING, ActionState.APPROVED]))
            .order_by(actions_table.c.id)
        ).all()
    per_cloud: dict[str, int] = {}
    count = 0
    for row in rows:
        spec = _spec(row)
        actuator = actuators.get(spec.cloud)
        if actuator is None:
            report.waiting.append((row.key, f"no actuator for cloud {spec.cloud}"))
            continue
        if row.state == ActionState.APPLYING:  # a crash between intent and result: finish, never act twice
            if dry_run:
                report.waiting.append((row.key, "dry run: an interrupted action is left as it is"))
                continue
            try:
                held = actuator.holds(spec)
            except ActuatorError as exc:
                report.waiting.append((row.key, f"cannot read the cloud back: {exc}"))
                continue
            if held:
                _record_result(
                    engine, audit, row, spec, clock=clock, actor=actor, changed=None, error="", guards=guards
                )
                report.resumed.append(row.key)
                continue
            if row.attempts >= guards.max_attempts:
                error = "not done after retries"
                _record_result(
                    engine, audit, row, spec, clock=clock, actor=actor, changed=None, error=error, guards=guards
                )
                report.failed.append((row.key, "not done after retries"))
                continue
        else:
            with engine.connect() as conn:
                state = guards.finding_state(conn, row.finding_id)
            why = ""
            if not guards.enforces(row.rule_id):
                why = f"the pack does not enforce {row.rule_id}"
            elif state != "enforceable":
                why = f"finding is {state or 'gone'}, not enforceable"
            elif dry_run:
                why = "dry run"
            elif count >= guards.max_actions:
                why = f"blast radius: at most {guards.max_actions} actions a run"
            else:
                total = guards.resources.get(spec.cloud, 0)
                share = (per_cloud.get(spec.cloud, 0) + 1) * 100 / total if total else 100.0
                if share > guards.max_percent:
                    why = f"blast radius: more than {guards.max_percent:g}% of {spec.cloud}'s resources"
            if not why and spec.kind in RESTARTS:
                due, why = _notice_due(row, today, calendar)
                if not due and row.notice_sent is None:
                    with engine.begin() as conn:
                        if send_notice is not None:
                            send_notice(conn, row, spec)
                        _set(conn, row.key, clock.now(), notice_sent=today.isoformat())
                        audit.append(
                            conn,
                            Entry(actor, "enforcement.maintenance-notice", row.key, None, {"sent": today.isoformat()}),
                        )
                    report.notices.append(row.key)
            if why:
                report.waiting.append((row.key, why))
                continue
        # write-ahead: the intent is committed before the cloud is touched
        with engine.begin() as conn:
            _set(conn, row.key, clock.now(), state=ActionState.APPLYING, attempts=row.attempts + 1)
            audit.append(
                conn,
                Entry(
                    actor,
                    "enforcement.intent",
                    row.key,
                    {"state": row.state},
                    {"state": ActionState.APPLYING, "spec": spec.model_dump(mode="json"), "attempt": row.attempts + 1},
                ),
            )
        count += 1
        per_cloud[spec.cloud] = per_cloud.get(spec.cloud, 0) + 1
        try:
            changed: bool | None = actuator.apply(spec)
            error = ""
        except ActuatorError as exc:
            changed, error = None, str(exc)[:500]
        _record_result(engine, audit, row, spec, clock=clock, actor=actor, changed=changed, error=error, guards=guards)
        (report.failed.append((row.key, error)) if error else report.done.append(row.key))
    return report


def _record_result(
    engine: Engine,
    audit: AuditLog,
    row: Any,
    spec: ActionSpec,
    *,
    clock: Clock,
    actor: str,
    changed: bool | None,
    error: str,
    guards: Guards,
) -> None:
    state = ActionState.FAILED if error else ActionState.DONE
    with engine.begin() as conn:
        _set(conn, row.key, clock.now(), state=state, error=error or None)
        audit.append(
            conn,
            Entry(
                actor,
                "enforcement.result",
                row.key,
                {"state": ActionState.APPLYING},
                {"state": state, "changed": changed, "error": error, "spec": spec.model_dump(mode="json")},
            ),
        )
        if not error and guards.on_done is not None:
            guards.on_done(conn, row.finding_id, row.key)


def actions(conn: Connection, state: str | None = None) -> list[dict[str, Any]]:
    query = select(actions_table).order_by(actions_table.c.id)
    if state:
        query = query.where(actions_table.c.state == state)
    return [dict(r._mapping) for r in conn.execute(query)]
