"""The questions of ``usage_query`` asked of many selections at once, for the monthly evaluation: asked one selection
at a time that is about 20 queries a server. Here each window takes one query (per chunk of ``BATCH`` matched ids).
When every selection of a chunk is one id of its own (a server, a system of one project) the rows are picked by
``column IN (...)`` (``= ANY(array)`` on PostgreSQL), one bound parameter that the statement cache keeps compiled, and
grouped by that id; otherwise the selections' scope or group ids are a VALUES list ``sel(k, v)`` joined to the rollups
(compiled anew each time: 10,000 rows took seconds) and the rows are grouped by selection. Each selection gets the
figures ``summary``, ``hours_above`` and the scope listing give it alone (tests/integration/test_usage_batches.py
compares them on SQLite and PostgreSQL); a selection that picks by both scope and group ids, or by nothing, is
answered alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    column,
    distinct,
    func,
    literal,
    select,
    true,
    values,
)

from controlplane.audit.chain import format_time, parse_time
from controlplane.store.tables import usage_daily, usage_hourly
from controlplane.usage_query import (
    WEIGHTS,
    PeakHours,
    Selection,
    Summary,
    Window,
    hours_above,
    number,
    rollups_for,
    scope_figures,
    summary,
    within,
)
from controlplane.usage_rollup import HOT_K

BATCH = 15_000  # ids matched per query: two bound parameters each (SQLite allows 32,766); on PostgreSQL each
# chunk scans the whole window once, so fewer, larger chunks


def _match(selection: Selection) -> tuple[str, tuple[str, ...]] | None:
    """Which column a selection is matched on in a batch, and the values; None for one picking by both (answered
    alone)."""
    if selection.scope_ids and not selection.group_ids:
        return "scope_id", tuple(sorted(set(selection.scope_ids)))
    if selection.group_ids and not selection.scope_ids:
        return "group_id", tuple(sorted(set(selection.group_ids)))
    return None


@dataclass(frozen=True)
class Batch:
    """Selections of one cloud and kind matched on the same column, answered by one query."""

    cloud: str
    scope_kind: str
    by: str  # the column matched: scope_id or group_id
    selections: tuple[Selection, ...]
    pairs: tuple[tuple[int, str], ...]  # (index in selections, value)

    @property
    def single(self) -> bool:
        """Every selection is one scope: no weighing, no adding up."""
        return self.by == "scope_id" and len(self.pairs) == len(self.selections)

    @cached_property
    def direct(self) -> bool:
        """Every selection is one value no other selection has: the rows are told apart by the value itself."""
        return len(self.pairs) == len(self.selections) and len({v for _, v in self.pairs}) == len(self.pairs)

    def matched(self, conn: Connection, t: Table) -> tuple[ColumnElement[Any], FromClause, ColumnElement[bool]]:
        """What tells the selections' rows of ``t`` apart (``key``: the value, or ``k`` the index in ``selections``
        of a VALUES list ``sel(k, v)``; ``index`` makes either the index), what to select them from, and the
        condition picking them."""
        kind: ColumnElement[bool] = t.c.scope_kind == self.scope_kind
        if self.by == "group_id":
            # matched on the group, the rows are found by the (cloud, group_id, ...) index; given scope_kind as it
            # is, SQLite would rather walk the primary key's (cloud, scope_kind) prefix: every row, per selection
            kind = (t.c.scope_kind + "") == self.scope_kind
        own = and_(t.c.cloud == self.cloud, kind)
        col = t.c[self.by]
        if self.direct:
            ids = [v for _, v in self.pairs]
            if conn.dialect.name == "postgresql":
                return col, t, and_(own, col == any_(bindparam(None, ids, type_=ARRAY(String))))
            return col, t, and_(own, col.in_(bindparam(None, ids, expanding=True)))
        sel = values(column("k", Integer), column("v", String), name="sel").data(list(self.pairs)).cte("sel")
        return sel.c.k, sel.join(t, and_(own, col == sel.c.v)), true()

    def index(self, key: Any) -> int:
        """The index in ``selections`` of a row's ``key`` (see ``matched``)."""
        return self._positions[key] if self.direct else int(key)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {v: i for i, v in self.pairs}

    def subset(self, picked: Iterable[int]) -> Batch:
        """The batch of only the selections at these indexes (renumbered in that order)."""
        values: dict[int, list[str]] = {}
        for i, v in self.pairs:
            values.setdefault(i, []).append(v)
        chunk = [(self.selections[i], tuple(values.get(i, ()))) for i in picked]
        return _chunk(self.cloud, self.scope_kind, self.by, chunk)


