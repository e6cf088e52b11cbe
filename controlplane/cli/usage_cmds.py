"""``yunguan usage collect``, ``show`` and ``rollup``: measured use against the approval, over days."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from controlplane.cli import usage_view
from controlplane.cli.context import EXIT_USAGE, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.sweep_cmd import sweep_cloud
from controlplane.clock import CST, today_cst
from controlplane.ledger.store import approved_at
from controlplane.reconcile.sources import open_source
from controlplane.usage import UsageSource, write_samples
from controlplane.usage_rollup import retention_steps, roll_up

app = typer.Typer(help="Measured use (用量).", no_args_is_help=True)
EXIT_PARTIAL = 6


@app.command("collect")
@guarded
def collect(
    ctx: typer.Context,
    clouds: Annotated[list[str] | None, typer.Argument(help="cloud names (default: all that report usage)")] = None,
    host: Annotated[list[str] | None, typer.Option("--host", help="sweep only these hypervisors (repeatable)")] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0, help="seconds between the baseline and the counted sweep (rates)")
    ] = 10.0,
) -> None:
    """Take one round of usage samples from the clouds and store them: Kubernetes from the kubelets, clouds with
    ``hypervisors`` from libvirt (one sweep). Exit 6 when some could not be read."""
    st = state(ctx)
    rt = st.runtime()
    configured = {c.name: c for c in rt.settings.clouds}
    names = clouds or list(configured)
    unknown = [n for n in names if n not in configured]
    if unknown:
        print_msg(st, "unknown_cloud", name=", ".join(unknown))
        raise typer.Exit(EXIT_USAGE)
    partial = False
    for name in names:
        if configured[name].hypervisors is not None:
            partial |= not sweep_cloud(st, configured[name], tuple(host or ()), interval)
            continue
        source = open_source(configured[name], rt.clock)
        if not isinstance(source, UsageSource):
            if clouds:
                print_msg(st, "usage_none", cloud=name)
            continue
        batch = source.usage()  # read with no store transaction open
        with rt.engine.begin() as conn:
            n = write_samples(conn, batch.samples)
        print_msg(st, "usage_collected", cloud=name, n=n)
        if not batch.complete:
            partial = True
            print_msg(st, "usage_partial", cloud=name, why="; ".join(batch.problems)[:500])
    if partial:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("show")
@guarded
def show(  # typer passes options by name
    ctx: typer.Context,
    *,
    target: Annotated[str, typer.Argument(help="a system (code or name), a server id or a namespace")],
    cloud: Annotated[str | None, typer.Option("--cloud", help="the cloud (needed when it is not obvious)")] = None,
    first: Annotated[
        dt.datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="first day (UTC+8): figures over days from the rollups"),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="day after the last (UTC+8; default: tomorrow)"),
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """Without --from: the latest measured use of a system's servers or namespaces (summed; percentages weighted by
    each server's size), of one server or of one namespace, against the approval in force today (CPU in cores,
    memory and storage in GiB). With --from [--to]: per metric the mean, max, samples, estimates and missing tries
    over those days, from the hourly and daily rollups (run `yunguan usage rollup` first)."""
    st = state(ctx)
    rt = st.runtime()
    if end is not None and first is None:
        print_msg(st, "usage_to_without_from")
        raise typer.Exit(EXIT_USAGE)
    today = today_cst(rt.clock)
    try:
        with rt.engine.connect() as conn:
            found = usage_view.resolve(conn, target, cloud, [c.name for c in rt.settings.clouds])
            if first is not None:
                window = usage_view.cst_days(first, end, today)
                rows = usage_view.window_rows(conn, found, window)
            else:
                approvals = [
                    a for a in approved_at(conn, today) if a.system.key in found.owners and a.cloud == found.cloud
                ]
                rows = usage_view.latest_rows(conn, found, approvals)
    except usage_view.TargetError as exc:
        print_msg(st, exc.key, **exc.values)
        raise typer.Exit(EXIT_USAGE) from None
    if first is not None:
        if not rows:
            print_msg(st, "usage_no_rollups", target=target)
            raise typer.Exit(EXIT_USAGE)
        last = (window.end.astimezone(CST) - dt.timedelta(days=1)).date()
        title = st.t("usage_window_title", target=target, cloud=found.cloud, first=first.date(), last=last)
        keys = ("unit", "mean", "max", "samples", "estimated", "missing", "scopes")
        emit(st.out, output, rows, [("metric", st.t("metric")), *((k, st.t(f"usage.{k}")) for k in keys)], title)
        return
    if not rows:
        print_msg(st, "no_usage", target=target)
        raise typer.Exit(EXIT_USAGE)
    columns = [(k, st.t(k)) for k in ("metric", "used", "approved", "percent", "measured_at", "source")]
    columns.insert(4, ("quality", st.t("usage.quality")))
    emit(st.out, output, rows, columns, st.t("usage_title", target=target, cloud=found.cloud))


@app.command("rollup")
@guarded
def rollup(ctx: typer.Context) -> None:
    """Roll the samples up into hourly and daily figures now, then apply the retention (usage.raw_days,
    hourly_days, daily_days). Idempotent; the agent will run it on a schedule."""
    st = state(ctx)
    rt = st.runtime()
    now = rt.clock.now()
    keep = rt.settings.usage
    with rt.engine.begin() as conn:
        done = roll_up(conn, now, not_before=now - dt.timedelta(days=keep.raw_days))
    removed = retention_steps(rt.engine.begin, now, keep)  # short transactions: sweeps keep writing meanwhile
    print_msg(st, "usage_rolled", hours=done.hours, hourly=done.hourly_rows, days=done.days, daily=done.daily_rows)
    print_msg(
        st,
        "usage_retention",
        samples=removed.samples,
        hourly=removed.hourly,
        daily=removed.daily,
        sweeps=removed.sweeps,
    )
