"""The periods usage is counted in: UTC hours, calendar days, weeks and months in China Standard Time."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.usage_query import Window
from controlplane.usage_rollup import HOUR, cst_day_start, hour_start, runs


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_an_hours_rollup_starts_on_the_hour() -> None:
    """02:59:59.999999 belongs to the 02:00 hour; a time given in UTC+8 is turned to UTC first."""
    assert hour_start(utc("2026-11-20T02:59:59.999999")) == utc("2026-11-20T02:00:00")
    cst = dt.timezone(dt.timedelta(hours=8))
    assert hour_start(dt.datetime(2026, 11, 20, 10, 30, tzinfo=cst)) == utc("2026-11-20T02:00:00")


def test_a_day_is_the_china_standard_time_day() -> None:
    """16:00 UTC starts the next day in Beijing; 15:59 UTC is still the same day."""
    assert cst_day_start(utc("2026-10-31T17:00:00")) == utc("2026-10-31T16:00:00")
    assert cst_day_start(utc("2026-10-31T15:59:59")) == utc("2026-10-30T16:00:00")


def test_consecutive_hours_are_rolled_up_in_one_statement() -> None:
    """Hours 1, 2, 3 and 5 are two ranges, [1, 4) and [5, 6); order and repeats do not matter."""
    hours = [utc(f"2026-11-20T0{h}:00:00") for h in (3, 1, 2, 5, 2)]
    assert runs(hours, HOUR) == [
        (utc("2026-11-20T01:00:00"), utc("2026-11-20T04:00:00")),
        (utc("2026-11-20T05:00:00"), utc("2026-11-20T06:00:00")),
    ]
    assert runs([], HOUR) == []


def test_windows_are_calendar_periods_in_china_standard_time() -> None:
    """November 2026 in Beijing begins 31 October 16:00 UTC; December's runs into the next year; the week of Sunday
    22 November starts Monday 16th; an empty or naive window is refused."""
    assert Window.month(2026, 11) == Window(utc("2026-10-31T16:00:00"), utc("2026-11-30T16:00:00"))
    assert Window.month(2026, 12) == Window(utc("2026-11-30T16:00:00"), utc("2026-12-31T16:00:00"))
    week = Window.week(dt.date(2026, 11, 22))
    assert (week.start, week.end) == (utc("2026-11-15T16:00:00"), utc("2026-11-22T16:00:00"))
    assert Window.days(dt.date(2026, 11, 1), dt.date(2026, 11, 2)).whole_days
    assert not Window(utc("2026-11-01T00:00:00"), utc("2026-11-02T00:00:00")).whole_days
    with pytest.raises(ValueError, match="end after"):
        Window.days(dt.date(2026, 11, 2), dt.date(2026, 11, 2))
    with pytest.raises(ValueError, match="aware"):
        Window(dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2))  # noqa: DTZ001 - the point of the test
