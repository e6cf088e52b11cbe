"""The hosting zone over HTTP: vendors register, change and retire their equipment and upload its evidence; units,
operators and auditors read. Mounted under ``/v1`` by ``controlplane.api.extensions``. A registration file's rows go
in one ``POST /equipment/registrations``: all registered, or none and every problem by row and column (as
``yunguan equipment register`` does locally).

Every route goes through ``controlplane.hosting.store`` with the caller's scope, exactly as the CLI does: a vendor
token sees only its vendor's equipment, and another vendor's id answers the same 404 as an id that does not exist.
Quantities in core units (power in watts, bandwidth in bit/s). Evidence is uploaded as the raw request body
(``Content-Type`` is its media type, ``kind`` and ``name`` in the query) and served back only after its bytes have
been hashed again and match the SHA-256 recorded at upload (``Repr-Digest``, RFC 9530).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.api.problems import Problem, responses
from controlplane.api.uploads import read_body
from controlplane.clock import today_cst
from controlplane.domain import Name
from controlplane.hosting import store
from controlplane.hosting.evidence import EvidenceCorruptError, EvidenceTooLargeError, evidence_store
from controlplane.hosting.form import Parsed, Registration, register_all
from controlplane.hosting.model import (
    Equipment,
    EquipmentChange,
    EquipmentSpec,
    EquipmentState,
    EvidenceFile,
    EvidenceKind,
    RetireReason,
)
from controlplane.hosting.scope import Caller, Role
from controlplane.ledger.forms import LedgerFileError

router = APIRouter(tags=["equipment"])
Ctx = Annotated[ApiContext, Depends(api_context)]
Reader = Annotated[Principal, Depends(requires(Permission.EQUIPMENT_READ))]
Writer = Annotated[Principal, Depends(requires(Permission.EQUIPMENT_WRITE))]
EquipmentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EvidenceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def caller_of(who: Principal) -> Caller:
    """The hosting functions' caller for a token: its role, its vendor or unit, and its operation-log actor."""
    return Caller(Role(who.role.value), who.actor, vendor=who.vendor, unit=who.unit)


class EquipmentOut(Equipment):
    sanitization_pending: bool = Field(
        description="disposed of while holding data, with no degauss/destruction certificate kept (Chongqing 39)"
    )

    @classmethod
    def of(cls, item: Equipment) -> EquipmentOut:
        return cls.model_validate(item.model_dump() | {"sanitization_pending": item.sanitization_certificate_missing()})


class RegisterIn(EquipmentSpec):
    vendor: Name | None = Field(default=None, description="the hosting vendor; a vendor token registers as itself")


class RowIn(RegisterIn):
    row: int = Field(ge=1, le=1_000_000, description="the row's number in the registration file, named in errors")


class RegistrationsIn(BaseModel):
    rows: list[RowIn] = Field(min_length=1, max_length=5000, description="the rows, all registered or none")
    dry_run: bool = Field(default=False, description="check every row against the store, register nothing")


class RegistrationsOut(BaseModel):
    dry_run: bool
    registered: list[EquipmentOut] = Field(description="what was registered (a dry run: what would be)")


class RetireIn(BaseModel):
    reason: RetireReason = Field(description="removed (taken back by the unit) or disposed (Chongqing 39)")
    on: dt.date | None = Field(default=None, description="the day it left the hosting zone; default today (UTC+8)")


def _problem(exc: Exception) -> Problem:
    """The store's refusals as HTTP answers; the same 404 whether the id is missing or another's."""
    if isinstance(exc, store.EquipmentNotFoundError):
        return Problem(404, "not-found", str(exc))
    if isinstance(exc, store.NotAllowedError):
        return Problem(403, "forbidden", str(exc))
    field = getattr(exc, "field", None)
    extra = {"field": field} if field else None
    if isinstance(exc, store.EquipmentConflictError):
        return Problem(409, "equipment-conflict", str(exc), extra=extra)
    if isinstance(exc, EvidenceTooLargeError):
        return Problem(413, "too-large", str(exc))
    if isinstance(exc, EvidenceCorruptError):
        return Problem(500, "evidence-corrupt", f"the kept file failed its check and is not served: {exc}")
    return Problem(422, "invalid-equipment", str(exc), extra=extra)


