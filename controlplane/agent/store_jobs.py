"""The jobs that work on the store: usage rollups and retention, the findings lifecycle tick (with notice delivery),
the monthly evaluation, and the operation log's daily checkpoint and retention.

Plain functions of their dependencies; each runs in short transactions of its own and is idempotent, so a run that
failed is simply run again at the next tick.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from controlplane.agent.runner import Done, JobProblemError, check_stop
from controlplane.agent.runs import covered, purge_runs
from controlplane.calendar import WorkingCalendar
from controlplane.clock import Clock, today_cst
from controlplane.periods import add_months
from controlplane.policy import transitions
from controlplane.policy.facts import Month
from controlplane.policy.gather import evaluate_month
from controlplane.policy.notices.outbox import DeliveryReport, deliver_pending
from controlplane.policy.packs import Pack
from controlplane.runtime import Runtime
from controlplane.termination.reminders import log_due_reminders
from controlplane.termination.wiring import configured_terms
from controlplane.usage_rollup import retention_steps, roll_up

LIFECYCLE_ACTOR = "agent:lifecycle"
EVALUATION_ACTOR = "agent:evaluation"
RETENTION_ACTOR = "agent:retention"
Deliver = Callable[[Runtime], DeliveryReport]


def rollup_job(rt: Runtime, *, stop: threading.Event) -> Done:
    """Roll the samples up (every complete hour; complete UTC+8 days), then apply the usage retention in short
    transactions, as ``yunguan usage rollup`` does."""
    now = rt.clock.now()
    keep = rt.settings.usage
    with rt.engine.begin() as conn:
        done = roll_up(conn, now, not_before=now - dt.timedelta(days=keep.raw_days))
    detail = f"{done.hours} hours ({done.hourly_rows} rows), {done.days} days ({done.daily_rows} rows) rolled up"
    check_stop(stop, f"the usage retention ({detail})")
    removed = retention_steps(rt.engine.begin, now, keep)
    detail += (
        f"; retention removed {removed.samples} samples, {removed.hourly} hourly, {removed.daily} daily rollups, "
        f"{removed.sweeps} sweeps"
    )
    return Done(detail)


def deliver_notices(rt: Runtime) -> DeliveryReport:
    return deliver_pending(
        rt.engine, rt.audit, rt.settings.notices, clock=rt.clock, actor=LIFECYCLE_ACTOR, redactor=rt.redactor
    )


def tick_job(
    rt: Runtime,
    *,
    escalation_of: transitions.EscalationOf,
    calendar: WorkingCalendar,
    stop: threading.Event,
    deliver: Deliver = deliver_notices,
) -> Done:
    """The findings lifecycle for today (UTC+8): expire ended exemptions, take each escalation step that fell due
    with its notice, log the termination reminders due before transitions end, then deliver the notices not delivered
    yet. A finding that could not move fails the run (an operator must see it); the others moved all the same."""
    with rt.engine.begin() as conn:
        result = transitions.tick(conn, rt.audit, rt.clock.now(), calendar, escalation_of, LIFECYCLE_ACTOR)
    moved = ", ".join(f"{k} {v}" for k, v in sorted(result.count().items())) or "nothing due"
    reminded = log_due_reminders(rt.engine, rt.audit, configured_terms(rt), actor=LIFECYCLE_ACTOR, now=rt.clock.now())
    detail = f"findings: {moved}; {len(result.notices)} notices queued"
    if not stop.is_set():  # stopping: undelivered notices wait for the next tick, as failed deliveries do
        report = deliver(rt)
        detail += (
            f"; notices {len(report.delivered)} delivered, {len(report.failed)} failed, "
            f"{len(report.abandoned)} abandoned, {len(report.undeliverable)} with no channel"
        )
    detail += f"; {len(reminded)} termination reminders logged"
    if result.problems:
        raise JobProblemError(f"could not move: {'; '.join(result.problems)}; {detail}")
    return Done(detail)


def previous_month(clock: Clock) -> Month:
    """The calendar month (UTC+8) before the one ``clock`` is in."""
    first = add_months(today_cst(clock).replace(day=1), -1)
    return Month(first.year, first.month)


def evaluate_job(
    rt: Runtime,
    *,
    job: str,
    pack: Pack,
    escalation_of: transitions.EscalationOf,
    calendar: WorkingCalendar,
    stop: threading.Event,
) -> Done:
    """Evaluate ``pack`` over the previous month (UTC+8) and record the evaluations as findings, once per month:
    a month already evaluated by a successful run of ``job`` is left alone (an operator's later resolve is never
    undone by evaluating the same month again). The month's last day is rolled up first."""
    month = previous_month(rt.clock)
    with rt.engine.connect() as conn:
        if covered(conn, job, month.label):
            return Done(f"{month.label} already evaluated", period=None)
    now = rt.clock.now()
    with rt.engine.begin() as conn:
        roll_up(conn, now, not_before=now - dt.timedelta(days=rt.settings.usage.raw_days))
    check_stop(stop, f"evaluating {month.label}")
    with rt.engine.begin() as conn:
        evaluations = evaluate_month(conn, pack, month, rt.clock)
        result = transitions.record_evaluations(
            conn, rt.audit, evaluations, escalation_of, now, EVALUATION_ACTOR, calendar=calendar
        )
    verdicts: dict[str, int] = {}
    for ev in evaluations:
        verdicts[ev.verdict.value] = verdicts.get(ev.verdict.value, 0) + 1
    shown = ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())) or "none"
    moved = ", ".join(f"{k} {v}" for k, v in sorted(result.count().items())) or "no change"
    return Done(
        f"{month.label}, pack {pack.pack}: {len(evaluations)} evaluations ({shown}); findings: {moved}", month.label
    )


def checkpoint_job(rt: Runtime, *, job_runs_days: int, stop: threading.Event) -> Done:
    """Sign the operation log's head, apply its retention (never under a year: the config refuses less; an anchor
    checkpoint is signed at the cut), and drop job runs older than ``job_runs_days``."""
    with rt.engine.begin() as conn:
        signed = rt.audit.checkpoint(conn, "daily")
    detail = f"checkpoint at seq {signed.seq}" if signed is not None else "operation log empty: nothing to sign"
    check_stop(stop, f"the retention ({detail})")
    with rt.engine.begin() as conn:
        purged = rt.audit.purge(conn, rt.settings.audit.retention_days, actor=RETENTION_ACTOR)
    with rt.engine.begin() as conn:
        runs = purge_runs(conn, rt.clock.now() - dt.timedelta(days=job_runs_days))
    return Done(f"{detail}; {purged} events past the retention purged; {runs} old job runs dropped")
