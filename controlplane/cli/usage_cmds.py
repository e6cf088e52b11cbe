"""``yunguan usage collect`` and ``yunguan usage show``: measured use against the approval."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from controlplane.cli.context import EXIT_USAGE, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.sweep_cmd import sweep_cloud
from controlplane.clock import today_cst
from controlplane.domain import FootprintKind
from controlplane.ledger.store import approved_at, footprints
from controlplane.reconcile.sources import open_source
from controlplane.usage import UsageSource, latest, write_samples

app = typer.Typer(help="Measured use (用量).", no_args_is_help=True)
EXIT_PARTIAL = 6
GIB = Decimal(1024**3)
# metric -> (the allocation's quantity it is measured against, how it is shown)
SHOWN = {
    "cpu_cores": ("vcpu", Decimal(1)),
    "memory_bytes": ("memory_bytes", GIB),
    "storage_used_bytes": ("storage_bytes", GIB),
    "storage_capacity_bytes": ("storage_bytes", GIB),
}


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
def show(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="a system (code or name) or a namespace")],
    cloud: Annotated[str | None, typer.Option("--cloud", help="the cloud (needed when it is not obvious)")] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """The latest measured use of a system's namespaces (summed) or of one namespace, against the approval in
    force today (CPU in cores, memory and storage in GiB)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.connect() as conn:
        items = [
            f
            for f in footprints(conn, target)
            if f.kind is FootprintKind.NAMESPACE and (cloud is None or f.cloud == cloud)
        ]
        owners = {f.system for f in items}
        if items:
            clouds = {f.cloud for f in items}
            namespaces = [f.ref for f in items]
        else:  # a namespace, by name: find its owner, if any, for the approval
            owned = [f for f in footprints(conn) if f.ref == target and f.kind is FootprintKind.NAMESPACE]
            owners = {f.system for f in owned if cloud is None or f.cloud == cloud}
            clouds = {cloud} if cloud else {f.cloud for f in owned}
            namespaces = [target]
        if len(clouds) != 1:
            print_msg(st, "unknown_cloud", name=target if not clouds else ", ".join(sorted(clouds)))
            raise typer.Exit(EXIT_USAGE)
        (where,) = clouds
        samples = latest(conn, where, "namespace", namespaces)
        approvals = [a for a in approved_at(conn, today_cst(rt.clock)) if a.system.key in owners and a.cloud == where]
    if not samples:
        print_msg(st, "no_usage", target=target)
        raise typer.Exit(EXIT_USAGE)
    rows: list[dict[str, Any]] = []
    for metric, (quantity, unit) in SHOWN.items():
        mine = [s for s in samples if s.metric == metric]
        if not mine:
            continue
        used = sum((s.value for s in mine if s.value is not None), Decimal(0)) / unit
        allowed = (Decimal(getattr(a.revision.allocation.quantities, quantity)) for a in approvals)
        approved = sum(allowed, Decimal(0)) / unit
        rows.append(
            {
                "metric": metric,
                "used": f"{used:.3f}".rstrip("0").rstrip("."),
                "approved": f"{approved:.3f}".rstrip("0").rstrip(".") if approvals else "",
                "percent": f"{used / approved * 100:.1f}" if approvals and approved else "",
                "measured_at": max(s.time for s in mine).isoformat(timespec="seconds"),
                "source": ", ".join(sorted({s.source for s in mine})),
            }
        )
    columns = [(k, st.t(k)) for k in ("metric", "used", "approved", "percent", "measured_at", "source")]
    emit(st.out, output, rows, columns, st.t("usage_title", target=target, cloud=where))
