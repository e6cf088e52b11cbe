"""Hourly and daily rollups of the usage samples and their retention, on SQLite and PostgreSQL, with time injected:
the figures a monthly report is built from must be exact, repeatable and kept as long as the rules need them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from usage_data import CLOUD, at, sample, write

from controlplane.config import UsageSettings
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import usage_daily, usage_days, usage_group_days, usage_hourly, usage_samples
from controlplane.usage_rollup import apply_retention, retention_steps, roll_up


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def rollup(engine: Engine, until: str, not_before: str | None = None) -> Any:
    with engine.begin() as conn:
        return roll_up(conn, at(until), at(not_before) if not_before else None)


def rows(engine: Engine, table: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(table)).mappings().all()
    return {(r["scope_id"], r["metric"], r["period"]): dict(r) for r in found}


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["mean"], row["max"], row["min"], row["n"], row["n_above_80"], row["n_missing"], row["n_estimated"])


def test_hourly_rollup_figures_exact(engine: Engine) -> None:
    """One hour of CPU %: mean, max, min over the samples with a value; 80.0 is not above 80%, 82 and 96 are; a
    missing sample counts as missing, an estimate as estimated; the hour still running is not rolled up."""
    write(
        engine,
        sample("s1", "cpu_percent", "2026-11-20T02:00:00", 10),
        sample("s1", "cpu_percent", "2026-11-20T02:05:00", 80),
        sample("s1", "cpu_percent", "2026-11-20T02:10:00", 82),
        sample("s1", "cpu_percent", "2026-11-20T02:15:00", 96),
        sample("s1", "cpu_percent", "2026-11-20T02:20:00", 42, estimated=True),
        sample("s1", "cpu_percent", "2026-11-20T02:25:00", None),
        sample("s1", "cpu_percent", "2026-11-20T02:59:59.999999", 50),
        sample("s1", "memory_bytes", "2026-11-20T02:00:00", 90 * 2**30),
        sample("s1", "cpu_percent", "2026-11-20T03:00:00", 99),  # the next hour, still running at 03:30
    )
    done = rollup(engine, "2026-11-20T03:30:00")
    assert (done.hours, done.hourly_rows) == (1, 2)
    hourly = rows(engine, usage_hourly)
    cpu = hourly[("s1", "cpu_percent", "2026-11-20T02:00:00.000000Z")]
    assert figures(cpu) == (60.0, 96.0, 10.0, 6, 2, 1, 1)
    assert (cpu["cloud"], cpu["scope_kind"], cpu["group_id"]) == (CLOUD, "server", "p-1")
    memory = hourly[("s1", "memory_bytes", "2026-11-20T02:00:00.000000Z")]
    assert figures(memory) == (90 * 2**30, 90 * 2**30, 90 * 2**30, 1, 0, 0, 0)  # not a percent: nothing above 80
    assert [k for k in hourly if k[2].startswith("2026-11-20T03")] == []


def test_second_rollup_changes_nothing_and_late_samples_recompute_their_hour(engine: Engine) -> None:
    """Rolling up again is a no-op; a sample arriving late for an hour already rolled up is counted in it at the
    next rollup; the running hour is rolled up once it is complete."""
    write(
        engine,
        sample("s1", "memory_percent", "2026-11-20T02:00:00", 81),
        sample("s1", "memory_percent", "2026-11-20T03:10:00", 20),
    )
    rollup(engine, "2026-11-20T03:30:00")
    first = rows(engine, usage_hourly), rows(engine, usage_daily)
    again = rollup(engine, "2026-11-20T03:30:00")
    assert (again.hours, again.hourly_rows, again.days) == (0, 0, 0)
    assert (rows(engine, usage_hourly), rows(engine, usage_daily)) == first
    write(engine, sample("s1", "memory_percent", "2026-11-20T02:30:00", 85))  # late
    late = rollup(engine, "2026-11-20T03:45:00")
    assert late.hours == 1
    hour = rows(engine, usage_hourly)[("s1", "memory_percent", "2026-11-20T02:00:00.000000Z")]
    assert figures(hour) == (83.0, 85.0, 81.0, 2, 2, 0, 0)
    rollup(engine, "2026-11-20T04:00:00")
    assert figures(rows(engine, usage_hourly)[("s1", "memory_percent", "2026-11-20T03:00:00.000000Z")])[:4] == (
        20.0,
        20.0,
        20.0,
        1,
    )


def test_daily_rollup_is_the_china_standard_time_day_weighted_by_samples(engine: Engine) -> None:
    """23:00 and 23:30 on 31 October in Beijing (15:xxZ) fall in 31 October; 01:00 on 1 November (17:00Z) in November:
    the day's period is its midnight in UTC+8, its mean weights each hour by its samples, and a day is rolled up once
    it is over."""
    write(
        engine,
        sample("s1", "cpu_percent", "2026-10-31T14:00:00", 10),
        sample("s1", "cpu_percent", "2026-10-31T15:00:00", 40),
        sample("s1", "cpu_percent", "2026-10-31T15:30:00", 70),
        sample("s1", "cpu_percent", "2026-10-31T17:00:00", 90, estimated=True),
        sample("s1", "cpu_percent", "2026-10-31T17:05:00", None),
    )
    running = rollup(engine, "2026-11-01T00:00:00")  # 08:00 on 1 November in Beijing: that day is not over
    assert (running.hours, running.days) == (3, 1)
    assert {k[2] for k in rows(engine, usage_daily)} == {"2026-10-30T16:00:00.000000Z"}
    done = rollup(engine, "2026-11-01T16:00:00")  # midnight: 1 November is over and rolled up, with no new sample
    assert (done.hours, done.days) == (0, 1)
    daily = rows(engine, usage_daily)
    october = daily[("s1", "cpu_percent", "2026-10-30T16:00:00.000000Z")]
    november = daily[("s1", "cpu_percent", "2026-10-31T16:00:00.000000Z")]
    assert figures(october) == (40.0, 70.0, 10.0, 3, 0, 0, 0)  # (10 + 2 x 55) / 3, not the mean of hours 32.5
    assert figures(november) == (90.0, 90.0, 90.0, 1, 1, 1, 1)


def test_a_closed_day_sums_each_servers_writes_and_network_in_one_row(engine: Engine) -> None:
    """What the idle rules read of a day: per server its project, its writes (the day's mean) and its network
    traffic, received plus sent; a server whose writes and network were never measured says so (NULL, 0 measured);
    per project the same added up over its servers. Rolling up again (late samples) replaces the day's rows;
    retention removes them with the daily rollups."""
    day = "2026-10-31T0"  # 31 October in Beijing (UTC+8): 08:00-15:59Z of it here
    write(
        engine,
        sample("s1", "disk_write_bytes_per_s", f"{day}2:00:00", 100, project="p-a"),
        sample("s1", "disk_write_bytes_per_s", f"{day}3:00:00", 300, project="p-a"),
        sample("s1", "net_rx_bytes_per_s", f"{day}2:00:00", 40, project="p-a"),
        sample("s1", "net_tx_bytes_per_s", f"{day}2:00:00", 2, project="p-a"),
        sample("s2", "cpu_percent", f"{day}2:00:00", 10, project="p-b"),
    )
    rollup(engine, "2026-11-01T00:00:00")
    with engine.connect() as conn:
        found = {r.scope_id: r for r in conn.execute(select(usage_days))}
    period = "2026-10-30T16:00:00.000000Z"
    assert {k: (r.period, r.group_id, r.writes, r.network, r.measured) for k, r in found.items()} == {
        "s1": (period, "p-a", 200.0, 42.0, 3),
        "s2": (period, "p-b", None, None, 0),
    }
    assert group_days(engine) == {"p-a": (period, 200.0, 42.0, 3), "p-b": (period, None, None, 0)}
    write(engine, sample("s2", "net_tx_bytes_per_s", f"{day}4:00:00", 7, project="p-b"))
    rollup(engine, "2026-11-01T00:00:00")
    with engine.connect() as conn:
        s2 = conn.execute(select(usage_days).where(usage_days.c.scope_id == "s2")).one()
    assert (s2.network, s2.measured) == (7.0, 1)
    write(engine, sample("s3", "disk_write_bytes_per_s", f"{day}5:00:00", 50, project="p-a"))  # a second in p-a
    rollup(engine, "2026-11-01T00:00:00")
    assert group_days(engine) == {"p-a": (period, 250.0, 42.0, 4), "p-b": (period, None, 7.0, 1)}
    with engine.begin() as conn:
        apply_retention(conn, at("2026-10-31T00:00:00") + dt.timedelta(days=1101), UsageSettings())
        assert conn.execute(select(usage_days)).all() == []
    assert group_days(engine) == {}


def group_days(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(usage_group_days)).all()
    return {r.group_id: (r.period, r.writes, r.network, r.measured) for r in rows}


def test_not_before_keeps_rollups_whose_raw_samples_are_gone(engine: Engine) -> None:
    """A straggler for an hour older than the raw retention does not replace that hour's full rollup."""
    write(engine, *(sample("s1", "cpu_percent", f"2026-11-01T02:{m:02d}:00", 30) for m in range(0, 60, 5)))
    rollup(engine, "2026-11-01T03:00:00")
    with engine.begin() as conn:
        conn.execute(usage_samples.delete())  # retention took them
    write(engine, sample("s1", "cpu_percent", "2026-11-01T02:30:00", 100))
    done = rollup(engine, "2026-11-20T03:00:00", not_before="2026-11-06T03:00:00")
    assert done.hours == 0
    assert rows(engine, usage_hourly)[("s1", "cpu_percent", "2026-11-01T02:00:00.000000Z")]["n"] == 12


def test_retention_cuts_each_tier_at_its_own_age(engine: Engine) -> None:
    """Raw samples older than raw_days go, one exactly at the cut stays; hourly rollups stay 400 days and daily 1100
    days, so a year's monthly reports can be rebuilt after the raw samples are gone."""
    now = at("2026-11-20T02:00:00")
    cut = now - dt.timedelta(days=14)
    write(
        engine,
        sample("old", "cpu_percent", (cut - dt.timedelta(microseconds=1)).isoformat()[:26], 10),
        sample("edge", "cpu_percent", cut.isoformat()[:19], 20),
        sample("year", "cpu_percent", (now - dt.timedelta(days=399, hours=1)).isoformat()[:19], 30),
        sample("gone", "cpu_percent", (now - dt.timedelta(days=401)).isoformat()[:19], 40),
    )
    rollup(engine, now.isoformat()[:19])
    with engine.begin() as conn:
        removed = apply_retention(conn, now, UsageSettings())
    assert (removed.samples, removed.hourly, removed.daily) == (3, 1, 0)
    with engine.connect() as conn:
        left = {r.scope_id for r in conn.execute(select(usage_samples.c.scope_id))}
    assert left == {"edge"}
    assert {k[0] for k in rows(engine, usage_hourly)} == {"old", "edge", "year"}
    assert {k[0] for k in rows(engine, usage_daily)} == {"old", "edge", "year", "gone"}
    with engine.begin() as conn:
        later = apply_retention(conn, now + dt.timedelta(days=700), UsageSettings())
    assert (later.hourly, later.daily) == (3, 1)  # 700 days on, the days are still there but the 1100th
    assert {k[0] for k in rows(engine, usage_daily)} == {"old", "edge", "year"}


def test_retention_in_short_steps_removes_the_same(engine: Engine) -> None:
    """In steps of at most 10 minutes of samples, oldest first, each its own transaction, retention ends where one
    transaction would have: everything before the cut gone, the rest kept."""
    now = at("2026-11-20T02:00:00")
    old = [sample("s1", "cpu_percent", f"2026-11-05T0{h}:{m:02d}:00", 10) for h in (0, 1) for m in range(0, 60, 5)]
    write(engine, *old, sample("s1", "cpu_percent", "2026-11-06T02:00:00", 20))
    with engine.begin() as conn:
        first = apply_retention(conn, now, UsageSettings(), max_span=dt.timedelta(minutes=10))
    assert (first.samples, first.complete) == (2, False)  # 00:00 and 00:05
    rest = retention_steps(engine.begin, now, UsageSettings())
    assert rest.samples == 22
    with engine.connect() as conn:
        assert [r.time for r in conn.execute(select(usage_samples.c.time))] == ["2026-11-06T02:00:00.000000Z"]
