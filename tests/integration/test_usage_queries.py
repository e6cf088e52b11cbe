"""The rules' questions answered from the rollups on SQLite and PostgreSQL: a system's mean weighted by allocation,
calendar months and weeks in China Standard Time, peaks, hours with repeated peaks above 80%, and how much of the
answer was measured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from usage_data import CLOUD, at, sample, write

from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.usage import UsageSample
from controlplane.usage_query import (
    Selection,
    Window,
    hours_above,
    month_summary,
    peak,
    summary,
    week_summary,
)
from controlplane.usage_rollup import roll_up

SYSTEM = Selection(CLOUD, "server", group_ids=("p-1",))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def stored(engine: Engine, *samples: UsageSample, until: str = "2026-12-01T00:00:00") -> Engine:
    write(engine, *samples)
    with engine.begin() as conn:
        roll_up(conn, at(until))
    return engine


def every(server: str, metric: str, hour: str, *values: float | None, project: str = "p-1") -> list[UsageSample]:
    """One sample per 5 minutes from ``hour`` (e.g. 2026-11-20T02), with these values."""
    return [sample(server, metric, f"{hour}:{5 * i:02d}:00", v, project=project) for i, v in enumerate(values)]


def test_system_mean_is_weighted_by_allocated_vcpus(engine: Engine) -> None:
    """Two servers of the system's project, 2 vCPU at 10% and 6 vCPU at 50%: the system uses 40% of its CPU, not
    30%; a server of another project does not count; each server alone is its own mean."""
    stored(
        engine,
        *every("a", "cpu_percent", "2026-11-20T02", 10, 10),
        *every("a", "vcpus", "2026-11-20T02", 2),
        *every("b", "cpu_percent", "2026-11-20T02", 40, 60),
        *every("b", "vcpus", "2026-11-20T02", 6),
        *every("x", "cpu_percent", "2026-11-20T02", 99, project="p-other"),
        *every("x", "vcpus", "2026-11-20T02", 64, project="p-other"),
    )
    window = Window(at("2026-11-20T00:00:00"), at("2026-11-21T00:00:00"))  # not whole UTC+8 days: hourly
    with engine.connect() as conn:
        system = summary(conn, SYSTEM, "cpu_percent", window)
        alone = summary(conn, Selection.scope(CLOUD, "server", "a"), "cpu_percent", window)
        cores = summary(conn, SYSTEM, "vcpus", window)
    assert (system.mean, system.max, system.min, system.samples, system.scopes) == (40.0, 60.0, 10.0, 4, 2)
    assert (system.unweighted, system.resolution, system.periods) == (0, "hour", 1)
    assert (alone.mean, alone.samples) == (10.0, 2)
    assert (cores.mean, cores.max) == (8.0, 8.0)  # absolute metrics add up


def test_server_without_capacity_is_left_out_of_the_weighted_mean_and_counted(engine: Engine) -> None:
    """A server with no vcpus figure cannot be weighted: the mean is of the others, and the answer says one was left
    out."""
    stored(
        engine,
        *every("a", "cpu_percent", "2026-11-20T02", 20),
        *every("a", "vcpus", "2026-11-20T02", 4),
        *every("b", "cpu_percent", "2026-11-20T02", 90),
    )
    with engine.connect() as conn:
        result = summary(conn, SYSTEM, "cpu_percent", Window.days(dt.date(2026, 11, 20), dt.date(2026, 11, 21)))
    assert (result.mean, result.max, result.unweighted, result.scopes, result.resolution) == (20.0, 90.0, 1, 2, "day")


def test_calendar_month_is_counted_in_china_standard_time(engine: Engine) -> None:
    """17:00 UTC on 31 October is 01:00 on 1 November in Beijing: that sample belongs to November's mean, the one
    at 15:00 UTC to October's."""
    stored(
        engine,
        sample("a", "memory_percent", "2026-10-31T15:00:00", 20),
        sample("a", "memory_percent", "2026-10-31T17:00:00", 70),
        sample("a", "memory_percent", "2026-11-30T15:59:00", 90),
        sample("a", "memory_percent", "2026-11-30T16:00:00", 5),  # 1 December in Beijing
    )
    with engine.connect() as conn:
        october = month_summary(conn, SYSTEM, "memory_percent", 2026, 10)
        november = month_summary(conn, SYSTEM, "memory_percent", 2026, 11)
        by_hours = summary(conn, SYSTEM, "memory_percent", Window(at("2026-10-31T17:00:00"), at("2026-11-30T16:00:00")))
    assert (october.mean, october.samples) == (20.0, 1)
    assert (november.mean, november.max, november.samples, november.resolution) == (80.0, 90.0, 2, "day")
    assert (by_hours.mean, by_hours.samples, by_hours.resolution) == (80.0, 2, "hour")  # the same from the hours


