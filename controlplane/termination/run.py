"""Carrying out a termination's wipe: write-ahead, idempotent, resumable.

For each step in order the intent event is appended and committed before the wiper is called, and the result event
after; a step a crash left between the two is resolved on the next run by reading the cloud back (``gone``): gone,
it is recorded done without acting again; still there, it is wiped again (wipes are idempotent). The first failure
stops the run (a server's disks come before the server: nothing after a failed step may go ahead). Hosted equipment
waits for the operator's confirmation of the vendor's certificate. When every step is done the system is terminated
in the ledger and a final reconcile of its clouds must show nothing of it left; then the case is reclaimed and the
billing end recorded, else it stays ``wiped`` with the leftovers listed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.clock import CST, Clock, today_cst
from controlplane.domain import SystemStatus
from controlplane.reconcile.runs import RunSummary
from controlplane.store.tables import termination_cases as cases_t
from controlplane.termination.case import CaseState, Move
from controlplane.termination.cases import Case, case_of, move, set_system_status
from controlplane.termination.guards import GuardError, wipe_refusals
from controlplane.termination.leftovers import leftovers_of
from controlplane.termination.plan import Plan
from controlplane.termination.ports import DiskWiper, TargetKind, WipeError, Wiper, WipeTarget
from controlplane.termination.steps import (
    Step,
    StepState,
    mark_done,
    mark_failed,
    mark_found_gone,
    mark_intent,
    save_plan,
    steps_of,
)
from controlplane.termination.terms import TerminationTerms

RUNNABLE = frozenset({CaseState.WIPE_APPROVED, CaseState.WIPING, CaseState.WIPED})

Reconcile = Callable[[Sequence[str]], RunSummary]


@dataclass
class RunReport:
    case_id: int
    state: CaseState
    new_steps: int = 0
    done: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # found gone after an interruption: recorded, not repeated
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    leftovers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Runner:
    """What a run needs, passed in: the store, the operation log, the clock and the clouds' wipers by cloud name."""

    engine: Engine
    audit: AuditLog
    clock: Clock
    terms: TerminationTerms
    wipers: Mapping[str, Wiper]
    disk_wipers: Mapping[str, DiskWiper | None]
    actor: str

    def _event(self, conn: Connection, action: str, case: Case, step: Step, after: Mapping[str, Any]) -> int:
        return self.audit.append(
            conn,
            Entry(
                self.actor,
                action,
                f"termination:{case.id}:{step.label}",
                None,
                {"case": case.id, "system": case.system, "step": step.id, **after},
            ),
        )

    def _gone(self, target: WipeTarget) -> bool:
        if target.kind is TargetKind.SERVER_DISK:
            return False  # a disk wiper cannot read back: wipe again (idempotent)
        wiper = self.wipers.get(target.cloud)
        if wiper is None:
            raise WipeError(f"{target.cloud}: no wiper for {target.kind.value} {target.id}")
        return wiper.gone(target)

    def _wiper_for(self, target: WipeTarget) -> Wiper | DiskWiper:
        if target.kind is TargetKind.SERVER_DISK:
            disk_wiper = self.disk_wipers.get(target.cloud)
            if disk_wiper is None:
                raise WipeError(f"{target.cloud}: no disk wiper for disk {target.id}")
            return disk_wiper
        wiper = self.wipers.get(target.cloud)
        if wiper is None:
            raise WipeError(f"{target.cloud}: no wiper for {target.kind.value} {target.id}")
        return wiper

    def _step(self, case: Case, step: Step, report: RunReport) -> bool:
        """Carry out one step; False when it failed (the run stops)."""
        target = step.target
        try:
            if step.state is StepState.INTENT and self._gone(target):
                with self.engine.begin() as conn:
                    seq = self._event(conn, "termination.wipe.resumed", case, step, {"gone": True})
                    mark_found_gone(conn, step, seq, self.clock.now())
                report.resumed.append(step.label)
                return True
        except WipeError as exc:
            return self._failed(case, step, f"read-back failed: {exc}", report)
        with self.engine.begin() as conn:
            seq = self._event(
                conn,
                "termination.wipe.intent",
                case,
                step,
                {"target": target.model_dump(mode="json"), "attempt": step.attempts + 1},
            )
            mark_intent(conn, step, seq)
        try:
            outcome = self._wiper_for(target).wipe(target)
        except WipeError as exc:
            return self._failed(case, step, str(exc), report)
        if (outcome.target.cloud, outcome.target.kind, outcome.target.id) != (target.cloud, target.kind, target.id):
            return self._failed(case, step, f"the wiper answered for another target ({outcome.target.id})", report)
        with self.engine.begin() as conn:
            record = outcome.model_dump(mode="json", exclude={"target"})
            seq = self._event(conn, "termination.wipe.result", case, step, record)
            mark_done(conn, step, outcome, seq)
        report.done.append(step.label)
        return True

    def _failed(self, case: Case, step: Step, error: str, report: RunReport) -> bool:
        with self.engine.begin() as conn:
            seq = self._event(conn, "termination.wipe.failed", case, step, {"error": error})
            mark_failed(conn, step, error, seq)
        report.failed.append((step.label, error))
        return False

    def start(self, system: str, plan: Plan) -> tuple[Case, RunReport]:
        """Check the guards and record the plan's steps (one transaction); GuardError when the wipe may not run."""
        with self.engine.begin() as conn:
            case = case_of(conn, system, for_update=True)
            if case.state not in RUNNABLE:
                wanted = ", ".join(sorted(s.value for s in RUNNABLE))
                raise GuardError([f"case {case.id} is {case.state.value}: the wipe runs only when {wanted}"])
            reasons = wipe_refusals(case, today_cst(self.clock))
            if reasons:
                raise GuardError(reasons)
            report = RunReport(case.id, case.state)
            report.new_steps = save_plan(conn, case.id, plan)
            now = self.clock.now()
            if case.state is CaseState.WIPE_APPROVED:
                case = move(conn, self.audit, case, Move.START_WIPE, actor=self.actor, now=now, wipe_started_at=now)
            elif case.state is CaseState.WIPED and report.new_steps:
                case = move(conn, self.audit, case, Move.RESUME_WIPE, actor=self.actor, now=now)
        return case, report

    def run(self, system: str, plan: Plan, reconcile: Reconcile) -> RunReport:
        case, report = self.start(system, plan)
        with self.engine.connect() as conn:
            steps = steps_of(conn, case.id)
        for step in steps:
            if step.state is StepState.DONE:
                continue
            if step.target.kind is TargetKind.EQUIPMENT:
                report.waiting.append(
                    (step.label, "waits for the vendor's certificate and an operator's confirm-equipment")
                )
                continue
            if not self._step(case, step, report):
                break
        if report.failed or report.waiting:
            report.state = case.state
            return report
        return self._finish(case, plan, report, reconcile)

    def _finish(self, case: Case, plan: Plan, report: RunReport, reconcile: Reconcile) -> RunReport:
        """Every step done: the system is terminated in the ledger; a final reconcile decides if it is reclaimed."""
        with self.engine.begin() as conn:
            case = case_of(conn, case.system, for_update=True)
            now = self.clock.now()
            if case.state is CaseState.WIPING:
                case = move(conn, self.audit, case, Move.FINISH_WIPE, actor=self.actor, now=now, wiped_at=now)
            set_system_status(
                conn, self.audit, case.system, SystemStatus.TERMINATED, actor=self.actor, why=f"termination {case.id}"
            )
        summary = reconcile(plan.clouds())
        left = leftovers_of(summary, case.system, plan.clouds())
        with self.engine.begin() as conn:
            case = case_of(conn, case.system, for_update=True)
            now = self.clock.now()
            if left:
                conn.execute(
                    update(cases_t).where(cases_t.c.id == case.id).values(leftovers=json.dumps(left), updated_at=now)
                )
                self.audit.append(
                    conn,
                    Entry(
                        self.actor,
                        "termination.leftovers",
                        f"termination:{case.id}:leftovers",
                        None,
                        {"leftovers": left},
                    ),
                )
                report.leftovers = left
                report.state = case.state
                return report
            billing_end = self.billing_end(case, now)
            case = move(
                conn,
                self.audit,
                case,
                Move.RECLAIM,
                actor=self.actor,
                now=now,
                reclaimed_at=now,
                billing_end=billing_end,
                leftovers="[]",
            )
            self.audit.append(
                conn,
                Entry(
                    self.actor,
                    "termination.billing-end",
                    f"termination:{case.id}:system:{case.system}",
                    None,
                    {"case": case.id, "billing_end": billing_end, "rule": self.terms.billing_ends},
                ),
            )
        report.state = case.state
        return report

    def billing_end(self, case: Case, now: dt.datetime) -> dt.date:
        """The day billing stops: the day the system went offline (its wipe started), or the reclaim's day."""
        if self.terms.billing_ends == "offline" and case.wipe_started_at is not None:
            return case.wipe_started_at.astimezone(CST).date()
        return now.astimezone(CST).date()