def batches(selections: Iterable[Selection]) -> tuple[list[Batch], list[Selection]]:
    """The selections (each once) grouped by cloud, kind and matched column, in chunks of at most BATCH values; and
    those that must be answered one by one (picking by both scope and group ids, or by nothing)."""
    groups: dict[tuple[str, str, str], list[tuple[Selection, tuple[str, ...]]]] = {}
    alone: list[Selection] = []
    for selection in dict.fromkeys(selections):
        how = _match(selection)
        if how is None:
            alone.append(selection)
        else:
            groups.setdefault((selection.cloud, selection.scope_kind, how[0]), []).append((selection, how[1]))
    found: list[Batch] = []
    for (cloud, kind, by), members in groups.items():
        chunk: list[tuple[Selection, tuple[str, ...]]] = []
        size = 0  # values in the chunk
        for item in members:
            if chunk and size + len(item[1]) > BATCH:
                found.append(_chunk(cloud, kind, by, chunk))
                chunk, size = [], 0
            chunk.append(item)
            size += len(item[1])
        found.append(_chunk(cloud, kind, by, chunk))
    return found, alone


def _chunk(cloud: str, kind: str, by: str, chunk: list[tuple[Selection, tuple[str, ...]]]) -> Batch:
    pairs = tuple((i, v) for i, (_, vs) in enumerate(chunk) for v in vs)
    return Batch(cloud, kind, by, tuple(s for s, _ in chunk), pairs)


def _day_of(period: ColumnElement[Any], window: Window) -> ColumnElement[Any]:
    """The index of the UTC+8 day of the window an hourly period falls in (the window is of whole days)."""
    days = round((window.end - window.start).total_seconds() / 86400)
    bounds = [format_time(window.start + dt.timedelta(days=i)) for i in range(1, days)]
    if not bounds:
        return literal(0)
    return case(*((period < b, i) for i, b in enumerate(bounds)), else_=len(bounds))


@dataclass
class _Part:
    """One scope's rows of one metric in a window."""

    mean: float | None
    max: float | None
    min: float | None
    n: int
    est: int
    miss: int


def summaries(
    conn: Connection, selections: Iterable[Selection], metrics: Iterable[str], window: Window
) -> dict[Selection, dict[str, Summary]]:
    """``summary`` of each metric for each selection, the same figures, in a few queries for all of them."""
    wanted = sorted(set(metrics))
    t, resolution = rollups_for(conn, window)
    days = t is usage_hourly and window.whole_days  # periods counts the UTC+8 days of the hours
    batched, alone = batches(selections)
    found: dict[Selection, dict[str, Summary]] = {s: {m: summary(conn, s, m, window) for m in wanted} for s in alone}
    for batch in batched:
        fetched = sorted({*wanted, *(() if batch.single else (WEIGHTS[m] for m in wanted if m in WEIGHTS))})
        parts, counts = _parts(conn, t, window, batch, fetched, days=days)
        totals = counts if batch.single else _totals(conn, t, window, batch, wanted, days=days)
        for i, selection in enumerate(batch.selections):
            found[selection] = {m: _combined(m, i, parts, totals.get((i, m)), resolution) for m in wanted}
    return found


_Parts = dict[tuple[int, str], dict[str, _Part]]  # (selection index, metric) -> scope -> figures
_Counts = dict[tuple[int, str], tuple[int, None, None]]  # (selection index, metric) -> periods


def _parts(
    conn: Connection, t: Table, window: Window, batch: Batch, metrics: Sequence[str], *, days: bool
) -> tuple[_Parts, _Counts]:
    """Per selection, metric and scope: the scope's figures; and (for selections of one scope) the periods."""
    return _parts_each(conn, t, [window], batch, metrics, days=days)[0]


