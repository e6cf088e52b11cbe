"""The monthly report (``yunguan report monthly``) as a file download: gathered and rendered as on the command line,
and logged (``report.generate`` with the file's SHA-256) before it is sent, so every copy can be matched with its
generation. The response carries the SHA-256 in ``X-Content-SHA256`` and the operation-log seq in
``X-Operation-Log-Seq``."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from enum import StrEnum
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from controlplane.api.auth import Permission, Principal, requires
from controlplane.api.context import ApiContext, api_context
from controlplane.api.problems import Problem, responses
from controlplane.clock import today_cst
from controlplane.report.gather import gather
from controlplane.report.publish import publish
from controlplane.vendor_usage.form import month_of

router = APIRouter(tags=["reports"])

MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


class ReportFormat(StrEnum):
    XLSX = "xlsx"
    HTML = "html"
    CSV = "csv"


@router.get(
    "/reports/monthly/{month}",
    summary="The monthly report per unit and system, as a file",
    response_class=Response,
    responses={
        200: {
            "description": "the report file",
            "content": {m.split(";")[0]: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()},
        },
        **responses(422),
    },
)
def monthly(
    month: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (China Standard Time); it must be over")],
    ctx: Annotated[ApiContext, Depends(api_context)],
    who: Annotated[Principal, Depends(requires(Permission.REPORTS_READ))],
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.XLSX,
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Response:
    rt = ctx.runtime
    found = month_of(month)
    if found is None or not 2000 <= found[0] <= 2999:
        raise Problem(422, "validation", f"{month!r} is not a month (YYYY-MM)")
    year, number = found
    shown = f"{year:04d}-{number:02d}"
    if today_cst(rt.clock) < dt.date(year + number // 12, number % 12 + 1, 1):
        raise Problem(422, "month-not-over", f"{shown} is not over yet in Beijing")
    usage = rt.settings.usage
    with ctx.reader.connect() as conn:
        report = gather(
            conn,
            year,
            number,
            now=rt.clock.now(),
            margin=Decimal(str(usage.compare_margin_points)),
            min_coverage=Decimal(str(usage.compare_min_coverage)),
        )
    name = f"yunguan-report-{shown}.{fmt.value}"
    with tempfile.TemporaryDirectory(prefix="yunguan-report-") as tmp:
        done = publish(rt.engine, rt.audit, who.actor, report, fmt.value, lang, FilePath(tmp) / name)
        data = done.path.read_bytes()
    return Response(
        data,
        media_type=MEDIA[fmt.value],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-SHA256": done.sha256,
            "X-Operation-Log-Seq": str(done.seq),
        },
    )