_REFUSALS = (store.HostingError, EvidenceTooLargeError, EvidenceCorruptError)


def _json(model: BaseModel, status: int, headers: dict[str, str]) -> Response:
    """``model`` as the JSON FastAPI sends for a route's response model (the same bytes and media type)."""
    return Response(model.model_dump_json(), status_code=status, headers=headers, media_type="application/json")


@router.get("/equipment", summary="Hosted equipment, by vendor and serial", response_model=Page[EquipmentOut])
def list_equipment(
    *,
    request: Request,
    ctx: Ctx,
    who: Reader,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    unit: Annotated[str | None, Query(max_length=200, description="the owning unit")] = None,
    system: Annotated[str | None, Query(max_length=200, description="a system's code")] = None,
    state: EquipmentState | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[EquipmentOut]:
    with ctx.engine.connect() as conn:
        found = store.list_equipment(conn, caller_of(who), vendor=vendor, unit=unit, system=system, state=state)
    items, following = paginate(request, found, lambda e: [e.vendor, e.serial], limit, cursor)
    return Page[EquipmentOut](items=[EquipmentOut.of(e) for e in items], next=following)


@router.get(
    "/equipment/{equipment_id}", summary="One piece of equipment", response_model=EquipmentOut, responses=responses(404)
)
def show_equipment(equipment_id: EquipmentId, ctx: Ctx, who: Reader) -> EquipmentOut:
    try:
        with ctx.engine.connect() as conn:
            return EquipmentOut.of(store.get_equipment(conn, caller_of(who), equipment_id))
    except _REFUSALS as exc:
        raise _problem(exc) from None


@router.post(
    "/equipment",
    summary="Register equipment",
    status_code=201,
    response_model=EquipmentOut,
    responses=responses(409, 422),
)
async def register_equipment(body: RegisterIn, ctx: Ctx, who: Writer) -> Response:
    # the busiest write of the API, kept cheap: the store's work goes to a thread once, by asyncio.to_thread (a
    # plain route takes starlette's anyio hop, ~3 times the CPU, and a second one to validate and serialise its
    # answer); the body is the spec already (RegisterIn is an EquipmentSpec); the answer is sent as the JSON
    # FastAPI would make of EquipmentOut, which FastAPI would otherwise validate a second time
    rt = ctx.runtime

    def register() -> Equipment:
        with rt.engine.begin() as conn:
            return store.register(conn, rt.audit, caller_of(who), body, rt.clock.now(), vendor=body.vendor)

    try:
        item = await asyncio.to_thread(register)
    except _REFUSALS as exc:
        raise _problem(exc) from None
    return _json(EquipmentOut.of(item), 201, {"Location": f"/v1/equipment/{item.id}"})


@router.post(
    "/equipment/registrations",
    summary="Register many pieces of equipment at once (a registration file): all of them, or none",
    response_model=RegistrationsOut,
    responses=responses(422),
)
def register_many(body: RegistrationsIn, ctx: Ctx, who: Writer) -> RegistrationsOut:
    """Every row is checked as ``POST /equipment`` checks one; a refused row refuses them all (422 with ``errors``:
    row, column, message for each), as ``yunguan equipment register`` does with a file."""
    rt = ctx.runtime
    parsed = Parsed(
        "request",
        [
            Registration(r.row, r.vendor, EquipmentSpec.model_validate(r.model_dump(exclude={"vendor", "row"})))
            for r in body.rows
        ],
    )
    try:
        with rt.engine.connect() as conn, conn.begin() as tx:
            done = register_all(conn, rt.audit, caller_of(who), parsed, now=rt.clock.now())
            if body.dry_run:
                tx.rollback()
    except LedgerFileError as exc:
        errors = [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]
        raise Problem(
            422, "rows-rejected", f"{len(errors)} problem(s); nothing was registered", extra={"errors": errors}
        ) from None
    return RegistrationsOut(dry_run=body.dry_run, registered=[EquipmentOut.of(e) for e in done])


@router.patch(
    "/equipment/{equipment_id}",
    summary="Change equipment (the fields given)",
    response_model=EquipmentOut,
    responses=responses(404, 409, 422),
)
def update_equipment(equipment_id: EquipmentId, body: EquipmentChange, ctx: Ctx, who: Writer) -> EquipmentOut:
    rt = ctx.runtime
    try:
        with rt.engine.begin() as conn:
            item = store.update(conn, rt.audit, caller_of(who), equipment_id, body, now=rt.clock.now())
    except _REFUSALS as exc:
        raise _problem(exc) from None
    return EquipmentOut.of(item)


@router.post(
    "/equipment/{equipment_id}/retire",
    summary="Retire equipment: it leaves the hosting zone and frees its rack space",
    response_model=EquipmentOut,
    responses=responses(404, 422),
)
def retire_equipment(equipment_id: EquipmentId, body: RetireIn, ctx: Ctx, who: Writer) -> EquipmentOut:
    rt = ctx.runtime
    on = body.on or today_cst(rt.clock)
    try:
        with rt.engine.begin() as conn:
            item = store.retire(
                conn, rt.audit, caller_of(who), equipment_id, reason=body.reason, on=on, now=rt.clock.now()
            )
    except _REFUSALS as exc:
        raise _problem(exc) from None
    return EquipmentOut.of(item)


@router.post(
    "/equipment/{equipment_id}/evidence",
    summary="Upload an evidence file (the raw body; Content-Type is its media type)",
    status_code=201,
    response_model=EvidenceFile,
    responses=responses(404, 413, 422),
)
async def upload_evidence(
    *,
    equipment_id: EquipmentId,
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Writer,
    kind: Annotated[EvidenceKind, Query(description="delivery-receipt, sanitization-certificate or other")],
    name: Annotated[str, Query(min_length=1, max_length=200, description="the file's name")],
) -> EvidenceFile:
    rt = ctx.runtime
    chunks = await read_body(request, evidence_store(rt.settings.state_dir).max_bytes)
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    def attach() -> EvidenceFile:
        with rt.engine.begin() as conn:
            return store.attach_evidence(
                conn,
                rt.audit,
                caller_of(who),
                evidence_store(rt.settings.state_dir),
                equipment_id,
                kind=kind,
                name=name.strip(),
                media_type=media_type[:200],
                chunks=chunks,
                now=rt.clock.now(),
            )

    try:
        evidence = await run_in_threadpool(attach)
    except _REFUSALS as exc:
        raise _problem(exc) from None
    response.headers["Location"] = f"/v1/equipment/{equipment_id}/evidence/{evidence.id}"
    return evidence


@router.get(
    "/equipment/{equipment_id}/evidence",
    summary="The evidence files kept for equipment",
    response_model=list[EvidenceFile],
    responses=responses(404),
)
def list_evidence(equipment_id: EquipmentId, ctx: Ctx, who: Reader) -> list[EvidenceFile]:
    try:
        with ctx.engine.connect() as conn:
            return list(store.get_equipment(conn, caller_of(who), equipment_id).evidence)
    except _REFUSALS as exc:
        raise _problem(exc) from None


@router.get(
    "/equipment/{equipment_id}/evidence/{evidence_id}",
    summary="Download an evidence file, checked against its recorded SHA-256",
    response_class=Response,
    responses={**responses(404, 500), 200: {"content": {"application/octet-stream": {}}}},
)
def download_evidence(equipment_id: EquipmentId, evidence_id: EvidenceId, ctx: Ctx, who: Reader) -> Response:
    files = evidence_store(ctx.runtime.settings.state_dir)
    try:
        with ctx.engine.connect() as conn:
            record, data = store.read_evidence(conn, caller_of(who), files, equipment_id, evidence_id)
    except _REFUSALS as exc:
        raise _problem(exc) from None
    digest = base64.b64encode(bytes.fromhex(record.sha256)).decode()
    return Response(
        data,
        media_type=record.media_type,
        headers={
            "Repr-Digest": f"sha-256=:{digest}:",
            "ETag": f'"{record.sha256}"',
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.name)}",
        },
    )
