"""``yunguan report monthly``: the monthly utilization report per unit and system (Suining 14, Bozhou 27,
Chongqing 16), as XLSX, a self-contained HTML page or one CSV table, logged in the operation log with its SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from controlplane.cli.context import EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.remote import EXIT_REMOTE, Remote, RemoteError
from controlplane.clock import today_cst
from controlplane.report.gather import gather
from controlplane.report.labels import text
from controlplane.report.publish import publish
from controlplane.vendor_usage.form import month_of

app = typer.Typer(help="Reports (报表).", no_args_is_help=True)


class ReportFormat(StrEnum):
    XLSX = "xlsx"
    HTML = "html"
    CSV = "csv"


@app.command("monthly")
@guarded
def monthly(
    ctx: typer.Context,
    month: Annotated[str, typer.Argument(help="the month, YYYY-MM (China Standard Time); it must be over")],
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="xlsx, html or csv")] = ReportFormat.XLSX,
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="file to write (default: yunguan-report-YYYY-MM.FORMAT here)"),
    ] = None,
) -> None:
    """Write the month's report: per unit and system the allocation in force at the month's end, the measured
    mean and peak CPU, memory and disk with their sample counts and quality, findings and their states, actions
    taken, and vendor-reported against measured figures. The file's SHA-256 goes to the operation log."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        _monthly_remote(st, remote, month, fmt, out)
        return
    rt = st.runtime()
    found = month_of(month)
    if found is None:
        print_msg(st, "bad_month", value=month)
        raise typer.Exit(EXIT_USAGE)
    year, number = found
    shown = f"{year:04d}-{number:02d}"
    if today_cst(rt.clock) < dt.date(year + number // 12, number % 12 + 1, 1):
        st.err.print(text(st.lang, "cli.not_over", month=shown), highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE)
    usage = rt.settings.usage
    with rt.engine.connect() as conn:
        report = gather(
            conn,
            year,
            number,
            now=rt.clock.now(),
            margin=Decimal(str(usage.compare_margin_points)),
            min_coverage=Decimal(str(usage.compare_min_coverage)),
        )
    path = out or Path(f"yunguan-report-{shown}.{fmt.value}")
    try:
        done = publish(rt.engine, rt.audit, st.actor, report, fmt.value, st.lang, path)
    except OSError as exc:
        st.err.print(f"{st.t('error')}: {path}: {exc.strerror or exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    message = text(
        st.lang, "cli.written", month=shown, out=done.path, format=fmt.value, sha256=done.sha256, seq=done.seq
    )
    st.err.print(message, highlight=False, markup=False, soft_wrap=True)


def _monthly_remote(st: CliState, remote: Remote, month: str, fmt: ReportFormat, out: Path | None) -> None:
    """Download the server's report; its bytes must hash to the SHA-256 the server logged."""
    found = month_of(month)
    if found is None:
        print_msg(st, "bad_month", value=month)
        raise typer.Exit(EXIT_USAGE)
    shown = f"{found[0]:04d}-{found[1]:02d}"
    path = out or Path(f"yunguan-report-{shown}.{fmt.value}")
    try:
        headers = remote.download(f"/v1/reports/monthly/{shown}", {"format": fmt.value, "lang": st.lang}, path)
    except OSError as exc:
        st.err.print(f"{st.t('error')}: {path}: {exc.strerror or exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha256 != headers.get("x-content-sha256"):
        path.unlink()
        raise RemoteError(
            f"the downloaded report does not hash to the logged {headers.get('x-content-sha256')}", EXIT_REMOTE
        )
    seq = headers.get("x-operation-log-seq")
    message = text(st.lang, "cli.written", month=shown, out=path, format=fmt.value, sha256=sha256, seq=seq)
    st.err.print(message, highlight=False, markup=False, soft_wrap=True)
