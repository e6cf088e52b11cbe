"""The rules of `usage compare`, on one figure at a time: beyond the margin differs, at it agrees; too little or
estimated data is unknown and never flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controlplane.usage_query import Summary
from controlplane.vendor_usage.compare import Verdict, judge
from controlplane.vendor_usage.form import Figure

MARGIN, COVERAGE = Decimal(10), Decimal("0.5")


def figure(metric: str = "cpu_mean", percent: str = "45") -> Figure:
    return Figure("v", "2026-10", "c", "S-1", "", metric, Decimal(percent))


def measured(mean: float | None = 8.0, *, peak: float = 20.0, samples: int = 744, **kw: int) -> Summary:
    values = {"estimated": 0, "missing": 0, "scopes": 1, "periods": 31, "unweighted": 0} | kw
    return Summary(metric="cpu_percent", mean=mean, max=peak, min=0.0, samples=samples, resolution="day", **values)


@pytest.mark.parametrize(
    ("reported", "verdict"), [("45", Verdict.DIFFERS), ("18", Verdict.AGREES), ("18.01", Verdict.DIFFERS)]
)
def test_flagged_only_beyond_the_margin(reported: str, verdict: Verdict) -> None:
    """10 points apart is within a 10-point margin; 10.01 is not."""
    result = judge(figure(percent=reported), measured(), 31, MARGIN, COVERAGE)
    assert (result.verdict, result.difference) == (verdict, Decimal(reported) - 8)


def test_peaks_are_put_against_the_highest_sample() -> None:
    """A reported peak is compared with the month's highest measured sample, not its mean."""
    result = judge(figure("cpu_peak", "25"), measured(peak=20.0), 31, MARGIN, COVERAGE)
    assert (result.measured, result.verdict) == (Decimal(20), Verdict.AGREES)


@pytest.mark.parametrize(
    ("summary", "why"),
    [
        (None, "no-footprint"),
        (measured(None, samples=0, periods=0, missing=12), "no-samples"),
        (measured(estimated=1), "estimates"),
        (measured(periods=15), "coverage"),
        (measured(unweighted=1, scopes=3), "unweighted"),
    ],
)
def test_too_little_measured_is_unknown_never_a_difference(summary: Summary | None, why: str) -> None:
    """No footprint, no samples, any estimate, under half the month's days, a server that cannot be weighed."""
    result = judge(figure(), summary, 31, MARGIN, COVERAGE)
    assert (result.verdict, result.why, result.difference) == (Verdict.UNKNOWN, why, None)


def test_half_the_days_is_enough() -> None:
    """16 of 31 days is at least half the month."""
    assert judge(figure(), measured(periods=16), 31, MARGIN, COVERAGE).verdict is Verdict.DIFFERS
