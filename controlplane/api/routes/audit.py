"""The operation log for auditors: events by time, actor, action and request id, a page at a time in seq order, and
the verification of the chain and the signed checkpoints (``yunguan audit verify``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, decode, next_link
from controlplane.api.problems import Problem
from controlplane.audit.chain import format_time
from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.store.tables import audit_events

router = APIRouter(tags=["operation log"])
Ctx = Annotated[ApiContext, Depends(api_context)]


class EventOut(BaseModel):
    seq: int
    time: str = Field(description="UTC, as hashed")
    actor: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    request_id: str
    prev_hash: str
    hash: str


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise Problem(422, "validation", "times need their offset, e.g. 2026-11-20T10:00:00+08:00")
    return value


@router.get("/audit/events", summary="Operation-log events in seq order", response_model=Page[EventOut])
def list_events(
    *,
    request: Request,
    ctx: Ctx,
    _who: Annotated[Principal, Depends(requires(Permission.AUDIT_READ))],
    since: Annotated[dt.datetime | None, Query(description="from this time (inclusive), with its offset")] = None,
    until: Annotated[dt.datetime | None, Query(description="before this time (exclusive), with its offset")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. finding.exempt, reconcile.run")] = None,
    request_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[EventOut]:
    query = select(audit_events).order_by(audit_events.c.seq)
    after = decode(cursor)
    if after is not None:
        if not after or not isinstance(after[0], int):
            raise Problem(400, "bad-cursor", "the cursor is not one this API gave out")
        query = query.where(audit_events.c.seq > after[0])
    if since is not None:
        query = query.where(audit_events.c.time >= format_time(_aware(since)))
    if until is not None:
        query = query.where(audit_events.c.time < format_time(_aware(until)))
    for column, value in (("actor", actor), ("action", action), ("request_id", request_id)):
        if value is not None:
            query = query.where(audit_events.c[column] == value)
    with ctx.reader.connect() as conn:
        rows = conn.execute(query.limit(limit + 1)).mappings().all()
    events = [
        EventOut.model_validate({**r, "before": json.loads(r["before"]), "after": json.loads(r["after"])})
        for r in rows[:limit]
    ]
    following = next_link(request, [events[-1].seq]) if len(rows) > limit else None
    return Page[EventOut](items=events, next=following)


class ProblemOut(BaseModel):
    seq: int
    kind: str = Field(description="edited, deleted, chain-broken, truncated, rewritten, forged-checkpoint")
    detail: str


class VerifyOut(BaseModel):
    ok: bool
    events: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    first_bad_seq: int | None
    problems: list[ProblemOut]


@router.get("/audit/verify", summary="Walk the hash chain and the signed checkpoints", response_model=VerifyOut)
def verify_log(ctx: Ctx, _who: Annotated[Principal, Depends(requires(Permission.AUDIT_VERIFY))]) -> VerifyOut:
    rt = ctx.runtime
    with ctx.reader.connect() as conn:
        report = verify(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn))
    return VerifyOut(
        ok=report.ok,
        events=report.events,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        checkpoints=report.checkpoints,
        first_bad_seq=report.first_bad_seq,
        problems=[ProblemOut(seq=p.seq, kind=p.kind, detail=p.detail) for p in report.problems],
    )
