"""Vendor-reported against measured utilization, for one calendar month in China Standard Time.

For each reported figure, the same figure is measured from the rollups (``controlplane.usage_query``): a system's
servers (its project footprint) or one server, CPU % (``cpu_percent``), memory % (``memory_percent``) and storage %
(``disk_percent``); means are the month's mean (a system's weighted by each server's capacity), peaks the highest
sample. A row differs when the two are further apart than the margin (percentage points).

The measured figure is *unknown*, and never flagged, when it cannot be trusted: no sample with a value, samples on
fewer than ``min_coverage`` of the month's days, any estimate among the samples (a host-side figure never stands in
for the guest's, so a vendor is not contradicted by a guess), or servers left out for want of a capacity figure.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Connection

from controlplane.usage_query import Selection, Summary, month_summary, system_selections
from controlplane.vendor_usage.form import METRIC_COLUMNS, Figure
from controlplane.vendor_usage.store import reported

# reported figure -> (measured metric, which statistic of the month)
MEASURED_AS = {
    "cpu_mean": ("cpu_percent", "mean"),
    "memory_mean": ("memory_percent", "mean"),
    "storage": ("disk_percent", "mean"),
    "cpu_peak": ("cpu_percent", "max"),
    "memory_peak": ("memory_percent", "max"),
}
POINT = Decimal("0.01")


class Verdict(StrEnum):
    AGREES = "agrees"
    DIFFERS = "differs"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Comparison:
    figure: Figure
    measured: Decimal | None  # percent, to 0.01 point; None when nothing was measured
    difference: Decimal | None  # reported - measured, in points; None when unknown
    samples: int  # samples with a value behind the measured figure
    estimated: int  # of those, estimates
    missing: int  # tries that measured nothing
    days: int  # days of the month with samples
    month_days: int
    unweighted: int  # servers left out of a system's mean: no capacity figure
    verdict: Verdict
    why: str  # unknown: what is lacking (no-footprint, no-samples, estimates, coverage, unweighted); else ""


def measure(conn: Connection, figure: Figure, year: int, month: int) -> Summary | None:
    """The measured counterpart of a reported figure, from the usage queries; None when there is nothing to measure
    (a system without a footprint on that cloud). The one place that knows where measurements come from."""
    metric, _ = MEASURED_AS[figure.metric]
    if figure.server:
        selection = Selection.scope(figure.cloud, "server", figure.server)
    else:
        found = system_selections(conn, figure.system, figure.cloud)
        if not found:
            return None
        selection = found[0]
    return month_summary(conn, selection, metric, year, month)


def judge(
    figure: Figure, summary: Summary | None, month_days: int, margin: Decimal, min_coverage: Decimal
) -> Comparison:
    """Put one reported figure against its measurement. Pure: the rules of "differs" and "unknown" live here."""
    if summary is None:
        return Comparison(figure, None, None, 0, 0, 0, 0, month_days, 0, Verdict.UNKNOWN, "no-footprint")
    _, statistic = MEASURED_AS[figure.metric]
    raw = summary.mean if statistic == "mean" else summary.max
    measured = None if raw is None else Decimal(str(raw)).quantize(POINT)
    why = ""
    if measured is None or summary.samples == 0:
        why = "no-samples"
    elif summary.estimated:
        why = "estimates"
    elif Decimal(summary.periods) < min_coverage * month_days:
        why = "coverage"
    elif summary.unweighted:
        why = "unweighted"
    difference = None if why or measured is None else figure.percent - measured
    verdict = Verdict.UNKNOWN
    if difference is not None:
        verdict = Verdict.DIFFERS if abs(difference) > margin else Verdict.AGREES
    return Comparison(
        figure,
        measured,
        difference,
        summary.samples,
        summary.estimated,
        summary.missing,
        summary.periods,
        month_days,
        summary.unweighted,
        verdict,
        why,
    )


def compare_month(conn: Connection, year: int, month: int, margin: Decimal, min_coverage: Decimal) -> list[Comparison]:
    """Every figure reported for the month against what was measured, by system, cloud, server, metric, vendor."""
    month_days = calendar.monthrange(year, month)[1]
    order = {m: i for i, m in enumerate(METRIC_COLUMNS)}
    figures = sorted(
        reported(conn, f"{year:04d}-{month:02d}"),
        key=lambda f: (f.system, f.cloud, f.server, order[f.metric], f.vendor),
    )
    return [judge(f, measure(conn, f, year, month), month_days, margin, min_coverage) for f in figures]
