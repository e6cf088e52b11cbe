"""How far a month's measured figure is trusted in the report: the same rules as the vendor comparison, in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controlplane.report.gather import judge
from controlplane.report.model import Quality
from controlplane.usage_query import Summary


def month(*, mean: float | None = 40.0, samples: int = 31, estimated: int = 0, days: int = 31, unweighted: int = 0):  # type: ignore[no-untyped-def]
    return Summary("cpu_percent", mean, mean, mean, samples, estimated, 0, 2, days, unweighted, "day")


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (month(), (Quality.MEASURED, "")),
        (month(mean=None, samples=0, days=0), (Quality.UNKNOWN, "no-samples")),
        (month(estimated=1), (Quality.ESTIMATED, "estimates")),
        (month(days=15), (Quality.PARTIAL, "coverage")),  # 15 of 31 days: under half
        (month(days=16), (Quality.MEASURED, "")),
        (month(unweighted=1), (Quality.PARTIAL, "unweighted")),
        (month(estimated=1, days=3), (Quality.ESTIMATED, "estimates")),  # an estimate is said first
    ],
)
def test_quality_of_a_month(summary: Summary, expected: tuple[Quality, str]) -> None:
    """No samples is unknown, never zero; any estimate is estimated; too few days or unweighable servers partial."""
    assert judge(summary, 31, Decimal("0.5")) == expected
