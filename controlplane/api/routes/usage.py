"""Measured use, as ``yunguan usage show`` shows it: the latest samples of a system (its servers or namespaces), a
server or a namespace against the approval in force today, or a window of days' figures from the rollups. A unit
token may ask only about its own systems (and their namespaces)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.problems import Problem, not_found, responses
from controlplane.cli import usage_view
from controlplane.clock import CST, today_cst
from controlplane.ledger.store import approved_at

router = APIRouter(tags=["usage"])
Ctx = Annotated[ApiContext, Depends(api_context)]
Reader = Annotated[Principal, Depends(requires(Permission.USAGE_READ))]
CloudQ = Annotated[str | None, Query(max_length=200, description="the cloud, when the target is on several")]


class LatestRow(BaseModel):
    metric: str
    used: str = Field(description="cores, or GiB for memory and storage; empty for percentages")
    approved: str = Field(description="the approval in force today, same unit; empty when none")
    percent: str = Field(description="use as a percentage of the approval (percent metrics: the figure itself)")
    quality: str = Field(description="measured, estimated, missing")
    measured_at: str
    source: str


class WindowRow(BaseModel):
    metric: str
    unit: str
    mean: float | None
    max: float | None
    samples: int
    estimated: int
    missing: int
    scopes: int


class LatestOut(BaseModel):
    target: str
    cloud: str
    rows: list[LatestRow]


class WindowOut(BaseModel):
    target: str
    cloud: str
    first: dt.date = Field(description="first day, UTC+8")
    last: dt.date = Field(description="last day, UTC+8")
    rows: list[WindowRow]


def _resolve(conn: Connection, ctx: ApiContext, who: Principal, target: str, cloud: str | None) -> usage_view.Target:
    try:
        found = usage_view.resolve(conn, target, cloud, [c.name for c in ctx.runtime.settings.clouds])
    except usage_view.TargetError as exc:
        if exc.key == "usage_which_cloud":
            raise Problem(
                422, "ambiguous-target", f"{target!r} is on several clouds ({exc.values.get('clouds')}): pass cloud"
            ) from None
        raise not_found(f"usage of {target!r}") from None
    mine = who.unit_systems(conn)
    if mine is not None and (not found.owners or not found.owners <= mine):
        raise not_found(f"usage of {target!r}")
    return found


@router.get(
    "/usage/{target}/latest",
    summary="The latest measured use against the approval in force today",
    response_model=LatestOut,
    responses=responses(404, 422),
)
def latest(target: Annotated[str, Path(max_length=300)], ctx: Ctx, who: Reader, cloud: CloudQ = None) -> LatestOut:
    today = today_cst(ctx.runtime.clock)
    with ctx.reader.connect() as conn:
        found = _resolve(conn, ctx, who, target, cloud)
        approvals = [a for a in approved_at(conn, today) if a.system.key in found.owners and a.cloud == found.cloud]
        rows = usage_view.latest_rows(conn, found, approvals)
    return LatestOut(target=target, cloud=found.cloud, rows=[LatestRow.model_validate(r) for r in rows])


@router.get(
    "/usage/{target}/summary",
    summary="Per metric over days (UTC+8): mean, max, samples, estimates, missing tries, from the rollups",
    response_model=WindowOut,
    responses=responses(404, 422),
)
def summary(
    *,
    target: Annotated[str, Path(max_length=300)],
    ctx: Ctx,
    who: Reader,
    first: Annotated[dt.date, Query(alias="from", description="first day (UTC+8)")],
    end: Annotated[dt.date | None, Query(alias="to", description="day after the last (default: tomorrow)")] = None,
    cloud: CloudQ = None,
) -> WindowOut:
    today = today_cst(ctx.runtime.clock)
    stop = end or today + dt.timedelta(days=1)
    if first.year < 2000 or stop.year > 2999:
        raise Problem(422, "validation", "from and to must be days between 2000 and 2999")
    if stop <= first:
        raise Problem(422, "validation", f"the window from {first} to {stop} (excluded) holds no day")
    window = usage_view.cst_days(dt.datetime.combine(first, dt.time()), dt.datetime.combine(stop, dt.time()), today)
    with ctx.reader.connect() as conn:
        found = _resolve(conn, ctx, who, target, cloud)
        rows = usage_view.window_rows(conn, found, window)
    last = (window.end.astimezone(CST) - dt.timedelta(days=1)).date()
    return WindowOut(
        target=target, cloud=found.cloud, first=first, last=last, rows=[WindowRow.model_validate(r) for r in rows]
    )
