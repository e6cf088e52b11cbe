"""The rules' questions asked of many selections at once (what the monthly evaluation does) give each selection the
figures it gets asked alone, on SQLite and PostgreSQL: systems by project (weighted, added up, a server that moved
between projects, one without a capacity, one with nothing measured), single servers, several servers, selections
picking by both or by nothing; windows answered from the hourly rollups (hours, whole UTC+8 days) and the daily
ones; in one query or in many small chunks; consecutive windows (a month's weeks) together or one by one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from usage_data import CLOUD, at, sample, write

from controlplane.audit.chain import format_time
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import usage_daily, usage_days, usage_hourly
from controlplane.usage import UsageSample
from controlplane.usage_batches import (
    batches,
    hours_above_each,
    hours_above_each_window,
    kind_hours_each,
    kind_summaries_each,
    no_summary,
    scopes_seen,
    summaries,
    summaries_each,
)
from controlplane.usage_query import (
    Selection,
    Window,
    hours_above,
    summary,
)
from controlplane.usage_rollup import HOT_K, roll_up

METRICS = ("cpu_percent", "vcpus", "memory_percent", "disk_used_bytes", "disk_percent")
SELECTIONS = (
    Selection(CLOUD, "server", group_ids=("p-1",)),
    Selection(CLOUD, "server", group_ids=("p-1", "p-2")),
    Selection(CLOUD, "server", group_ids=("p-none",)),
    *(Selection.scope(CLOUD, "server", s) for s in ("a", "b", "c", "d", "x", "nobody")),
    Selection(CLOUD, "server", scope_ids=("a", "b", "x")),
    Selection(CLOUD, "server", scope_ids=("c",), group_ids=("p-2",)),  # by both: answered alone
    Selection(CLOUD, "server"),  # nothing
    Selection("other-cloud", "server", group_ids=("p-1",)),
)
WINDOWS = (
    Window(at("2026-11-20T01:00:00"), at("2026-11-21T20:00:00")),  # hours
    Window.days(dt.date(2026, 11, 20), dt.date(2026, 11, 22)),  # whole UTC+8 days
    Window.days(dt.date(2026, 11, 21), dt.date(2026, 11, 22)),  # one day
    Window.days(dt.date(2026, 11, 1), dt.date(2026, 12, 1)),  # the month
)


def hour(server: str, metric: str, start: str, *values: float | None, **how: Any) -> list[UsageSample]:
    """One sample per 5 minutes from ``start`` (e.g. 2026-11-20T15), these values."""
    return [sample(server, metric, f"{start}:{5 * i:02d}:00", v, **how) for i, v in enumerate(values)]


def samples() -> list[UsageSample]:
    found: list[UsageSample] = []
    for start in ("2026-11-20T02", "2026-11-20T15", "2026-11-20T16", "2026-11-21T09", "2026-11-21T15"):
        found += [
            *hour("a", "cpu_percent", start, 10, 12, 14),
            *hour("a", "vcpus", start, 2),
            *hour("a", "memory_percent", start, 85, 90, 70, 81),
            *hour("a", "disk_used_bytes", start, 1e9, 2e9),
            *hour("b", "cpu_percent", start, 40, 60, None),
            sample("b", "cpu_percent", f"{start}:55:00", 55, estimated=True),
            *hour("b", "vcpus", start, 6),
            *hour("b", "memory_percent", start, 20, 95),
            *hour("c", "cpu_percent", start, 30),  # no vcpus: cannot be weighed
            *hour("d", "cpu_percent", start, None, None),  # nothing measured
            *hour("d", "vcpus", start, 4),
        ]
    # x belongs to p-2, but its first hours were in p-1 (moved between projects)
    found += hour("x", "cpu_percent", "2026-11-20T02", 99, project="p-1")
    found += hour("x", "vcpus", "2026-11-20T02", 64, project="p-1")
    for start in ("2026-11-20T16", "2026-11-21T15"):
        found += hour("x", "cpu_percent", start, 70, 80, project="p-2")
        found += hour("x", "vcpus", start, 64, project="p-2")
        found += hour("x", "disk_used_bytes", start, 5e9, project="p-2")
        found += hour("x", "memory_percent", start, 99, 99, 99, project="p-2")
    found += hour("b", "disk_used_bytes", "2026-11-21T09", 7e9)
    return found


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    write(engine, *samples())
    yield engine
    engine.dispose()


def figures(got: Any) -> tuple[Any, ...]:
    """A dataclass's fields, floats rounded (the sums may be added up in another order)."""
    return tuple(round(v, 6) if isinstance(v, float) else v for v in dataclasses.astuple(got))


