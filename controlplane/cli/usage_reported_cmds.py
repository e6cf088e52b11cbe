"""``yunguan usage import-reported`` and ``yunguan usage compare``: the utilization vendors report each month
(Suining 14, Bozhou 27), recorded beside the measured figures and put against them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from controlplane import units
from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_USAGE, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.clock import today_cst
from controlplane.ledger.store import sync_clouds
from controlplane.vendor_usage.compare import Comparison, Verdict, compare_month
from controlplane.vendor_usage.form import month_of, parse_report, read_report_file
from controlplane.vendor_usage.store import apply_report, known_ledger

COLUMNS = (
    "system",
    "cloud",
    "server",
    "metric",
    "vendor",
    "reported",
    "measured",
    "difference",
    "samples",
    "days",
    "quality",
    "verdict",
)


@guarded
def import_reported(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or XLSX utilization form", exists=True, dir_okay=False)],
    vendor: Annotated[
        str | None,
        typer.Option("--vendor", help="who reported, for rows with no 报送单位 (default: the cloud's vendor)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, write nothing")] = False,
) -> None:
    """Import vendor-reported monthly utilization, atomically: one bad cell rejects the whole file. The same figure
    again changes nothing; another value replaces it, logged with before and after."""
    st = state(ctx)
    rt = st.runtime()
    raw = read_report_file(file)
    today = today_cst(rt.clock)
    with rt.engine.connect() as conn, conn.begin() as tx:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, st.actor)
        batch = parse_report(raw, known_ledger(conn), (today.year, today.month), vendor)
        summary = apply_report(conn, batch, rt.audit, st.actor, rt.clock.now())
        if dry_run:
            tx.rollback()
    print_msg(st, "import_dry" if dry_run else "import_ok", source=file)
    rows = [
        {"what": st.t("reported_created"), "n": summary.created},
        {"what": st.t("reported_changed"), "n": summary.changed},
        {"what": st.t("reported_unchanged"), "n": summary.unchanged},
    ]
    emit(st.out, Format.TABLE, rows, [("what", ""), ("n", "#")])


@guarded
def compare(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", "-m", help="the month, YYYY-MM (China Standard Time)")],
    margin: Annotated[
        float | None,
        typer.Option(
            "--margin", min=0, max=100, help="points of difference to flag (default usage.compare_margin_points)"
        ),
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """Vendor-reported against measured utilization for a month. Exit 1 when a figure differs by more than the
    margin; a figure with too little measured data is unknown, never flagged."""
    st = state(ctx)
    rt = st.runtime()
    found = month_of(month)
    if found is None:
        print_msg(st, "bad_month", value=month)
        raise typer.Exit(EXIT_USAGE)
    year, number = found
    points = Decimal(str(rt.settings.usage.compare_margin_points if margin is None else margin))
    coverage = Decimal(str(rt.settings.usage.compare_min_coverage))
    with rt.engine.connect() as conn:
        results = compare_month(conn, year, number, points, coverage)
    shown = f"{year:04d}-{number:02d}"
    if not results:
        print_msg(st, "compare_none", month=shown)
        return
    table = output is Format.TABLE
    rows = [_row(st.t, c, table) for c in results]
    title = st.t("compare_title", month=shown, margin=units.plain(points))
    emit(st.out, output, rows, [(k, st.t(f"compare.{k}")) for k in (*COLUMNS, "why")], title)
    flagged = sum(1 for c in results if c.verdict is Verdict.DIFFERS)
    if flagged:
        print_msg(st, "compare_flagged", n=flagged, margin=units.plain(points))
        raise typer.Exit(EXIT_CHECK_FAILED)


def _row(t: Any, c: Comparison, table: bool) -> dict[str, Any]:
    """One comparison: numbers as numbers for scripts; words in the CLI language for people."""
    f = c.figure

    def number(value: Decimal | None, sign: bool = False) -> Any:
        if value is None:
            return None
        if not table:
            return float(value)
        return ("+" if sign and value > 0 else "") + units.plain(value)

    if c.samples == 0:
        quality = "none"
    elif c.estimated:
        quality = f"estimated {c.estimated}/{c.samples}"
    else:
        quality = "measured"
    row: dict[str, Any] = {
        "system": f.system,
        "cloud": f.cloud,
        "server": f.server or None,
        "metric": f.metric,
        "vendor": f.vendor,
        "reported": number(f.percent),
        "measured": number(c.measured),
        "difference": number(c.difference, sign=True),
        "samples": c.samples,
        "estimated": c.estimated,
        "missing": c.missing,
        "days": f"{c.days}/{c.month_days}",
        "quality": quality,
        "verdict": c.verdict.value,
        "why": c.why or None,
    }
    if table:
        row["metric"] = t(f"reported.{f.metric}")
        row["verdict"] = t(f"verdict.{c.verdict.value}")
        row["quality"] = t("quality.estimated", k=c.estimated, n=c.samples) if c.estimated else t(f"quality.{quality}")
        values = {"k": c.estimated, "n": c.samples, "days": c.days, "of": c.month_days, "servers": c.unweighted}
        row["why"] = t(f"why.{c.why}", **values) if c.why else None
    return row
