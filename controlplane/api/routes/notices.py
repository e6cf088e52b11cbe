"""The notices the findings lifecycle produced (``controlplane.policy.notices.outbox``), as ``yunguan notices list``
shows them: each with the snapshot of what it says and every delivery's result (channel, recipient, tries, last
error; a webhook is shown without its credentials or query). Admins, operators and auditors read all; a unit token
reads only the notices about its own department's systems.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.pagination import Cursor, Limit, Page, paginate
from controlplane.policy.notices.outbox import Notice, NoticeKind, Status, notices

router = APIRouter(tags=["notices"])
Ctx = Annotated[ApiContext, Depends(api_context)]
Reader = Annotated[Principal, Depends(requires(Permission.NOTICES_READ))]


@router.get("/notices", summary="Notices to using units, oldest first, with deliveries", response_model=Page[Notice])
def list_notices(
    *,
    request: Request,
    ctx: Ctx,
    who: Reader,
    finding: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="only this finding's notices")] = None,
    status: Annotated[list[Status] | None, Query(description="one or more statuses")] = None,
    kind: Annotated[NoticeKind | None, Query(description="reminded, urged, enforceable or maintenance")] = None,
    system: Annotated[str | None, Query(max_length=200, description="only notices about this system (code)")] = None,
    unit: Annotated[str | None, Query(max_length=200, description="only notices to this using unit")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Notice]:
    with ctx.reader.connect() as conn:
        mine = who.unit_systems(conn)
        found = notices(conn, finding_id=finding, status=list(status) if status else None, kind=kind)
    found = [
        n
        for n in found
        if (mine is None or n.snapshot.get("system") in mine)
        and (system is None or n.snapshot.get("system") == system)
        and (unit is None or n.snapshot.get("unit") == unit)
    ]
    items, following = paginate(request, found, lambda n: [n.id], limit, cursor)
    return Page[Notice](items=items, next=following)