def check_all(engine: Engine, selections: tuple[Selection, ...] = SELECTIONS) -> None:
    with engine.connect() as conn:
        for window in WINDOWS:
            together = summaries(conn, selections, METRICS, window)
            assert set(together) == set(selections)
            for selection in selections:
                for metric in METRICS:
                    alone = summary(conn, selection, metric, window)
                    assert figures(together[selection][metric]) == figures(alone), (selection, metric, window)
            for k in (1, HOT_K):  # HOT_K: a single server's hours over closed days come from the daily rollups
                hours = hours_above_each(conn, selections, "memory_percent", window, k)
                assert {s: figures(h) for s, h in hours.items()} == {
                    s: figures(hours_above(conn, s, "memory_percent", window, k)) for s in selections
                }, k
            for t in (usage_hourly, usage_daily, usage_days):
                seen = scopes_seen(conn, t, selections, window)
                for selection in selections:
                    query = t.select().with_only_columns(t.c.scope_id).where(selection.where(t))
                    query = query.where(t.c.period >= format_time(window.start), t.c.period < format_time(window.end))
                    assert seen.get(selection, set()) == set(conn.execute(query).scalars()), (selection, t.name)
    # consecutive days (as a month's weeks): together, each window's figures as asked window by window; servers
    # alone (read together over closed days) and among the other selections
    days = [Window.days(dt.date(2026, 11, d), dt.date(2026, 11, d + 1)) for d in (19, 20, 21)]
    servers = tuple(s for s in selections if len(s.scope_ids) == 1 and not s.group_ids)
    with engine.connect() as conn:
        kind = kind_summaries_each(conn, CLOUD, "server", METRICS, days)
        if kind is not None:  # closed days: each server there, as asked by name; one not there has nothing
            named = summaries_each(conn, servers, METRICS, days)
            for one_kind, one_named in zip(kind, named, strict=True):
                for server in servers:
                    got = one_kind.get(server, {m: no_summary(m) for m in METRICS})
                    assert {m: figures(f) for m, f in got.items()} == {
                        m: figures(f) for m, f in one_named[server].items()
                    }, server
        for chosen in (selections, servers):
            each = summaries_each(conn, chosen, METRICS, days)
            assert [{s: {m: figures(f) for m, f in got.items()} for s, got in one.items()} for one in each] == [
                {s: {m: figures(f) for m, f in got.items()} for s, got in summaries(conn, chosen, METRICS, d).items()}
                for d in days
            ]
            for k in (1, HOT_K):
                hours = hours_above_each_window(conn, chosen, "memory_percent", days, k)
                if chosen is servers and k == HOT_K:  # every server of the kind, not named: the same for those there
                    kind_hours = kind_hours_each(conn, CLOUD, "server", "memory_percent", days, k=k)
                    assert (kind_hours is None) == (kind is None)  # both for closed days only
                    assert [{s: figures(h) for s, h in one.items() if s in servers} for one in kind_hours or ()] == [
                        {s: figures(h) for s, h in one.items() if h.hours_with_data} for one in hours if kind_hours
                    ]
                assert [{s: figures(h) for s, h in one.items()} for one in hours] == [
                    {s: figures(h) for s, h in hours_above_each(conn, chosen, "memory_percent", d, k).items()}
                    for d in days
                ], k