def _parts_each(
    conn: Connection, t: Table, windows: Sequence[Window], batch: Batch, metrics: Sequence[str], *, days: bool
) -> list[tuple[_Parts, _Counts]]:
    """``_parts`` of each of consecutive windows, in one query: the rows of their span grouped by window too."""
    found: list[tuple[_Parts, _Counts]] = [({}, {}) for _ in windows]
    for r in conn.execute(_parts_query(conn, t, windows, batch, metrics, days=days)):
        parts, counts = found[r.w]
        k = batch.index(r.k)
        part = _Part(number(r.mean), number(r.max), number(r.min), int(r.n), int(r.est), int(r.miss))
        parts.setdefault((k, r.metric), {})[r.scope_id] = part
        counts[k, r.metric] = (int(r.periods), None, None)
    return found


def _parts_query(
    conn: Connection, t: Table, windows: Sequence[Window], batch: Batch, metrics: Sequence[str], *, days: bool
) -> Select[Any]:
    """Per selection (``k``), metric, scope and window (``w``, the index in ``windows``): the scope's figures."""
    return _figures_query(t, windows, batch.matched(conn, t), metrics, days=days, single=batch.single)


def _figures_query(
    t: Table,
    windows: Sequence[Window],
    matched: tuple[ColumnElement[Any], FromClause, ColumnElement[bool]],
    metrics: Sequence[str],
    *,
    days: bool,
    single: bool,
) -> Select[Any]:
    """The query of ``_parts_query`` for rows told apart, found and picked as ``matched`` says (``Batch.matched``)."""
    key, source, picked = matched
    span = Window(windows[0].start, windows[-1].end)
    periods = func.count(distinct(_day_of(t.c.period, windows[0]))) if days else func.count()
    # which window a row falls in: the first whose end is after its period
    which = case(*((t.c.period < format_time(w.end), i) for i, w in enumerate(windows[:-1])), else_=len(windows) - 1)
    return (
        select(
            key.label("k"),
            t.c.metric,
            t.c.scope_id,
            (which if len(windows) > 1 else literal(0)).label("w"),
            *scope_figures(t),
            (periods if single else func.count()).label("periods"),
        )
        .select_from(source)
        .where(picked, t.c.metric.in_(metrics), within(t, span))
        .group_by(key, t.c.metric, t.c.scope_id, *((which,) if len(windows) > 1 else ()))
    )


def summaries_each(
    conn: Connection, selections: Sequence[Selection], metrics: Iterable[str], windows: Sequence[Window]
) -> list[dict[Selection, dict[str, Summary]]]:
    """``summaries`` for each of the windows (in their order), the same figures. Consecutive windows of closed days
    (a month's weeks) are read together for the selections of one scope each (servers): one query over their span,
    grouped by window, not one a window (each of which looked up every server again); other selections and windows
    are asked window by window."""
    together = _closed_run(conn, windows)
    if not together:
        return [summaries(conn, selections, metrics, w) for w in windows]
    wanted = sorted(set(metrics))
    batched, alone = batches(selections)
    single = [b for b in batched if b.single]
    rest = [s for b in batched if not b.single for s in b.selections] + alone
    found = [summaries(conn, rest, wanted, w) if rest else {} for w in windows]
    # one scope a selection: each row is a selection's own figures (what ``_combined`` makes of one scope), and a
    # selection without rows has none (what it makes of no scope)
    nothing = {m: no_summary(m) for m in wanted}
    for batch in single:
        own = [[dict(nothing) for _ in batch.selections] for _ in windows]
        for r in conn.execute(_parts_query(conn, usage_daily, windows, batch, wanted, days=False)):
            own[r.w][batch.index(r.k)][r.metric] = _own_summary(r)
        for into, figures in zip(found, own, strict=True):
            into.update(zip(batch.selections, figures, strict=True))
    return found


def _own_summary(r: Any) -> Summary:
    """A row of ``_figures_query`` over daily rollups for one scope: that scope's summary (what ``_combined`` makes of
    one scope)."""
    return Summary(
        r.metric, number(r.mean), number(r.max), number(r.min), int(r.n), int(r.est), int(r.miss), 1,
        int(r.periods), 0, "day",
    )  # fmt: skip


def no_summary(metric: str) -> Summary:
    """What ``summary`` says of a selection with no rollup of ``metric`` in a window of closed days."""
    return Summary(metric, None, None, None, 0, 0, 0, 0, 0, 0, "day")


