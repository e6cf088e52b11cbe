"""``yunguan reconcile`` and ``yunguan drift``: compare the ledger with the clouds, read the drift found."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import EXIT_REMOTE, Remote, RemoteError
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
    remote = st.remote()
    if remote is not None:
        _reconcile_remote(st, remote, [] if all_clouds or not clouds else clouds, dry_run)
        return
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
    rows = per_cloud(summary)
    _show_run(st, done.pulled, rows, summary.run_id, dry_run)
    if summary.status != "ok":
        raise typer.Exit(EXIT_PARTIAL)
    if summary.drift:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _show_run(
    st: CliState, pulled: dict[str, int], rows: list[dict[str, Any]], run_id: int | None, dry_run: bool
) -> None:
    for name, n in pulled.items():
        print_msg(st, "records_pulled", cloud=name, n=n)
    columns = [("cloud", st.t("cloud")), ("status", st.t("status")), ("api_calls", st.t("api_calls"))]
    columns += [(c.value, c.value) for c in DriftClass]
    columns += [("new", st.t("new")), ("resolved", st.t("resolved"))]
    title = st.t("reconcile_dry") if dry_run else st.t("reconcile_title", run=run_id)
    emit(st.out, Format.TABLE, rows, columns, title)
    for row in rows:
        if row["status"] != "ok":
            print_msg(st, "partial_note", cloud=row["cloud"], why="; ".join(row["problems"])[:500])


def _reconcile_remote(st: CliState, remote: Remote, clouds: list[str], dry_run: bool) -> None:
    """Start the run on the server, follow its progress until it is done, show it as a local run."""
    run = remote.post("/v1/reconcile-runs", {"clouds": clouds, "dry_run": dry_run})
    run = remote.follow(run, "/v1/reconcile-runs", st.err)
    result = run["result"]
    if run["state"] != "done" or result is None:
        raise RemoteError(f"reconcile run {run['id']} failed on the server: {run['error']}", EXIT_REMOTE)
    rows = [{**{k: v for k, v in line.items() if k != "counts"}, **line["counts"]} for line in result["clouds"]]
    _show_run(st, result["records_pulled"], rows, result["run_id"], dry_run)
    if result["status"] != "ok":
        raise typer.Exit(EXIT_PARTIAL)
    if any(sum(line["counts"].values()) for line in result["clouds"]):
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
    remote = st.remote()
    if remote is not None:
        params = {"cloud": cloud, "system": system, "class": drift_class.value if drift_class else None}
        rows: list[dict[str, Any]] = list(remote.items("/v1/drift", params))
    else:
        with st.runtime().engine.connect() as conn:
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
