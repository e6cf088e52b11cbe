"""The wipe's steps in the store: one row per target, in the plan's order, with what was done to it.

A step is ``planned``, then ``intent`` once its intent event is committed (before the wiper is called), then ``done``
with the outcome (method, category, start/end, read-back samples) and the seq of its result event, or ``failed``
with the cloud's answer. A step left in ``intent`` by a crash is resolved by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from controlplane.domain import Frozen
from controlplane.store.tables import termination_steps as steps_t
from controlplane.termination.plan import Plan
from controlplane.termination.ports import Sample, WipeOutcome, WipeTarget


class StepState(StrEnum):
    PLANNED = "planned"
    INTENT = "intent"  # intent logged and committed; the wiper may or may not have acted
    DONE = "done"
    FAILED = "failed"  # the wiper refused or could not verify; the next run tries again


class Step(Frozen):
    id: int
    case_id: int
    ordinal: int
    target: WipeTarget
    state: StepState
    method: str | None = None
    category: str | None = None
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    verified: bool = False
    already_gone: bool = False
    samples: tuple[Sample, ...] = ()
    detail: str = ""
    intent_seq: int | None = None
    result_seq: int | None = None
    attempts: int = 0
    error: str | None = None

    @classmethod
    def from_row(cls, m: Mapping[str, Any] | RowMapping) -> Step:
        data = {k: v for k, v in dict(m).items() if k not in ("cloud", "kind", "target_id", "target_group")}
        data["target"] = WipeTarget.model_validate_json(data["target"])
        data["samples"] = tuple(Sample.model_validate(s) for s in json.loads(data["samples"]))
        return cls.model_validate(data)

    @property
    def label(self) -> str:
        return f"{self.target.cloud}/{self.target.kind.value}/{self.target.id}"


def _key(target: WipeTarget) -> tuple[str, str, str]:
    return (target.cloud, target.kind.value, target.id)


def steps_of(conn: Connection, case_id: int) -> list[Step]:
    rows = conn.execute(select(steps_t).where(steps_t.c.case_id == case_id).order_by(steps_t.c.ordinal, steps_t.c.id))
    return [Step.from_row(r) for r in rows.mappings()]


def save_plan(conn: Connection, case_id: int, plan: Plan) -> int:
    """Record the plan's targets as steps; targets already recorded keep their row (a done step stays done) and
    unfinished ones take the new plan's order after the done ones. Returns how many steps are new."""
    existing = {_key(s.target): s for s in steps_of(conn, case_id)}
    base = (conn.execute(select(func.max(steps_t.c.ordinal)).where(steps_t.c.case_id == case_id)).scalar() or 0) + 1
    added = 0
    for index, target in enumerate(plan.targets):
        known = existing.get(_key(target))
        if known is not None:
            if known.state is not StepState.DONE:
                conn.execute(update(steps_t).where(steps_t.c.id == known.id).values(ordinal=base + index))
            continue
        conn.execute(
            insert(steps_t).values(
                case_id=case_id,
                ordinal=base + index,
                cloud=target.cloud,
                kind=target.kind.value,
                target_id=target.id,
                target_group=target.group,
                target=target.model_dump_json(),
                state=StepState.PLANNED.value,
                verified=False,
                already_gone=False,
                samples="[]",
                detail="",
                attempts=0,
            )
        )
        added += 1
    return added


def mark_intent(conn: Connection, step: Step, seq: int) -> None:
    conn.execute(
        update(steps_t)
        .where(steps_t.c.id == step.id)
        .values(state=StepState.INTENT.value, intent_seq=seq, attempts=step.attempts + 1, error=None)
    )


def mark_done(conn: Connection, step: Step, outcome: WipeOutcome, seq: int) -> None:
    conn.execute(
        update(steps_t)
        .where(steps_t.c.id == step.id)
        .values(
            state=StepState.DONE.value,
            method=outcome.method.value,
            category=outcome.category.value,
            started=outcome.started,
            ended=outcome.ended,
            verified=outcome.verified,
            already_gone=outcome.already_gone,
            samples=json.dumps([s.model_dump(mode="json") for s in outcome.samples]),
            detail=outcome.detail,
            result_seq=seq,
            error=None,
        )
    )


def mark_found_gone(conn: Connection, step: Step, seq: int, now: dt.datetime) -> None:
    """A step a crash left in ``intent`` whose target the cloud no longer has: done, without acting again. What the
    wiper did before the crash is not known here, so no method, category or samples are claimed."""
    conn.execute(
        update(steps_t)
        .where(steps_t.c.id == step.id)
        .values(
            state=StepState.DONE.value,
            ended=now,
            already_gone=True,
            verified=False,
            detail="resumed after an interruption: the target was already gone (outcome of the interrupted wipe "
            "not recorded)",
            result_seq=seq,
            error=None,
        )
    )


def mark_failed(conn: Connection, step: Step, error: str, seq: int) -> None:
    conn.execute(
        update(steps_t)
        .where(steps_t.c.id == step.id)
        .values(state=StepState.FAILED.value, error=error[:2000], result_seq=seq)
    )


def mark_confirmed(
    conn: Connection, step: Step, *, method: str, category: str, detail: str, seq: int, now: dt.datetime
) -> None:
    """Hosted equipment: the operator confirmed the vendor's degauss or destruction certificate (Chongqing 39)."""
    conn.execute(
        update(steps_t)
        .where(steps_t.c.id == step.id)
        .values(
            state=StepState.DONE.value,
            method=method,
            category=category,
            started=now,
            ended=now,
            verified=True,
            detail=detail,
            result_seq=seq,
            error=None,
        )
    )