def kind_summaries_each(
    conn: Connection, cloud: str, kind: str, metrics: Iterable[str], windows: Sequence[Window]
) -> list[dict[Selection, dict[str, Summary]]] | None:
    """``summaries_each`` of every scope of ``kind`` in ``cloud`` with rollups in the windows, each its own selection
    (``Selection.scope``), read without naming them (what the monthly evaluation asks of every server before it has
    listed them); a scope not there has none in that window (``no_summary``). Only over consecutive windows of closed
    days: None otherwise."""
    if not _closed_run(conn, windows):
        return None
    t, wanted = usage_daily, sorted(set(metrics))
    every = and_(t.c.cloud == cloud, t.c.scope_kind == kind)
    query = _figures_query(t, windows, (t.c.scope_id, t, every), wanted, days=False, single=True)
    nothing = {m: no_summary(m) for m in wanted}
    found: list[dict[Selection, dict[str, Summary]]] = [{} for _ in windows]
    scopes: dict[str, Selection] = {}
    for r in conn.execute(query):
        selection = scopes.get(r.k) or scopes.setdefault(r.k, Selection.scope(cloud, kind, r.k))
        figures = found[r.w].get(selection) or found[r.w].setdefault(selection, dict(nothing))
        figures[r.metric] = _own_summary(r)
    return found


def kind_hours_each(
    conn: Connection, cloud: str, kind: str, metric: str, windows: Sequence[Window], *, k: int
) -> list[dict[Selection, PeakHours]] | None:
    """``hours_above_each_window`` of every scope of ``kind`` in ``cloud`` with rollups in the windows (as
    ``kind_summaries_each``); a scope not there had no such hour. Only over consecutive windows of closed days with
    ``k`` = ``HOT_K`` (None otherwise); a scope with days rolled up before their hour counts were kept is read from its
    hours in the windows where it has such days."""
    if k != HOT_K or not _closed_run(conn, windows):
        return None
    d = usage_daily
    query = _hot_query(d.c.scope_id, d, and_(d.c.cloud == cloud, d.c.scope_kind == kind), metric, windows)
    found: list[dict[Selection, PeakHours]] = [{} for _ in windows]
    left: list[list[Selection]] = [[] for _ in windows]
    for row in conn.execute(query):
        selection = Selection.scope(cloud, kind, row[0])
        if row[7]:  # a day without the counts: its hours answer
            left[row[1]].append(selection)
        else:
            found[row[1]][selection] = _peak_hours((row[0], *row[2:]))
    for window, into, hourly in zip(windows, found, left, strict=True):
        if hourly:
            into.update(hours_above_each(conn, hourly, metric, window, k))
    return found


def _closed_run(conn: Connection, windows: Sequence[Window]) -> bool:
    """Several consecutive windows of whole days, all of them closed into daily rollups."""
    if len(windows) < 2 or any(a.end != b.start for a, b in pairwise(windows)):
        return False
    span = Window(windows[0].start, windows[-1].end)
    return all(w.whole_days for w in windows) and rollups_for(conn, span)[0] is usage_daily


def _totals(
    conn: Connection, t: Table, window: Window, batch: Batch, metrics: Sequence[str], *, days: bool
) -> dict[tuple[int, str], tuple[int, float | None, float | None]]:
    """Per selection and metric: the periods (or UTC+8 days) with rollups, and the highest and lowest total of one
    period's means (what a sum of scopes' absolute figures peaked at)."""
    key, source, picked = batch.matched(conn, t)
    per_period = (
        select(key.label("k"), t.c.metric, t.c.period, func.sum(t.c.mean).label("total"))
        .select_from(source)
        .where(picked, t.c.metric.in_(metrics), within(t, window))
        .group_by(key, t.c.metric, t.c.period)
        .subquery()
    )
    p = per_period.c
    periods = func.count(distinct(_day_of(p.period, window))) if days else func.count()
    query = select(p.k, p.metric, periods, func.max(p.total), func.min(p.total)).group_by(p.k, p.metric)
    return {(batch.index(r[0]), r[1]): (int(r[2]), number(r[3]), number(r[4])) for r in conn.execute(query)}


