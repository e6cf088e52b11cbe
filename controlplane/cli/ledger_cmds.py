"""``yunguan ledger``: import, show and export the approved ledger. ``show`` also reads over the agent's API
(``/v1/allocations``, ``/v1/allocations/history``) when a server is configured; import and export stay local."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from controlplane.api.routes.ledger import AllocationOut
from controlplane.cli.context import guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.clock import SystemClock, today_cst
from controlplane.domain import Quantities
from controlplane.ledger import export as ledger_export
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import (
    apply_batch,
    approved_at,
    footprints,
    history,
    load_clouds,
    sync_clouds,
)
from controlplane.store.tables import departments

app = typer.Typer(help="The approved ledger (资源台账): import, show, export.", no_args_is_help=True)

OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")]


@app.command("import")
@guarded
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML ledger file", exists=True, dir_okay=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything, write nothing")] = False,
) -> None:
    """Import allocations from a form file, atomically: one bad row rejects the whole file."""
    st = state(ctx)
    rt = st.runtime()
    raw = read_ledger_file(file)
    with rt.engine.connect() as conn, conn.begin() as tx:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, st.actor)
        batch = parse_ledger(raw, load_clouds(conn))
        summary = apply_batch(conn, batch, rt.audit, st.actor, rt.clock.now())
        if dry_run:
            tx.rollback()
    print_msg(st, "import_dry" if dry_run else "import_ok", source=file)
    rows = [{"what": k, "n": v, "change": st.t("created")} for k, v in summary.created.items()]
    rows += [{"what": k, "n": v, "change": st.t("updated")} for k, v in summary.updated.items()]
    rows.append({"what": st.t("unchanged"), "n": summary.unchanged, "change": ""})
    emit(st.out, Format.TABLE, rows, [("change", ""), ("what", ""), ("n", "#")])
    if summary.major_changes:
        print_msg(st, "major_changes")
        for line in summary.major_changes:
            st.err.print("  " + line, highlight=False, markup=False)


def _quantities(item: AllocationOut) -> Quantities:
    return Quantities.model_validate({k: getattr(item, k) for k in Quantities.model_fields} | {"vcpu": str(item.vcpu)})


def _row(item: AllocationOut, with_history: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "unit": item.department,
        "system": item.system,
        "cloud": item.cloud,
        **ledger_export.form_quantities(_quantities(item)),
        "kind": item.kind.value,
        "approval": item.approval_ref,
        "effective_from": item.effective_from.isoformat(),
        "effective_to": item.effective_to.isoformat() if item.effective_to else None,
        "period": f"{item.effective_from.isoformat()} → {item.effective_to.isoformat() if item.effective_to else ''}",
        "major_change": list(item.major_change),
    }
    if with_history:
        row["revision"] = item.revision
        row["recorded_at"] = item.recorded_at.isoformat(timespec="seconds")
    return row


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    system: Annotated[str | None, typer.Option("--system", "-s", help="system code or name")] = None,
    at: Annotated[
        dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"], help="the day (default: today, UTC+8)")
    ] = None,
    all_revisions: Annotated[bool, typer.Option("--history", help="every revision ever recorded")] = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """What was approved for each system on a day (default today), or the whole revision history."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        day = at.date() if at else today_cst(SystemClock())  # the operator's today, as the local command's
        path = "/v1/allocations/history" if all_revisions else "/v1/allocations"
        params = {"system": system, "day": None if all_revisions else day.isoformat()}
        items = [AllocationOut.model_validate(item) for item in remote.items(path, params)]
    else:
        rt = st.runtime()
        day = at.date() if at else today_cst(rt.clock)
        with rt.engine.connect() as conn:
            found = history(conn, system) if all_revisions else approved_at(conn, day, system)
        items = [AllocationOut.of(item) for item in found]
    rows = [_row(i, all_revisions) for i in items]
    if output is Format.TABLE:
        for row in rows:
            row["kind"] = st.t(f"kind.{row['kind']}")
    keys = ["unit", "system", "cloud", "vcpu", "memory_gib", "storage_gib", "instances"]
    if any(r["rack_units"] or r["power_w"] or r["devices"] for r in rows):
        keys += ["rack_units", "power_w", "bandwidth_mbps", "devices"]
    keys += ["kind", "approval", "period"]
    if any(r["major_change"] for r in rows):
        keys.append("major_change")
    if all_revisions:
        keys = ["revision", *keys, "recorded_at"]
    if not rows and output is Format.TABLE:
        print_msg(st, "nothing_approved", day=day)
        return
    title = st.t("history_title") if all_revisions else st.t("ledger_title", day=day)
    emit(st.out, output, rows, [(k, st.t(k)) for k in keys], title)


@app.command("export")
@guarded
def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="output .csv, .xlsx or .yaml", dir_okay=False)],
    system: Annotated[str | None, typer.Option("--system", "-s")] = None,
) -> None:
    """Write every revision in the form format (headers in the CLI language); it re-imports as the same ledger."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.connect() as conn:
        items = history(conn, system)
        parent = departments.alias("parent")
        parents = dict(
            conn.execute(
                select(departments.c.name, parent.c.name).outerjoin(parent, parent.c.id == departments.c.parent_id)
            ).tuples()
        )
        fps = footprints(conn, system)
    ledger_export.write(file, ledger_export.to_rows(items, parents, fps), st.lang)
    st.err.print(f"{file}: {len(items)}", highlight=False)
