"""Measured use, as ``yunguan usage show`` shows it: the latest samples of a system (its servers or namespaces), a
server or a namespace against the approval in force today, or a window of days' figures from the rollups. A unit
token may ask only about its own systems (and their namespaces).

``POST /usage/collections`` starts one round of ``yunguan usage collect`` on the agent (202 with the job's id and a
``Location``); ``GET /usage/collections/{id}`` shows it running, then what it said (message keys with their values,
the lines the command prints) and whether it was partial."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.jobs import COLLECT, load_job
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


class CollectRequest(BaseModel):
    clouds: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="cloud names; empty: every configured cloud that reports use"
    )
    hosts: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=1000, description="sweep only these hypervisors; empty: all"
    )
    interval_s: float = Field(
        default=10.0, ge=0, le=600, description="seconds between a sweep's baseline and the sweep that counts (rates)"
    )


class NoteOut(BaseModel):
    key: str = Field(description="the message (controlplane.i18n key), e.g. usage_collected, sweep_host_failed")
    values: dict[str, str | int | float]


class CollectResult(BaseModel):
    partial: bool = Field(description="some use could not be read (a host failed, a source answered in part)")
    notes: list[NoteOut]


class CollectOut(BaseModel):
    id: str
    state: Literal["running", "done", "failed"]
    progress: str
    clouds: list[str]
    result: CollectResult | None
    error: str | None
    actor: str
    request_id: str
    created: dt.datetime
    updated: dt.datetime


Collector = Annotated[Principal, Depends(requires(Permission.USAGE_COLLECT))]


def _collect_out(ctx: ApiContext, job_id: str) -> CollectOut:
    view = load_job(ctx, job_id, COLLECT)
    if view is None:
        raise not_found(f"collection {job_id}")
    return CollectOut.model_validate(view)


@router.post(
    "/usage/collections",
    status_code=202,
    summary="Start a round of usage collection on the agent",
    response_model=CollectOut,
    responses=responses(409, 422),
)
def start_collection(body: CollectRequest, response: Response, ctx: Ctx, who: Collector) -> CollectOut:
    job_id = ctx.jobs.start_collect(body.clouds, hosts=body.hosts, interval_s=body.interval_s, actor=who.actor)
    response.headers["Location"] = f"/v1/usage/collections/{job_id}"
    return _collect_out(ctx, job_id)


@router.get(
    "/usage/collections/{job_id}",
    summary="A usage collection round: running, then what it said",
    response_model=CollectOut,
    responses=responses(404),
)
def get_collection(job_id: Annotated[str, Path(max_length=36)], ctx: Ctx, _who: Collector) -> CollectOut:
    return _collect_out(ctx, job_id)