def _combined(
    metric: str,
    k: int,
    parts: dict[tuple[int, str], dict[str, _Part]],
    totals: tuple[int, float | None, float | None] | None,
    resolution: str,
) -> Summary:
    """What ``summary`` makes of selection ``k``'s scopes' figures: one scope's own; several weighted by capacity
    (percent metrics) or added up."""
    scopes = parts.get((k, metric), {})
    periods, high_total, low_total = totals or (0, None, None)
    if len(scopes) == 1:  # one scope (a server): its own figures (~70,000 of them in a month's weekly rules)
        (p,) = scopes.values()
        return Summary(metric, p.mean, p.max, p.min, p.n, p.est, p.miss, 1, periods, 0, resolution)
    ones = list(scopes.values())
    means = [p.mean for p in ones if p.mean is not None]
    high = max((p.max for p in ones if p.max is not None), default=None)
    low = min((p.min for p in ones if p.min is not None), default=None)
    weight_metric = WEIGHTS.get(metric)
    mean: float | None
    unweighted = 0
    if len(ones) == 1:
        mean = ones[0].mean
    elif weight_metric is not None:
        weights = parts.get((k, weight_metric), {})
        usable = [(p.mean, w) for s, p in scopes.items() if p.mean is not None and (w := _weight(weights, s))]
        unweighted = len(means) - len(usable)
        mean = sum(m * w for m, w in usable) / sum(w for _, w in usable) if usable else None
    else:
        mean = sum(means) if means else None
        if len(ones) > 1:
            high, low = high_total, low_total
    return Summary(
        metric=metric,
        mean=mean,
        max=high,
        min=low,
        samples=sum(p.n for p in ones),
        estimated=sum(p.est for p in ones),
        missing=sum(p.miss for p in ones),
        scopes=len(ones),
        periods=periods,
        unweighted=unweighted,
        resolution=resolution,
    )


def _weight(weights: dict[str, _Part], scope: str) -> float:
    """A scope's capacity to weigh it by; 0 when it has none (it is left out)."""
    part = weights.get(scope)
    return part.mean if part is not None and part.mean is not None and part.mean > 0 else 0.0


def hours_above_each(
    conn: Connection, selections: Iterable[Selection], metric: str, window: Window, k: int = 3
) -> dict[Selection, PeakHours]:
    """``hours_above`` for each selection, the same figures, in a few queries for all of them. Selections of one
    scope over a window of closed days are answered from the daily rollups' hour counts (k = ``HOT_K``: ~31 rows a
    month, not ~744); several scopes together (an hour counts once however many were hot in it) from the hourly."""
    if k < 1:
        raise ValueError("k counts samples above 80% in an hour: at least 1")
    t = usage_hourly
    batched, alone = batches(selections)
    found = {s: hours_above(conn, s, metric, window, k) for s in alone}
    hot = t.c.n_above_80 >= k
    closed = k == HOT_K and rollups_for(conn, window)[0] is usage_daily
    for whole in batched:
        batch: Batch | None = whole
        if closed and whole.single:  # whole days closed, one scope a selection: the daily rollups' hour counts
            batch = _hot_days(conn, whole, metric, window, found)
        if batch is None:
            continue
        key, source, picked = batch.matched(conn, t)
        counts: tuple[ColumnElement[Any], ...] = (
            func.count(distinct(case((hot, t.c.period)))),
            func.count(distinct(case((hot, t.c.scope_id)))),
            func.count(distinct(t.c.period)),
        )
        if batch.single:  # one scope a selection: a row per period, no DISTINCT (a sort per group on PostgreSQL)
            counts = (func.sum(case((hot, 1), else_=0)), func.max(case((hot, 1), else_=0)), func.count())
        query = (
            select(
                key,
                *counts,
                func.min(case((hot, t.c.period))),
                func.max(case((hot, t.c.period))),
            )
            .select_from(source)
            .where(picked, t.c.metric == metric, within(t, window))
            .group_by(key)
        )
        rows = {batch.index(r[0]): r for r in conn.execute(query)}
        for i, selection in enumerate(batch.selections):
            found[selection] = _peak_hours(rows.get(i))
    return found


def _peak_hours(row: Sequence[Any] | None) -> PeakHours:
    """A selection's row (key, hours, scopes, hours with data, first, last), or none: not one hour."""
    return PeakHours(
        hours=int(row[1]) if row else 0,
        scopes=int(row[2]) if row else 0,
        hours_with_data=int(row[3]) if row else 0,
        first=parse_time(row[4]) if row and row[4] else None,
        last=parse_time(row[5]) if row and row[5] else None,
    )


