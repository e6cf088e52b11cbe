"""Reconcile runs (``yunguan reconcile``) and the drift of each cloud's latest run (``yunguan drift``).

``POST /reconcile-runs`` answers 202 at once with the run's id and a ``Location``; the run reads the clouds in the
background, and ``GET /reconcile-runs/{id}`` shows its progress, then its result (per cloud: status, API calls,
drift per class, new and resolved; the recorded run's number). A cloud that could not be listed completely makes
the run ``partial``, as on the command line.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.jobs import KIND, job_view, load_job
from controlplane.api.pagination import Cursor, Limit, Page, decode, next_link
from controlplane.api.problems import Problem, not_found, responses
from controlplane.reconcile.drift import DriftClass
from controlplane.reconcile.runs import drift_page_key, latest_drift_page
from controlplane.store.tables import api_jobs

router = APIRouter(tags=["reconcile"])
Ctx = Annotated[ApiContext, Depends(api_context)]


class RunRequest(BaseModel):
    clouds: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="cloud names; empty: every configured cloud"
    )
    dry_run: bool = Field(default=False, description="compare and report, record nothing")


class CloudLine(BaseModel):
    cloud: str
    status: Literal["ok", "partial"]
    api_calls: int
    new: int
    resolved: int
    problems: list[str]
    counts: dict[str, int] = Field(description="drift found per class")


class RunResult(BaseModel):
    status: Literal["ok", "partial"]
    run_id: int | None = Field(description="the recorded run (null for a dry run)")
    clouds: list[CloudLine]
    new: int
    resolved: int
    records_pulled: dict[str, int] = Field(description="cloud operation records copied into the operation log")


class RunOut(BaseModel):
    id: str
    state: Literal["running", "done", "failed"]
    progress: str = Field(description="what the run is doing (e.g. 'yunguan-local: listing')")
    clouds: list[str]
    dry_run: bool
    run_id: int | None
    result: RunResult | None
    error: str | None
    actor: str
    request_id: str
    created: dt.datetime
    updated: dt.datetime


def _run_out(view: dict[str, Any]) -> RunOut:
    result = view["result"]
    if result is not None:
        classes = {c.value for c in DriftClass}
        result = {
            **result,
            "clouds": [
                {**{k: v for k, v in line.items() if k not in classes}, "counts": {k: line.get(k, 0) for k in classes}}
                for line in result["clouds"]
            ],
        }
    return RunOut.model_validate({**view, "result": result})


@router.post(
    "/reconcile-runs",
    status_code=202,
    summary="Start a reconcile run",
    response_model=RunOut,
    responses=responses(409, 422),
)
def start_run(
    body: RunRequest,
    response: Response,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.RECONCILE_RUN))],
) -> RunOut:
    job_id = ctx.jobs.start_reconcile(body.clouds, dry_run=body.dry_run, actor=who.actor)
    view = load_job(ctx, job_id)
    assert view is not None
    response.headers["Location"] = f"/v1/reconcile-runs/{job_id}"
    return _run_out(view)


@router.get("/reconcile-runs", summary="Reconcile runs started over the API, newest first", response_model=Page[RunOut])
def list_runs(
    request: Request,
    ctx: Ctx,
    _who: Annotated[Principal, Depends(requires(Permission.RECONCILE_READ))],
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[RunOut]:
    after = decode(cursor)
    query = select(api_jobs).where(api_jobs.c.kind == KIND).order_by(api_jobs.c.created.desc(), api_jobs.c.id.desc())
    if after is not None:
        try:
            created, last_id = dt.datetime.fromisoformat(str(after[0])), str(after[1])
        except (ValueError, IndexError):
            raise Problem(400, "bad-cursor", "the cursor is not one this API gave out") from None
        query = query.where(
            (api_jobs.c.created < created) | ((api_jobs.c.created == created) & (api_jobs.c.id < last_id))
        )
    with ctx.reader.connect() as conn:
        rows = [job_view(r) for r in conn.execute(query.limit(limit + 1)).mappings()]
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = next_link(request, [rows[-1]["created"].isoformat(), rows[-1]["id"]])
    return Page[RunOut](items=[_run_out(r) for r in rows], next=following)


@router.get(
    "/reconcile-runs/{run_id}",
    summary="A reconcile run's progress and result",
    response_model=RunOut,
    responses=responses(404),
)
def get_run(
    run_id: Annotated[str, Path(max_length=36)],
    ctx: Ctx,
    _who: Annotated[Principal, Depends(requires(Permission.RECONCILE_READ))],
) -> RunOut:
    view = load_job(ctx, run_id)
    if view is None:
        raise not_found(f"reconcile run {run_id}")
    return _run_out(view)


class DriftOut(BaseModel):
    run_id: int
    cloud: str
    system: str | None = Field(description="the system it belongs to; null: nobody's")
    drift_class: DriftClass
    resource_kind: str
    resource_id: str
    resource_name: str
    detail: dict[str, Any]
    is_new: bool = Field(description="not in the cloud's run before")


@router.get("/drift", summary="The drift of each cloud's latest run", response_model=Page[DriftOut])
def list_drift(
    *,
    request: Request,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.DRIFT_READ))],
    system: Annotated[str | None, Query(max_length=200)] = None,
    drift_class: Annotated[DriftClass | None, Query(alias="class")] = None,
    cloud: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DriftOut]:
    after = decode(cursor)
    if after is not None and (len(after) != 5 or not all(isinstance(v, str) for v in after)):
        raise Problem(400, "bad-cursor", "the cursor is not one this API gave out")
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        rows = latest_drift_page(
            conn,
            limit=limit + 1,
            after=after,
            cloud=cloud,
            system=system,
            drift_class=drift_class.value if drift_class else None,
            systems=mine,
        )
    following = next_link(request, drift_page_key(rows[limit - 1])) if len(rows) > limit else None
    return Page[DriftOut](items=[DriftOut.model_validate(r) for r in rows[:limit]], next=following)
