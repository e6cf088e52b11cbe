"""The clouds the store knows (recorded by ``yunguan db upgrade`` from the configuration). A vendor token sees only
its own vendor's clouds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.api.tokens import Role
from controlplane.domain import CloudKind, Zone
from controlplane.ledger.store import load_clouds

router = APIRouter(tags=["clouds"])


class CloudOut(BaseModel):
    name: str
    kind: CloudKind
    vendor: str
    zone: Zone


@router.get("/clouds", summary="Clouds", response_model=Page[CloudOut])
def list_clouds(
    request: Request,
    ctx: Annotated[ApiContext, Depends(api_context)],
    who: Annotated[Principal, Depends(requires(Permission.CLOUDS_READ))],
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[CloudOut]:
    with ctx.reader.connect() as conn:
        found = sorted(load_clouds(conn).values(), key=lambda c: c.name)
    if who.role is Role.VENDOR:
        found = [c for c in found if c.vendor == who.vendor]
    items, following = paginate(request, found, lambda c: [c.name], limit, cursor)
    return Page[CloudOut](
        items=[CloudOut(name=c.name, kind=c.kind, vendor=c.vendor, zone=c.zone) for c in items], next=following
    )
