"""Assembling a month's report from the store: pure reads, no writes, everything a renderer needs in one frozen
``MonthlyReport``.

Which systems: every system with an approval in force on the month's last day (UTC+8) or a footprint, one line per
cloud. What was measured comes from the rollups through ``controlplane.usage_query`` over the calendar month in
UTC+8: a system's OpenStack servers give CPU %, memory % and disk % of their own capacity (weighted by size); its
Kubernetes namespaces give cores and bytes in use, shown as a percentage of the approval. Each figure carries its
sample counts and a quality (``model.Quality``) judged by the same rules as the vendor comparison: no samples is
*unknown*, any estimate makes it *estimated*, too few days or unweighable servers *partial*.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from sqlalchemy import Connection

from controlplane.clock import CST
from controlplane.ledger.store import Approved, approved_at, footprints, load_clouds, systems
from controlplane.report.model import RESOURCES, Allocation, Measured, MonthlyReport, Quality, SystemMonth, VendorFigure
from controlplane.report.sources import actions_in_month, findings_in_month
from controlplane.usage_query import Selection, Summary, Window, peak, summary, system_selections
from controlplane.vendor_usage.compare import compare_month

# resource -> (metric of servers, in percent of their capacity; metric of namespaces, against the approval's field)
MEASURES = {
    "cpu": ("cpu_percent", "cpu_cores", "vcpu"),
    "memory": ("memory_percent", "memory_bytes", "memory_bytes"),
    "disk": ("disk_percent", "storage_used_bytes", "storage_bytes"),
}


def gather(
    conn: Connection, year: int, month: int, *, now: dt.datetime, margin: Decimal, min_coverage: Decimal
) -> MonthlyReport:
    """Everything the report for ``year``-``month`` (UTC+8) says, read at ``now``."""
    window = Window.month(year, month)
    last_day = (window.end.astimezone(CST) - dt.timedelta(days=1)).date()
    month_days = calendar.monthrange(year, month)[1]
    known = {s.key: (s, unit) for s, unit in systems(conn)}
    kinds = {name: c.kind.value for name, c in load_clouds(conn).items()}
    approvals = {(a.system.key, a.cloud): a for a in approved_at(conn, last_day)}
    pairs = set(approvals) | {(f.system, f.cloud) for f in footprints(conn)}
    lines: list[SystemMonth] = []
    for key, cloud in sorted(pairs, key=lambda p: (known[p[0]][1], p[0], p[1])):
        system, unit = known[key]
        allocation = _allocation(approvals.get((key, cloud)))
        chosen = system_selections(conn, key, cloud)
        measured = tuple(
            _measure(conn, chosen[0] if chosen else None, r, window, allocation, month_days, min_coverage)
            for r in RESOURCES
        )
        lines.append(
            SystemMonth(
                unit=unit,
                system=key,
                name=system.name,
                cloud=cloud,
                cloud_kind=kinds.get(cloud, ""),
                mode=system.mode.value,
                status=system.status.value,
                allocation=allocation,
                measured=measured,
            )
        )
    found, findings_recorded = findings_in_month(conn, window.start, window.end)
    taken, actions_recorded = actions_in_month(conn, window.start, window.end)
    return MonthlyReport(
        month=f"{year:04d}-{month:02d}",
        start=window.start,
        end=window.end,
        as_of=last_day,
        generated_at=now,
        margin_points=margin,
        min_coverage=min_coverage,
        systems=tuple(lines),
        findings=tuple(found),
        findings_recorded=findings_recorded,
        actions=tuple(taken),
        actions_recorded=actions_recorded,
        vendor=_vendor(conn, year, month, margin, min_coverage),
    )


def _allocation(approved: Approved | None) -> Allocation | None:
    if approved is None:
        return None
    a = approved.revision.allocation
    q = a.quantities
    return Allocation(
        approval_ref=a.approval_ref,
        kind=a.kind.value,
        effective_from=a.effective_from,
        effective_to=a.effective_to,
        vcpu=q.vcpu,
        memory_bytes=q.memory_bytes,
        storage_bytes=q.storage_bytes,
        instances=q.instances,
        rack_units=q.rack_units,
        power_watts=q.power_watts,
        bandwidth_bps=q.bandwidth_bps,
        devices=q.devices,
    )


def judge(s: Summary, month_days: int, min_coverage: Decimal) -> tuple[Quality, str]:
    """How far a month's figure can be trusted, by the rules ``usage compare`` applies to vendor figures."""
    if s.samples == 0 or s.mean is None:
        return Quality.UNKNOWN, "no-samples"
    if s.estimated:
        return Quality.ESTIMATED, "estimates"
    if Decimal(s.periods) < min_coverage * month_days:
        return Quality.PARTIAL, "coverage"
    if s.unweighted:
        return Quality.PARTIAL, "unweighted"
    return Quality.MEASURED, ""


def _measure(  # noqa: PLR0917 - one figure of one line, from everything the line knows
    conn: Connection,
    selection: Selection | None,
    resource: str,
    window: Window,
    allocation: Allocation | None,
    month_days: int,
    min_coverage: Decimal,
) -> Measured:
    server_metric, namespace_metric, approved_field = MEASURES[resource]
    if selection is None:  # hosted equipment, or no project or namespace on this cloud: nothing measures it
        return Measured(
            resource, "", "", None, None, None, "", 0, 0, 0, 0, month_days, 0, Quality.UNKNOWN, "not-measured"
        )
    if selection.scope_kind == "server":
        s = summary(conn, selection, server_metric, window)
        top = peak(conn, selection, server_metric, window)
        quality, why = judge(s, month_days, min_coverage)
        return Measured(
            resource,
            server_metric,
            "capacity",
            s.mean,
            top.value,
            top.period,
            top.scope_id or "",
            s.samples,
            s.estimated,
            s.missing,
            s.periods,
            month_days,
            s.unweighted,
            quality,
            why,
        )
    s = summary(conn, selection, namespace_metric, window)
    quality, why = judge(s, month_days, min_coverage)
    approved = Decimal(getattr(allocation, approved_field, 0) or 0)
    mean = peak_value = None
    if approved > 0:
        mean = None if s.mean is None else float(Decimal(str(s.mean)) / approved * 100)
        peak_value = None if s.max is None else float(Decimal(str(s.max)) / approved * 100)
    elif s.samples:
        quality, why = Quality.UNKNOWN, "no-approval"  # cores in use, but of nothing approved: no percentage
    return Measured(
        resource,
        namespace_metric,
        "approval",
        mean,
        peak_value,
        None,
        "",
        s.samples,
        s.estimated,
        s.missing,
        s.periods,
        month_days,
        0,
        quality,
        why,
    )


def _vendor(
    conn: Connection, year: int, month: int, margin: Decimal, min_coverage: Decimal
) -> tuple[VendorFigure, ...]:
    return tuple(
        VendorFigure(
            system=c.figure.system,
            cloud=c.figure.cloud,
            server=c.figure.server,
            metric=c.figure.metric,
            vendor=c.figure.vendor,
            reported=c.figure.percent,
            measured=c.measured,
            difference=c.difference,
            samples=c.samples,
            estimated=c.estimated,
            days=c.days,
            month_days=c.month_days,
            verdict=c.verdict.value,
            why=c.why,
        )
        for c in compare_month(conn, year, month, margin, min_coverage)
    )
