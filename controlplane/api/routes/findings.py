"""Findings and enforcement actions: list and show findings (with their history and planned actions), approve a
finding's enforcement plan, exempt a finding (reason and last day), dispute one, reject a dispute or resolve a
finding by hand; list actions. Each change goes
through the lifecycle's own functions (``policy.transitions``, ``policy.enforce``), so it is checked and logged
exactly as on the command line. A unit token sees only its own systems' findings and actions, and may dispute them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.api.problems import Problem, not_found, responses
from controlplane.policy import enforce
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.findings import Finding, FindingEvent, finding_history, findings, get_finding
from controlplane.policy.lifecycle import TransitionError
from controlplane.policy.model import FindingState
from controlplane.policy.packs import escalations
from controlplane.policy.transitions import (
    FindingInputError,
    FindingNotFoundError,
    dispute,
    exempt,
    reject_dispute,
    resolve,
)
from controlplane.store.tables import actions as actions_table

router = APIRouter(tags=["findings"])
Ctx = Annotated[ApiContext, Depends(api_context)]
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ActionOut(BaseModel):
    id: int
    key: str = Field(description="the action's idempotency key")
    finding_id: int
    rule_id: str
    cloud: str
    kind: str
    target: str
    spec: dict[str, Any]
    detail: dict[str, Any]
    state: str = Field(description="planned, approved, applying, done, failed")
    approved_by: str | None
    notice_sent: str | None
    attempts: int
    error: str | None
    created: str
    updated: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> ActionOut:
        return cls.model_validate({**row, "spec": json.loads(row["spec"]), "detail": json.loads(row["detail"])})


class FindingDetail(BaseModel):
    finding: Finding
    history: list[FindingEvent]
    actions: list[ActionOut]


class ExemptRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why (and the approval that allows it)")
    until: dt.date = Field(description="the exemption's last day (UTC+8)")


class DisputeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why the unit contests the finding")


class DecisionRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why (kept in the operation log)")


class Approved(BaseModel):
    finding_id: int
    approved: list[str] = Field(description="keys of the actions approved")


def _visible(conn: Connection, who: Principal, finding: Finding | None) -> Finding:
    if finding is None:
        raise not_found("that finding")
    mine = who.unit_systems(conn)
    if mine is not None and finding.system not in mine:
        raise not_found(f"finding {finding.id}")
    return finding


def _actions_of(conn: Connection, finding_id: int) -> list[ActionOut]:
    rows = conn.execute(
        select(actions_table).where(actions_table.c.finding_id == finding_id).order_by(actions_table.c.id)
    )
    return [ActionOut.of(dict(r._mapping)) for r in rows]


@router.get("/findings", summary="Findings, oldest first", response_model=Page[Finding])
def list_findings(
    *,
    request: Request,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.FINDINGS_READ))],
    state: Annotated[list[FindingState] | None, Query(description="one or more states")] = None,
    system: Annotated[str | None, Query(max_length=200)] = None,
    cloud: Annotated[str | None, Query(max_length=200)] = None,
    rule: Annotated[str | None, Query(max_length=200, description="rule id")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Finding]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = findings(conn, state=state or None, system=system, cloud=cloud, rule_id=rule)
    found = [f for f in found if mine is None or f.system in mine]
    items, following = paginate(request, found, lambda f: [f.id], limit, cursor)
    return Page[Finding](items=items, next=following)


@router.get(
    "/findings/{finding_id}",
    summary="A finding with its history and its actions",
    response_model=FindingDetail,
    responses=responses(404),
)
def show_finding(
    finding_id: FindingId, ctx: Ctx, who: Annotated[Principal, Depends(requires(Permission.FINDINGS_READ))]
) -> FindingDetail:
    with ctx.reader.connect() as conn:
        finding = _visible(conn, who, get_finding(conn, finding_id))
        return FindingDetail(
            finding=finding, history=finding_history(conn, finding_id), actions=_actions_of(conn, finding_id)
        )


def _refused(exc: Exception) -> Problem:
    if isinstance(exc, FindingNotFoundError):
        return not_found("that finding")
    if isinstance(exc, TransitionError):
        extra = {"state": str(exc.state), "transition": str(exc.transition)}
        return Problem(409, "finding-state", str(exc), extra=extra)
    return Problem(422, "validation", str(exc))


def _change(ctx: ApiContext, who: Principal, finding_id: int, work: Callable[[Connection], Finding]) -> Finding:
    """One lifecycle transition of a finding the caller may see, in one transaction; refusals as problems."""
    try:
        with ctx.runtime.engine.begin() as conn:
            _visible(conn, who, get_finding(conn, finding_id))
            return work(conn)
    except (FindingNotFoundError, TransitionError, FindingInputError) as exc:
        raise _refused(exc) from None


@router.post(
    "/findings/{finding_id}/exempt",
    summary="Exempt a finding until a day, with the reason",
    response_model=Finding,
    responses=responses(404, 409, 422),
)
def exempt_finding(
    finding_id: FindingId,
    body: ExemptRequest,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.FINDINGS_EXEMPT))],
) -> Finding:
    rt = ctx.runtime
    return _change(
        ctx,
        who,
        finding_id,
        lambda c: exempt(
            c, rt.audit, finding_id, reason=body.reason, until=body.until, actor=who.actor, now=rt.clock.now()
        ),
    )


@router.post(
    "/findings/{finding_id}/dispute",
    summary="Contest a finding: escalation pauses",
    response_model=Finding,
    responses=responses(404, 409, 422),
)
def dispute_finding(
    finding_id: FindingId,
    body: DisputeRequest,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.FINDINGS_DISPUTE))],
) -> Finding:
    rt = ctx.runtime
    return _change(
        ctx,
        who,
        finding_id,
        lambda c: dispute(c, rt.audit, finding_id, reason=body.reason, actor=who.actor, now=rt.clock.now()),
    )


@router.post(
    "/findings/{finding_id}/reject-dispute",
    summary="The dispute is not upheld: back to the state it interrupted, its period counted again from today",
    response_model=Finding,
    responses=responses(404, 409, 422),
)
def reject_finding_dispute(
    finding_id: FindingId,
    body: DecisionRequest,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.FINDINGS_DECIDE))],
) -> Finding:
    rt = ctx.runtime
    calendar = load_calendar(rt.settings.policy.calendar_file)
    escalation_of = escalations(rt.settings.policy)
    return _change(
        ctx,
        who,
        finding_id,
        lambda c: reject_dispute(
            c,
            rt.audit,
            finding_id,
            reason=body.reason,
            actor=who.actor,
            now=rt.clock.now(),
            calendar=calendar,
            escalation_of=escalation_of,
        ),
    )


@router.post(
    "/findings/{finding_id}/resolve",
    summary="Close a finding by hand (the unit fixed it, or its dispute was upheld)",
    response_model=Finding,
    responses=responses(404, 409, 422),
)
def resolve_finding(
    finding_id: FindingId,
    body: DecisionRequest,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.FINDINGS_DECIDE))],
) -> Finding:
    rt = ctx.runtime
    return _change(
        ctx,
        who,
        finding_id,
        lambda c: resolve(c, rt.audit, finding_id, reason=body.reason, actor=who.actor, now=rt.clock.now()),
    )


@router.post(
    "/findings/{finding_id}/approve",
    summary="Approve the finding's planned enforcement actions",
    response_model=Approved,
    responses=responses(404, 409),
)
def approve_plan(
    finding_id: FindingId, ctx: Ctx, who: Annotated[Principal, Depends(requires(Permission.FINDINGS_APPROVE))]
) -> Approved:
    rt = ctx.runtime
    with rt.engine.begin() as conn:
        _visible(conn, who, get_finding(conn, finding_id))
        planned = [a.key for a in _actions_of(conn, finding_id) if a.state == enforce.ActionState.PLANNED]
        if not planned:
            raise Problem(409, "nothing-planned", f"finding {finding_id} has no planned action to approve")
        approved = [k for k in planned if enforce.approve(conn, rt.audit, k, rt.clock.now(), who.actor)]
    return Approved(finding_id=finding_id, approved=approved)


@router.get("/actions", summary="Enforcement actions, oldest first", response_model=Page[ActionOut])
def list_actions(
    *,
    request: Request,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.ACTIONS_READ))],
    state: Annotated[str | None, Query(max_length=32, description="planned, approved, applying, done, failed")] = None,
    finding: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="a finding's id")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ActionOut]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        rows = [ActionOut.of(r) for r in enforce.actions(conn, state)]
        if finding is not None:
            rows = [r for r in rows if r.finding_id == finding]
        if mine is not None:
            allowed = {f.id for f in findings(conn) if f.system in mine}
            rows = [r for r in rows if r.finding_id in allowed]
    items, following = paginate(request, rows, lambda a: [a.id], limit, cursor)
    return Page[ActionOut](items=items, next=following)
