"""Termination over HTTP: read the cases, request one, and the unit's backup confirmation with its evidence file
(``yunguan terminate list|show|request|confirm-backup``). Each change goes through ``termination.cases``, so it is
checked and logged exactly as on the command line, with the token's principal as the operation log's actor.

Approvals, the wipe's approval and the run stay on the operators' CLI (two-person rule, destructive): no route here.
A unit token sees and acts on its own department's systems only; another department's system answers the same 404
as one the ledger does not have.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.api.problems import Problem, not_found, responses
from controlplane.api.uploads import read_body
from controlplane.hosting.evidence import EvidenceTooLargeError, evidence_store
from controlplane.termination import cases
from controlplane.termination.case import CaseState, CaseStateError
from controlplane.termination.steps import Step, steps_of
from controlplane.termination.wiring import configured_terms

router = APIRouter(tags=["terminations"])
Ctx = Annotated[ApiContext, Depends(api_context)]
SystemPath = Annotated[str, Path(min_length=1, max_length=200, description="the system's code (or name)")]
# the names the API gives the fields ``termination.cases`` names in its refusals
_FIELDS = {"stopped_use_on": "stopped_use"}


class TerminationDetail(BaseModel):
    case: cases.Case
    steps: list[Step] = Field(description="the wipe's steps in order, with method, category and read-back samples")


class TerminationRequest(BaseModel):
    system: str = Field(min_length=1, max_length=200, description="the system's code (or name)")
    reason: str = Field(min_length=1, max_length=2000, description="why the unit stops using the cloud")
    stopped_use: dt.date | None = Field(
        default=None, description="the day the system stopped being used (UTC+8); a late request is flagged"
    )


def _hidden(system: str) -> Problem:
    return not_found(f"system {system!r}")


def _visible_key(conn: Connection, who: Principal, system: str) -> str:
    """The ledger key of ``system`` when the caller may see it; the same 404 for an unknown and another's system."""
    try:
        key = cases.system_key(conn, system)
    except cases.CaseNotFoundError:
        raise _hidden(system) from None
    mine = who.unit_systems(conn)
    if mine is not None and key not in mine:
        raise _hidden(system)
    return key


def _refused(exc: Exception) -> Problem:
    if isinstance(exc, cases.CaseNotFoundError):
        return Problem(404, "not-found", str(exc))
    if isinstance(exc, CaseStateError):
        return Problem(409, "termination-state", str(exc))
    if isinstance(exc, EvidenceTooLargeError):
        return Problem(413, "too-large", str(exc))
    assert isinstance(exc, cases.TerminationError)
    field = _FIELDS.get(exc.field or "", exc.field or "")
    if field == "system":  # the system is known: it is already terminated or has an open case
        return Problem(409, "termination-state", str(exc))
    loc = ["body"] if field == "evidence" else ["body", field]  # the evidence is the body itself
    errors = [{"loc": loc, "msg": str(exc), "type": "value_error"}]
    return Problem(422, "validation", f"{field}: {exc}", extra={"field": field, "errors": errors})


_REFUSALS = (cases.TerminationError, CaseStateError, EvidenceTooLargeError)


@router.get("/terminations", summary="Termination cases, oldest first", response_model=Page[cases.Case])
def list_terminations(
    *,
    request: Request,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.TERMINATIONS_READ))],
    state: Annotated[CaseState | None, Query(description="only cases in this state")] = None,
    system: Annotated[str | None, Query(max_length=200, description="a system's code")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[cases.Case]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = cases.list_cases(conn, state)
    found = [c for c in found if (mine is None or c.system in mine) and (system is None or c.system == system)]
    items, following = paginate(request, found, lambda c: [c.id], limit, cursor)
    return Page[cases.Case](items=items, next=following)


@router.get(
    "/terminations/{system}",
    summary="A system's termination case (its open one, else its latest) with the wipe's steps",
    response_model=TerminationDetail,
    responses=responses(404),
)
def show_termination(
    system: SystemPath, ctx: Ctx, who: Annotated[Principal, Depends(requires(Permission.TERMINATIONS_READ))]
) -> TerminationDetail:
    try:
        with ctx.reader.connect() as conn:
            case = cases.case_of(conn, _visible_key(conn, who, system))
            return TerminationDetail(case=case, steps=steps_of(conn, case.id))
    except _REFUSALS as exc:
        raise _refused(exc) from None


@router.post(
    "/terminations",
    summary="Request the termination of a system; a request later than the pack allows is flagged late",
    status_code=201,
    response_model=cases.Case,
    responses=responses(404, 409, 422),
)
def request_termination(
    body: TerminationRequest,
    response: Response,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.TERMINATIONS_REQUEST))],
) -> cases.Case:
    rt = ctx.runtime
    try:
        with rt.engine.begin() as conn:
            key = _visible_key(conn, who, body.system)
            case = cases.request(
                conn,
                rt.audit,
                configured_terms(rt),
                key,
                reason=body.reason,
                stopped_use_on=body.stopped_use,
                actor=who.actor,
                now=rt.clock.now(),
            )
    except _REFUSALS as exc:
        raise _refused(exc) from None
    response.headers["Location"] = f"/v1/terminations/{case.system}"
    return case


@router.post(
    "/terminations/{system}/backup-confirmation",
    summary="The unit's confirmation that migration and backup are done, with its evidence file as the raw body",
    response_model=cases.Case,
    responses=responses(404, 409, 413, 422),
)
async def confirm_backup(
    *,
    system: SystemPath,
    request: Request,
    ctx: Ctx,
    who: Annotated[Principal, Depends(requires(Permission.TERMINATIONS_CONFIRM_BACKUP))],
    name: Annotated[str, Query(min_length=1, max_length=200, description="the evidence file's name")],
) -> cases.Case:
    """Only once the case is approved (409 otherwise, saying why); the evidence is kept by its SHA-256."""
    if not name.strip():
        raise Problem(422, "validation", "name: the evidence file needs a name", extra={"field": "name"})
    rt = ctx.runtime
    files = evidence_store(rt.settings.state_dir)
    chunks = await read_body(request, files.max_bytes)

    def confirm() -> cases.Case:
        with rt.engine.begin() as conn:
            case = cases.case_of(conn, _visible_key(conn, who, system), for_update=True)
            return cases.confirm_backup(
                conn, rt.audit, files, case.id, name=name, chunks=chunks, actor=who.actor, now=rt.clock.now()
            )

    try:
        return await run_in_threadpool(confirm)
    except _REFUSALS as exc:
        raise _refused(exc) from None