def test_weekly_mean_and_peak(engine: Engine) -> None:
    """Monday 16 to Sunday 22 November 2026 (UTC+8): the week's memory mean and its peak, with the server and hour
    it happened in; the Monday before is another week."""
    stored(
        engine,
        sample("a", "memory_percent", "2026-11-15T15:00:00", 99),  # Sunday 15th, 23:00 in Beijing
        sample("a", "memory_percent", "2026-11-16T01:00:00", 30),
        sample("b", "memory_percent", "2026-11-18T09:10:00", 55),
        sample("a", "memory_percent", "2026-11-22T15:55:00", 35),  # Sunday 22nd, 23:55 in Beijing
        sample("a", "memory_total_bytes", "2026-11-18T09:00:00", 4 * 2**30),
        sample("b", "memory_total_bytes", "2026-11-18T09:00:00", 4 * 2**30),
    )
    with engine.connect() as conn:
        week = week_summary(conn, SYSTEM, "memory_percent", dt.date(2026, 11, 19))
        top = peak(conn, SYSTEM, "memory_percent", Window(at("2026-11-15T16:00:00"), at("2026-11-22T16:00:00")))
    assert (week.mean, week.max, week.samples) == (43.75, 55.0, 3)  # a: 32.5 and b: 55 weighted alike
    assert (top.value, top.scope_id, top.period, top.resolution) == (55.0, "b", at("2026-11-18T09:00:00"), "hour")


def test_hours_with_three_samples_above_80_percent(engine: Engine) -> None:
    """Bozhou 26: an hour counts when one server's memory was above 80% at least 3 times in it; 80.0 is not above."""
    stored(
        engine,
        *every("a", "memory_percent", "2026-11-20T02", 81, 85, 90, 10),  # 3 above: counts
        *every("a", "memory_percent", "2026-11-20T03", 81, 85, 80, 80),  # 2 above, two exactly at 80: does not
        *every("b", "memory_percent", "2026-11-20T03", 95, 96, 97),  # another server: counts
        *every("b", "memory_percent", "2026-11-20T05", 95, 96, 97, 98),
    )
    window = Window(at("2026-11-20T00:00:00"), at("2026-11-21T00:00:00"))
    with engine.connect() as conn:
        system = hours_above(conn, SYSTEM, "memory_percent", window, k=3)
        only_a = hours_above(conn, Selection.scope(CLOUD, "server", "a"), "memory_percent", window, k=3)
    assert (system.hours, system.scopes, system.hours_with_data) == (3, 2, 3)
    assert (system.first, system.last) == (at("2026-11-20T02:00:00"), at("2026-11-20T05:00:00"))
    assert (only_a.hours, only_a.hours_with_data) == (1, 2)


def test_quality_counts_say_how_much_was_measured(engine: Engine) -> None:
    """Estimates count as samples but are told apart; missing tries are counted and carry no value."""
    stored(
        engine,
        sample("a", "disk_percent", "2026-11-20T02:00:00", 40),
        sample("a", "disk_percent", "2026-11-20T02:05:00", 60, estimated=True),
        sample("a", "disk_percent", "2026-11-20T02:10:00", None),
        sample("a", "disk_percent", "2026-11-20T02:15:00", None),
    )
    with engine.connect() as conn:
        result = summary(conn, SYSTEM, "disk_percent", Window.days(dt.date(2026, 11, 20), dt.date(2026, 11, 21)))
        empty = summary(conn, SYSTEM, "disk_percent", Window.days(dt.date(2026, 11, 1), dt.date(2026, 11, 2)))
    assert (result.mean, result.samples, result.measured, result.estimated, result.missing) == (50.0, 2, 1, 1, 2)
    assert (empty.mean, empty.samples, empty.scopes) == (None, 0, 0)
