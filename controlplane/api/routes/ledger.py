"""The approved ledger: systems, what was approved on a day, every revision (``yunguan ledger show``). Quantities
in core units: CPU in cores, memory and storage in bytes, power in watts, bandwidth in bit/s. A unit token sees
only its own department's systems."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.api.problems import not_found
from controlplane.clock import today_cst
from controlplane.domain import AllocationKind, ApplicationSystem, FootprintItem, Mode, SystemStatus, Zone
from controlplane.ledger.store import Approved, approved_at, footprints, history, systems

router = APIRouter(tags=["ledger"])
Reader = Annotated[Principal, Depends(requires(Permission.LEDGER_READ))]
Ctx = Annotated[ApiContext, Depends(api_context)]


class SystemOut(BaseModel):
    key: str = Field(description="system code, or unit/system")
    name: str
    department: str = Field(description="the using unit")
    mlps_level: int
    zone: Zone
    mode: Mode
    stable_since: dt.date | None
    status: SystemStatus

    @classmethod
    def of(cls, system: ApplicationSystem) -> SystemOut:
        return cls.model_validate(system.model_dump())


class FootprintOut(BaseModel):
    cloud: str
    kind: str = Field(description="project, namespace or equipment")
    ref: str

    @classmethod
    def of(cls, item: FootprintItem) -> FootprintOut:
        return cls(cloud=item.cloud, kind=item.kind.value, ref=item.ref)


class AllocationOut(BaseModel):
    department: str
    system: str
    cloud: str
    revision: int = Field(description="the revision's number in the ledger")
    recorded_at: dt.datetime
    vcpu: float = Field(description="cores")
    memory_bytes: int
    storage_bytes: int
    instances: int
    rack_units: int
    power_watts: int
    bandwidth_bps: int
    devices: int
    approval_ref: str
    approval_date: dt.date
    effective_from: dt.date
    effective_to: dt.date | None = Field(description="last day in force; null: open-ended")
    kind: AllocationKind
    major_change: list[str] = Field(description="quantities changed by more than 50% (Bozhou 22)")

    @classmethod
    def of(cls, item: Approved) -> AllocationOut:
        a = item.revision.allocation
        return cls(
            department=item.department,
            system=item.system.key,
            cloud=item.cloud,
            revision=item.revision.revision,
            recorded_at=item.revision.recorded_at,
            **{**a.quantities.model_dump(), "vcpu": float(a.quantities.vcpu)},
            approval_ref=a.approval_ref,
            approval_date=a.approval_date,
            effective_from=a.effective_from,
            effective_to=a.effective_to,
            kind=a.kind,
            major_change=list(item.revision.major_change),
        )


class SystemDetail(SystemOut):
    footprints: list[FootprintOut]
    approved_today: list[AllocationOut] = Field(description="the revisions in force today (UTC+8), per cloud")


@router.get("/systems", summary="Application systems", response_model=Page[SystemOut])
def list_systems(request: Request, ctx: Ctx, who: Reader, limit: Limit = 100, cursor: Cursor = None) -> Page[SystemOut]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = [s for s, _ in systems(conn) if mine is None or s.key in mine]
    items, following = paginate(request, found, lambda s: [s.key], limit, cursor)
    return Page[SystemOut](items=[SystemOut.of(s) for s in items], next=following)


@router.get(
    "/systems/{key:path}", summary="One system, its footprint and its approval today", response_model=SystemDetail
)
def get_system(key: str, ctx: Ctx, who: Reader) -> SystemDetail:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = next((s for s, _ in systems(conn) if s.key == key), None)
        if found is None or (mine is not None and key not in mine):
            raise not_found(f"system {key!r}")
        items = footprints(conn, key)
        approved = approved_at(conn, today_cst(ctx.runtime.clock), key)
    return SystemDetail(
        **SystemOut.of(found).model_dump(),
        footprints=[FootprintOut.of(f) for f in items if f.system == key],
        approved_today=[AllocationOut.of(a) for a in approved if a.system.key == key],
    )


def _allocation_key(a: AllocationOut) -> list[object]:
    return [a.department, a.system, a.cloud, a.revision]


@router.get(
    "/allocations", summary="What was approved on a day (default today, UTC+8)", response_model=Page[AllocationOut]
)
def list_allocations(
    *,
    request: Request,
    ctx: Ctx,
    who: Reader,
    day: Annotated[dt.date | None, Query(description="the day, UTC+8 (default today)")] = None,
    system: Annotated[str | None, Query(max_length=200, description="system code or name")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AllocationOut]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = approved_at(conn, day or today_cst(ctx.runtime.clock), system)
    rows = [AllocationOut.of(a) for a in found if mine is None or a.system.key in mine]
    items, following = paginate(request, rows, _allocation_key, limit, cursor)
    return Page[AllocationOut](items=items, next=following)


@router.get("/allocations/history", summary="Every revision ever recorded", response_model=Page[AllocationOut])
def allocation_history(
    *,
    request: Request,
    ctx: Ctx,
    who: Reader,
    system: Annotated[str | None, Query(max_length=200, description="system code or name")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AllocationOut]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = history(conn, system)
    rows = [AllocationOut.of(a) for a in found if mine is None or a.system.key in mine]
    items, following = paginate(request, rows, _allocation_key, limit, cursor)
    return Page[AllocationOut](items=items, next=following)
