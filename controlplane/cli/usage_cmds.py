"""``yunguan usage collect``, ``show`` and ``rollup``: measured use against the approval, over days. ``collect``
and ``show`` also run over the agent's API when a server is configured; ``rollup`` stays local."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controlplane.cli import usage_view
from controlplane.cli.context import EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import EXIT_REMOTE, Remote, RemoteError
from controlplane.clock import CST, today_cst
from controlplane.ledger.store import approved_at
from controlplane.runtime import Runtime
from controlplane.usage_rollup import retention_steps, roll_up
from controlplane.usage_round import Note, collect_round, unknown_clouds

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
    ``hypervisors`` from libvirt (one sweep). Exit 6 when some could not be read. With a server configured the
    agent takes the round (``POST /v1/usage/collections``) and this follows it to its end."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        partial = _collect_remote(st, remote, clouds or [], host or [], interval)
    else:
        rt = st.runtime()
        unknown = unknown_clouds(rt, clouds or [])
        if unknown:
            print_msg(st, "unknown_cloud", name=", ".join(unknown))
            raise typer.Exit(EXIT_USAGE)
        bars: list[Progress] = []  # one per swept cloud, ended before the sweep's lines are said

        def progress(cloud: str, hosts: int) -> Callable[[str, bool], None]:
            bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=st.err,
                disable=not st.err.is_terminal,  # a log or a pipe gets the round's lines only
            )
            bars.append(bar)
            task = bar.add_task(f"{cloud}: hypervisors", total=hosts)
            bar.start()
            return lambda _host, _ok: bar.advance(task)

        def say(note: Note) -> None:
            while bars:
                bars.pop().stop()
            print_msg(st, note.key, **note.values)

        try:
            done = collect_round(
                rt,
                clouds or [],
                hosts=tuple(host or ()),
                interval_s=interval,
                sleep=time.sleep,
                say=say,
                progress=progress,
            )
        finally:
            while bars:
                bars.pop().stop()
        partial = done.partial
    if partial:
        raise typer.Exit(EXIT_PARTIAL)


def _collect_remote(st: CliState, remote: Remote, clouds: list[str], hosts: list[str], interval: float) -> bool:
    """Start the round on the agent, wait for its end, say what it said; True when it was partial."""
    body = {"clouds": clouds, "hosts": hosts, "interval_s": interval}
    job = remote.follow(remote.post("/v1/usage/collections", body), "/v1/usage/collections", st.err)
    result = job["result"]
    if job["state"] != "done" or result is None:
        raise RemoteError(f"usage collection {job['id']} failed on the server: {job['error']}", EXIT_REMOTE)
    for note in result["notes"]:
        print_msg(st, note["key"], **note["values"])
    return bool(result["partial"])


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
    if end is not None and first is None:
        print_msg(st, "usage_to_without_from")
        raise typer.Exit(EXIT_USAGE)
    remote = st.remote()
    try:
        if remote is not None:
            where, rows, last = _served(remote, target, cloud, first, end)
        else:
            where, rows, last = _local(st.runtime(), target, cloud, first, end)
    except usage_view.TargetError as exc:
        print_msg(st, exc.key, **exc.values)
        raise typer.Exit(EXIT_USAGE) from None
    if first is not None:
        if not rows:
            print_msg(st, "usage_no_rollups", target=target)
            raise typer.Exit(EXIT_USAGE)
        title = st.t("usage_window_title", target=target, cloud=where, first=first.date(), last=last)
        keys = ("unit", "mean", "max", "samples", "estimated", "missing", "scopes")
        emit(st.out, output, rows, [("metric", st.t("metric")), *((k, st.t(f"usage.{k}")) for k in keys)], title)
        return
    if not rows:
        print_msg(st, "no_usage", target=target)
        raise typer.Exit(EXIT_USAGE)
    columns = [(k, st.t(k)) for k in ("metric", "used", "approved", "percent", "measured_at", "source")]
    columns.insert(4, ("quality", st.t("usage.quality")))
    emit(st.out, output, rows, columns, st.t("usage_title", target=target, cloud=where))


Shown = tuple[str, list[dict[str, Any]], dt.date | None]  # the cloud, the rows, the window's last day (UTC+8)


def _local(rt: Runtime, target: str, cloud: str | None, first: dt.datetime | None, end: dt.datetime | None) -> Shown:
    today = today_cst(rt.clock)
    with rt.engine.connect() as conn:
        found = usage_view.resolve(conn, target, cloud, [c.name for c in rt.settings.clouds])
        if first is not None:
            window = usage_view.cst_days(first, end, today)
            last = (window.end.astimezone(CST) - dt.timedelta(days=1)).date()
            return found.cloud, usage_view.window_rows(conn, found, window), last
        approvals = [a for a in approved_at(conn, today) if a.system.key in found.owners and a.cloud == found.cloud]
        return found.cloud, usage_view.latest_rows(conn, found, approvals), None


def _served(
    remote: Remote, target: str, cloud: str | None, first: dt.datetime | None, end: dt.datetime | None
) -> Shown:
    """The same rows from ``/v1/usage/TARGET/latest`` or ``/summary``; a target the server does not know (or the
    token may not see) is the local command's "no usage"."""
    path = f"/v1/usage/{quote(target, safe='')}"
    try:
        if first is None:
            got = remote.get(f"{path}/latest", {"cloud": cloud})
        else:
            window = {"from": first.date().isoformat(), "to": end.date().isoformat() if end else None}
            got = remote.get(f"{path}/summary", {"cloud": cloud, **window})
    except RemoteError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            raise usage_view.TargetError("no_usage", target=target) from None
        raise
    last = dt.date.fromisoformat(got["last"]) if first is not None else None
    return str(got["cloud"]), list(got["rows"]), last


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