def test_many_selections_get_the_figures_each_gets_alone_hourly_and_daily(engine: Engine) -> None:
    """Before the days are closed every window is answered from the hourly rollups (whole days counting UTC+8
    days), after it whole days from the daily ones: either way each selection's figures are its own."""
    with engine.begin() as conn:
        roll_up(conn, at("2026-11-21T12:00:00"))  # 11-20 (UTC+8) closed, 11-21 not
    check_all(engine)
    with engine.begin() as conn:
        roll_up(conn, at("2026-12-02T00:00:00"))
    check_all(engine)
    with engine.connect() as conn:  # the days closed: every server's figures can be read without naming them
        assert kind_summaries_each(conn, CLOUD, "server", METRICS, [WINDOWS[1], WINDOWS[2]]) is None  # overlapping
        assert kind_summaries_each(conn, CLOUD, "server", METRICS, [WINDOWS[1], WINDOWS[1]]) is None
        days = [Window.days(dt.date(2026, 11, 20), dt.date(2026, 11, 21)), WINDOWS[2]]
        assert kind_summaries_each(conn, CLOUD, "server", METRICS, days) is not None
    hourly = Selection(CLOUD, "server", group_ids=("p-1",))
    with engine.connect() as conn:
        got = summaries(conn, [hourly], ["cpu_percent"], WINDOWS[1])[hourly]["cpu_percent"]
    assert (got.resolution, got.scopes, got.periods, got.unweighted) == (
        "day",
        5,
        2,
        1,
    )  # a, b, c (no vcpus), d, x (then in p-1)


def test_chunks_of_a_few_ids_give_the_same_figures(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for only a couple of ids per query, the selections are spread over many queries, unchanged."""
    with engine.begin() as conn:
        roll_up(conn, at("2026-12-02T00:00:00"))
    monkeypatch.setattr("controlplane.usage_batches.BATCH", 2)
    check_all(engine)


# each selection one id no other has: matched by ``IN`` / ``= ANY`` and told apart by the id, not by a VALUES list
DIRECT = (
    *(Selection.scope(CLOUD, "server", s) for s in ("a", "b", "c", "d", "x", "nobody")),
    Selection(CLOUD, "server", group_ids=("p-1",)),
    Selection(CLOUD, "server", group_ids=("p-2",)),
    Selection(CLOUD, "server", group_ids=("p-none",)),
)


def test_selections_of_one_id_each_are_matched_by_the_ids(engine: Engine) -> None:
    """Selections of one id each are asked by the ids themselves (every batch ``direct``), with the same figures,
    before and after the days are closed; a batch where an id is two selections' is not."""
    found, alone = batches(DIRECT)
    assert not alone
    assert [(b.by, b.direct) for b in found] == [("scope_id", True), ("group_id", True)]
    assert [b.direct for b in batches(SELECTIONS)[0]] == [False, False, True]  # p-1 twice; a in (a, b, x); other cloud
    with engine.begin() as conn:
        roll_up(conn, at("2026-11-21T12:00:00"))
    check_all(engine, DIRECT)
    with engine.begin() as conn:
        roll_up(conn, at("2026-12-02T00:00:00"))
    check_all(engine, DIRECT)


def test_hours_above_80_of_closed_days_come_from_the_daily_rollups(engine: Engine) -> None:
    """Once the days are closed, a server's hours with >= 3 samples above 80% (Bozhou 26) are the daily rollups'
    hour counts: the figures its hourly rollups give (first and last hot hour included), still there once the hourly
    rows are gone; days rolled up before the counts existed (NULL) are read from their hours."""
    servers = [Selection.scope(CLOUD, "server", s) for s in ("a", "b", "x", "nobody")]
    days = WINDOWS[1]  # 11-20 and 11-21 (UTC+8): closed, the newest days rolled up
    with engine.begin() as conn:
        roll_up(conn, at("2026-12-02T00:00:00"))
    with engine.connect() as conn:
        hourly = {s: hours_above(conn, s, "memory_percent", days, HOT_K) for s in servers}
    assert [(h.hours, h.scopes, h.hours_with_data) for h in hourly.values()] == [
        (5, 1, 5),
        (0, 0, 5),
        (2, 1, 2),
        (0, 0, 0),
    ]
    assert hourly[servers[0]].first == at("2026-11-20T02:00:00")
    assert hourly[servers[0]].last == at("2026-11-21T15:00:00")
    with engine.begin() as conn:  # as the first day had been rolled up before migration 0015: its hours answer
        first_day = format_time(Window.days(dt.date(2026, 11, 20), dt.date(2026, 11, 21)).start)
        conn.execute(usage_daily.update().where(usage_daily.c.period == first_day).values(hours=None))
        assert hours_above_each(conn, servers, "memory_percent", days, HOT_K) == hourly
        conn.rollback()
    with engine.begin() as conn:  # the hourly rollups gone (as retention deletes them): the daily ones answer alone
        conn.execute(usage_hourly.delete())
        assert hours_above_each(conn, servers, "memory_percent", days, HOT_K) == hourly
