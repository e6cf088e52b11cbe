"""``yunguan reconcile`` and ``yunguan drift``: compare the ledger with the clouds, read the drift found."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_USAGE, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.reconcile.drift import DriftClass
from controlplane.reconcile.runs import latest_drift
from controlplane.reconcile.service import per_cloud, reconcile_clouds

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
    # the clouds are read with no store transaction open: a long listing holds no lock
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=st.err, transient=True
    ) as bar:
        task = bar.add_task("", total=None)
        done = reconcile_clouds(
            rt, names, st.actor, dry_run=dry_run, progress=lambda message: bar.update(task, description=message)
        )
    summary = done.summary
    for name, n in done.pulled.items():
        print_msg(st, "records_pulled", cloud=name, n=n)
    rows = per_cloud(summary)
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
