"""``yunguan reconcile`` and ``yunguan drift``: compare the ledger with the clouds, read the drift found."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controlplane.calendar import WorkingCalendar
from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_USAGE, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.clock import today_cst
from controlplane.domain import Cloud
from controlplane.reconcile.desired_build import build_desired
from controlplane.reconcile.drift import DriftClass
from controlplane.reconcile.runs import latest_drift, record_run, take_inventories
from controlplane.reconcile.sources import open_source
from controlplane.records import RecordBatch, RecordSource, read_cursor, write_records

EXIT_PARTIAL = 6


@guarded
def reconcile(
    ctx: typer.Context,
    clouds: Annotated[list[str] | None, typer.Argument(help="cloud names (default: all configured)")] = None,
    all_clouds: Annotated[bool, typer.Option("--all", help="every configured cloud")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compare and show, record nothing")] = False,
) -> None:
    """Compare the ledger with what runs on the clouds and record the drift.

    Exit 0: no drift; 1: drift found; 6: some cloud could not be listed completely (nothing was concluded from
    what was missing there)."""
    st = state(ctx)
    rt = st.runtime()
    configured = {c.name: c for c in rt.settings.clouds}
    names = list(configured) if all_clouds or not clouds else clouds
    unknown = [n for n in names if n not in configured]
    if unknown or not names:
        print_msg(st, "unknown_cloud", name=", ".join(unknown)) if unknown else print_msg(st, "no_clouds")
        raise typer.Exit(EXIT_USAGE)
    day = today_cst(rt.clock)
    calendar = WorkingCalendar()
    started = rt.clock.now()
    sources = {n: open_source(configured[n], rt.clock) for n in names}
    recorders = {n: s for n, s in sources.items() if isinstance(s, RecordSource)}
    with rt.engine.connect() as conn, conn.begin():
        wanted = [
            build_desired(
                conn,
                Cloud(name=c.name, kind=c.kind, vendor=c.vendor, zone=c.zone, connection=c.connection),
                day,
                calendar,
                zone_map=dict(c.zone_map),
                ignore_groups=frozenset(c.ignore_groups),
                provisioning_days=c.provisioning_working_days,
            )
            for c in (configured[n] for n in names)
        ]
        cursors = {n: read_cursor(conn, n, r.source) for n, r in recorders.items()}
    # the clouds are read with no store transaction open: a long listing holds no lock
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=st.err, transient=True
    ) as bar:
        task = bar.add_task("", total=None)
        inventories = take_inventories(
            wanted, sources, progress=lambda cloud: bar.update(task, description=f"{cloud}: listing")
        )
        batches: dict[str, RecordBatch] = {}
        if not dry_run:
            for name, recorder in recorders.items():
                bar.update(task, description=f"{name}: operation records")
                batches[name] = recorder.records(cursors[name])
    pulled: dict[str, int] = {}
    with rt.engine.connect() as conn, conn.begin():
        summary = record_run(conn, rt.audit, wanted, inventories, started, rt.clock.now, st.actor, dry_run=dry_run)
        for name, batch in batches.items():
            pulled[name] = write_records(conn, rt.audit, name, recorders[name].source, batch)
    for name, n in pulled.items():
        print_msg(st, "records_pulled", cloud=name, n=n)
    counts = summary.counts()
    rows: list[dict[str, Any]] = []
    for result in summary.results:
        row: dict[str, Any] = {
            "cloud": result.cloud,
            "status": "ok" if result.complete else "partial",
            "api_calls": result.api_calls,
            **counts[result.cloud],
            "new": sum(1 for d in summary.new if d.cloud == result.cloud),
            "resolved": sum(1 for k in summary.resolved if k[0] == result.cloud),
        }
        rows.append(row)
    columns = [("cloud", st.t("cloud")), ("status", st.t("status")), ("api_calls", st.t("api_calls"))]
    columns += [(c.value, c.value) for c in DriftClass]
    columns += [("new", st.t("new")), ("resolved", st.t("resolved"))]
    title = st.t("reconcile_dry") if dry_run else st.t("reconcile_title", run=summary.run_id)
    emit(st.out, Format.TABLE, rows, columns, title)
    for result in summary.results:
        if not result.complete:
            print_msg(st, "partial_note", cloud=result.cloud, why="; ".join(result.problems)[:500])
    if summary.status != "ok":
        raise typer.Exit(EXIT_PARTIAL)
    if summary.drift:
        raise typer.Exit(EXIT_CHECK_FAILED)


@guarded
def drift(
    ctx: typer.Context,
    system: Annotated[str | None, typer.Option("--system", "-s")] = None,
    drift_class: Annotated[DriftClass | None, typer.Option("--class", "-c", help="drift class")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud")] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """The drift found by the latest run of each cloud. Exit 1 when there is any."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.connect() as conn:
        rows = latest_drift(conn, cloud, system, drift_class.value if drift_class else None)
    if not rows and output is Format.TABLE:
        print_msg(st, "no_drift")
        return
    for row in rows:
        row["resource"] = f"{row['resource_kind']} {row['resource_name'] or row['resource_id']}"
    columns = [
        ("cloud", st.t("cloud")),
        ("system", st.t("system")),
        ("drift_class", st.t("drift_class")),
        ("resource", st.t("resource")),
        ("detail", st.t("detail")),
    ]
    emit(st.out, output, rows, columns)
    if rows:
        raise typer.Exit(EXIT_CHECK_FAILED)