def _hot_days(
    conn: Connection, batch: Batch, metric: str, window: Window, found: dict[Selection, PeakHours]
) -> Batch | None:
    """``hours_above`` (k = ``HOT_K``) of a batch of one scope a selection over closed days, from the hour counts of
    the daily rollups (a scope's hours are its own: they add up); into ``found``. Returns the selections left to
    read from the hourly rollups (days rolled up before those counts existed), or None."""
    return _hot_days_each(conn, batch, metric, [window], [found])[0]


def _hot_days_each(
    conn: Connection, batch: Batch, metric: str, windows: Sequence[Window], found: Sequence[dict[Selection, PeakHours]]
) -> list[Batch | None]:
    """``_hot_days`` of each of consecutive windows (into ``found`` of the same index), in one query."""
    d = usage_daily
    key, source, picked = batch.matched(conn, d)
    rows: dict[tuple[int, int], Any] = {}
    for r in conn.execute(_hot_query(key, source, picked, metric, windows)):
        rows[r[1], batch.index(r[0])] = (r[0], *r[2:])
    lefts: list[Batch | None] = []
    for w, into in enumerate(found):
        left: list[int] = []
        for i, selection in enumerate(batch.selections):
            row = rows.get((w, i))
            if row is not None and row[6]:  # a day without the counts: its hours answer
                left.append(i)
            else:
                into[selection] = _peak_hours(row)
        lefts.append(batch.subset(left) if left else None)
    return lefts


def _hot_query(
    key: ColumnElement[Any], source: FromClause, picked: ColumnElement[bool], metric: str, windows: Sequence[Window]
) -> Select[Any]:
    """Per key and window (its index): the daily rollups' hour counts added up (see ``_peak_hours``), and how many
    days had none (rolled up before they were kept)."""
    d = usage_daily
    which = case(*((d.c.period < format_time(w.end), i) for i, w in enumerate(windows[:-1])), else_=len(windows) - 1)
    several = len(windows) > 1
    return (
        select(
            key,
            (which if several else literal(0)).label("w"),
            func.sum(d.c.hot_hours),
            func.max(case((d.c.hot_hours > 0, 1), else_=0)),
            func.sum(d.c.hours),
            func.min(d.c.first_hot_hour),
            func.max(d.c.last_hot_hour),
            func.count() - func.count(d.c.hours),
        )
        .select_from(source)
        .where(picked, d.c.metric == metric, within(d, Window(windows[0].start, windows[-1].end)))
        .group_by(key, *((which,) if several else ()))
    )


def hours_above_each_window(
    conn: Connection, selections: Sequence[Selection], metric: str, windows: Sequence[Window], k: int = 3
) -> list[dict[Selection, PeakHours]]:
    """``hours_above_each`` for each of the windows (in their order), the same figures. Consecutive windows of closed
    days are read together from the daily hour counts for the selections of one scope each (``summaries_each``)."""
    if k != HOT_K or not _closed_run(conn, windows):
        return [hours_above_each(conn, selections, metric, w, k) for w in windows]
    batched, alone = batches(selections)
    single = [b for b in batched if b.single]
    rest = [s for b in batched if not b.single for s in b.selections] + alone
    found = [hours_above_each(conn, rest, metric, w, k) if rest else {} for w in windows]
    for batch in single:
        for window, into, left in zip(windows, found, _hot_days_each(conn, batch, metric, windows, found), strict=True):
            if left is not None:  # days rolled up before the hour counts: from their hours
                into.update(hours_above_each(conn, left.selections, metric, window, k))
    return found


def scopes_seen(
    conn: Connection, t: Table, selections: Iterable[Selection], window: Window
) -> dict[Selection, set[str]]:
    """The scopes of each selection with any rollup in ``t`` (hourly or daily) in the window."""
    batched, alone = batches(selections)
    found: dict[Selection, set[str]] = {}
    for selection in alone:
        query = select(t.c.scope_id).distinct().where(selection.where(t), within(t, window))
        found[selection] = set(conn.execute(query).scalars())
    for batch in batched:
        key, source, picked = batch.matched(conn, t)
        query = select(key, t.c.scope_id).distinct().select_from(source).where(picked, within(t, window))
        for k, scope_id in conn.execute(query):
            found.setdefault(batch.selections[batch.index(k)], set()).add(scope_id)
    return found
