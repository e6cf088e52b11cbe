"""The questions the utilization rules ask of measured use, answered in SQL over the rollups (never over raw samples):
the mean of a metric over a window, for one scope or a whole system; a calendar month's and a week's mean (China
Standard Time); the peak; the hours in which a metric was above 80% at least K times (Bozhou 26).

Every answer says how much it rests on: samples with a value, how many of those were estimates, how many tries
found nothing (missing), how many scopes and periods, so the caller can refuse to judge on too little data.

A system's mean of a percent metric is weighted by allocation: each server's mean counts in proportion to its
capacity over the same window (CPU % by ``vcpus``, memory % by ``memory_total_bytes``, disk % by
``disk_total_bytes``), so a 6-vCPU server at 50% and a 2-vCPU one at 10% make 40%, not 30%. Absolute metrics (cores,
bytes) add up across scopes. A system's servers are the scopes of kind ``server`` whose group (their Nova project id)
is one of the system's project footprint refs on that cloud; its Kubernetes scopes are its namespaces.

Windows are [start, end) in UTC; a window of whole days in UTC+8 that ends by the last complete day rolled up is
answered from the daily rollups (kept longest), any other from the hourly ones: the figures are the same. Figures
are unit-free floats in the metric's own unit (percent 0-100, bytes, cores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, case, distinct, func, or_, select

from controlplane.audit.chain import format_time, parse_time
from controlplane.clock import CST
from controlplane.domain import FootprintKind
from controlplane.ledger.store import footprints
from controlplane.store.tables import usage_daily, usage_hourly
from controlplane.usage import group_ids_by_name, group_ids_named

# percent metric -> the capacity its scopes are weighted by when several are summarised together
WEIGHTS = {"cpu_percent": "vcpus", "memory_percent": "memory_total_bytes", "disk_percent": "disk_total_bytes"}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=CST).astimezone(dt.UTC)


@dataclass(frozen=True)
class Window:
    """A span of time, start included, end excluded; aware datetimes."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a window needs aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"a window must end after it starts: {self.start} to {self.end}")

    @classmethod
    def days(cls, first: dt.date, end: dt.date) -> Window:
        """Calendar days in China Standard Time, ``first`` included, ``end`` excluded (like ``audit export``)."""
        return cls(_midnight(first), _midnight(end))

    @classmethod
    def month(cls, year: int, month: int) -> Window:
        """A calendar month in China Standard Time: 1 November begins at 31 October 16:00 UTC."""
        following = dt.date(year + month // 12, month % 12 + 1, 1)
        return cls.days(dt.date(year, month, 1), following)

    @classmethod
    def week(cls, day: dt.date) -> Window:
        """The calendar week (Monday to Sunday, China Standard Time) that ``day`` falls in."""
        monday = day - dt.timedelta(days=day.weekday())
        return cls.days(monday, monday + dt.timedelta(days=7))

    @property
    def whole_days(self) -> bool:
        """True when both ends are midnights in UTC+8: the daily rollups answer exactly."""
        return all(t.astimezone(CST).time() == dt.time() for t in (self.start, self.end))


@dataclass(frozen=True)
class Selection:
    """The scopes a question is about: of one kind on one cloud, picked by their own ids or by their group (the
    project or namespace they belong to)."""

    cloud: str
    scope_kind: str
    scope_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()

    @classmethod
    def scope(cls, cloud: str, scope_kind: str, scope_id: str) -> Selection:
        return cls(cloud, scope_kind, scope_ids=(scope_id,))

    def where(self, table: Table) -> ColumnElement[bool]:
        picked = [table.c.scope_id.in_(self.scope_ids)] if self.scope_ids else []
        if self.group_ids:
            picked.append(table.c.group_id.in_(self.group_ids))
        return and_(
            table.c.cloud == self.cloud,
            table.c.scope_kind == self.scope_kind,
            or_(*picked) if picked else table.c.scope_id.is_(None),  # selecting nothing selects nothing
        )


def system_selections(conn: Connection, system: str, cloud: str | None = None) -> list[Selection]:
    """What a system (code or name) is made of on each cloud: the servers of its OpenStack projects, its namespaces.
    Project refs are matched against the servers' project ids as the collectors report them, and against the project
    names the hypervisors reported with them (``usage_groups``)."""
    refs: dict[tuple[str, FootprintKind], list[str]] = {}
    for item in footprints(conn, system):
        if cloud is None or item.cloud == cloud:
            refs.setdefault((item.cloud, item.kind), []).append(item.ref)
    return _selections(refs, lambda where, ids: group_ids_named(conn, where, ids))


def every_system_selections(conn: Connection) -> dict[str, list[Selection]]:
    """``system_selections`` of every system (by code), in three queries whatever their number (the monthly
    evaluation asks for all of them)."""
    refs: dict[str, dict[tuple[str, FootprintKind], list[str]]] = {}
    for item in footprints(conn):
        refs.setdefault(item.system, {}).setdefault((item.cloud, item.kind), []).append(item.ref)
    names: dict[str, set[str]] = {}  # cloud -> the project refs that may be names
    for of_system in refs.values():
        for (where, kind), ids in of_system.items():
            if kind is FootprintKind.PROJECT:
                names.setdefault(where, set()).update(ids)
    ids_named: dict[tuple[str, str], list[str]] = {}  # (cloud, name) -> group ids
    for where, wanted in sorted(names.items()):
        for name, group_id in group_ids_by_name(conn, where, wanted):
            ids_named.setdefault((where, name), []).append(group_id)
    return {
        system: _selections(of_system, lambda where, ids: [g for i in ids for g in ids_named.get((where, i), ())])
        for system, of_system in refs.items()
    }


def _selections(
    refs: dict[tuple[str, FootprintKind], list[str]], named: Callable[[str, list[str]], Iterable[str]]
) -> list[Selection]:
    found: list[Selection] = []
    for (where, kind), ids in sorted(refs.items()):
        if kind is FootprintKind.PROJECT:  # a footprint may name its projects: add the ids those names had
            found.append(Selection(where, "server", group_ids=tuple(sorted({*ids, *named(where, ids)}))))
        elif kind is FootprintKind.NAMESPACE:
            found.append(Selection(where, "namespace", scope_ids=tuple(ids)))
    return found


@dataclass(frozen=True)
class Summary:
    """A metric over a window for a selection of scopes."""

    metric: str
    mean: float | None  # None: no sample with a value
    max: float | None
    min: float | None
    samples: int  # samples with a value (measured or estimated)
    estimated: int  # of those, estimates
    missing: int  # tries that measured nothing
    scopes: int  # scopes with any rollup in the window
    periods: int  # hours with any rollup in the window; for a window of whole UTC+8 days, days with any
    unweighted: int  # scopes left out of a weighted mean: no capacity figure in the window
    resolution: str  # "hour" or "day": which rollups answered (the figures are the same)

    @property
    def measured(self) -> int:
        return self.samples - self.estimated


@dataclass(frozen=True)
class Peak:
    value: float | None
    scope_id: str | None
    period: dt.datetime | None  # start of the hour (or UTC+8 day) it happened in
    resolution: str


@dataclass(frozen=True)
class PeakHours:
    hours: int  # hours in which at least one scope had >= k samples above 80%
    scopes: int  # scopes that had such an hour
    hours_with_data: int  # hours with any rollup of the metric (what ``hours`` is out of)
    first: dt.datetime | None
    last: dt.datetime | None


def rollups_for(conn: Connection, window: Window) -> tuple[Table, str]:
    """The daily rollups for whole days they hold (complete days only), else the hourly ones."""
    if window.whole_days:
        newest = conn.execute(select(func.max(usage_daily.c.period))).scalar()
        if newest is not None and window.end <= parse_time(newest) + dt.timedelta(days=1):
            return usage_daily, "day"
    return usage_hourly, "hour"


def within(table: Table, window: Window) -> ColumnElement[bool]:
    return and_(table.c.period >= format_time(window.start), table.c.period < format_time(window.end))


def _mean(table: Table) -> ColumnElement[Any]:
    """The mean of the samples behind several rollup rows: each row's mean weighted by its sample count."""
    return func.sum(table.c.mean * table.c.n) / func.nullif(func.sum(table.c.n), 0)


def scope_figures(t: Table) -> list[ColumnElement[Any]]:
    """What one scope's rollup rows add up to: the mean of their samples, the highest and lowest sample, the counts."""
    return [
        _mean(t).label("mean"),
        func.max(t.c.max).label("max"),
        func.min(t.c.min).label("min"),
        func.sum(t.c.n).label("n"),
        func.sum(t.c.n_estimated).label("est"),
        func.sum(t.c.n_missing).label("miss"),
    ]


def number(value: Any) -> float | None:
    return None if value is None else float(value)


def summary(conn: Connection, selection: Selection, metric: str, window: Window) -> Summary:
    """Mean, max and min of ``metric`` over ``window``: for one scope the mean of its samples; for several, percent
    metrics weighted by each scope's capacity (``WEIGHTS``), absolute metrics added up (the mean is the sum of the
    scopes' means, max and min the highest and lowest total of one period's means)."""
    t, resolution = rollups_for(conn, window)
    chosen = and_(selection.where(t), within(t, window))
    per_scope = (
        select(t.c.scope_id, *scope_figures(t))
        .where(chosen, t.c.metric == metric)
        .group_by(t.c.scope_id)
        .cte("per_scope")
    )
    weight_metric = WEIGHTS.get(metric)
    weights = (
        select(t.c.scope_id, _mean(t).label("w"))
        .where(chosen, t.c.metric == (weight_metric or metric))
        .group_by(t.c.scope_id)
        .cte("weights")
    )
    m, w = per_scope.c, weights.c
    weighed = func.coalesce(w.w, 0) > 0
    usable = and_(m.mean.is_not(None), weighed)
    if weight_metric is not None:
        combined = func.sum(case((usable, m.mean * w.w))) / func.nullif(func.sum(case((usable, w.w))), 0)
        left_out = func.sum(case((and_(m.mean.is_not(None), ~weighed), 1), else_=0))
    else:
        combined, left_out = func.sum(m.mean), func.sum(0)
    row = conn.execute(
        select(
            func.count(m.scope_id).label("scopes"),
            func.max(m.mean).label("only"),
            combined.label("combined"),
            left_out.label("left_out"),
            func.max(m.max).label("max"),
            func.min(m.min).label("min"),
            func.sum(m.n).label("n"),
            func.sum(m.est).label("est"),
            func.sum(m.miss).label("miss"),
        ).select_from(per_scope.outerjoin(weights, m.scope_id == w.scope_id))
    ).one()
    scopes = int(row.scopes)
    high, low = number(row.max), number(row.min)
    if scopes > 1 and weight_metric is None:
        high, low = _period_totals(conn, t, chosen, metric)
    return Summary(
        metric=metric,
        mean=number(row.only if scopes == 1 else row.combined),
        max=high,
        min=low,
        samples=int(row.n or 0),
        estimated=int(row.est or 0),
        missing=int(row.miss or 0),
        scopes=scopes,
        periods=_periods(conn, t, and_(chosen, t.c.metric == metric), window),
        unweighted=0 if scopes == 1 else int(row.left_out or 0),
        resolution=resolution,
    )


def _periods(conn: Connection, t: Table, chosen: ColumnElement[bool], window: Window) -> int:
    """Distinct periods with rollups; for whole days from the hourly rollups, the UTC+8 days their hours fall in
    (counted over the distinct hour keys, at most 24 a day)."""
    if t is usage_daily or not window.whole_days:
        return int(conn.execute(select(func.count(distinct(t.c.period))).where(chosen)).scalar() or 0)
    keys = conn.execute(select(t.c.period).distinct().where(chosen)).scalars()
    return len({parse_time(k).astimezone(CST).date() for k in keys})


def _period_totals(
    conn: Connection, t: Table, chosen: ColumnElement[bool], metric: str
) -> tuple[float | None, float | None]:
    totals = (
        select(func.sum(t.c.mean).label("total"))
        .where(chosen, t.c.metric == metric, t.c.mean.is_not(None))
        .group_by(t.c.period)
        .subquery()
    )
    row = conn.execute(select(func.max(totals.c.total), func.min(totals.c.total))).one()
    return number(row[0]), number(row[1])


def month_summary(conn: Connection, selection: Selection, metric: str, year: int, month: int) -> Summary:
    """``metric`` over a calendar month in China Standard Time (Suining 14: utilization reported monthly)."""
    return summary(conn, selection, metric, Window.month(year, month))


def week_summary(conn: Connection, selection: Selection, metric: str, day: dt.date) -> Summary:
    """``metric`` over the Monday-to-Sunday week (UTC+8) containing ``day`` (Bozhou 26: weekly memory average)."""
    return summary(conn, selection, metric, Window.week(day))


def peak(conn: Connection, selection: Selection, metric: str, window: Window) -> Peak:
    """The highest sample of ``metric`` in the window, with its scope and the hour it fell in (the UTC+8 day when
    the window is older than the hourly rollups are kept)."""
    for t, resolution in ((usage_hourly, "hour"), rollups_for(conn, window)):
        row = conn.execute(
            select(t.c.max, t.c.scope_id, t.c.period)
            .where(selection.where(t), within(t, window), t.c.metric == metric, t.c.max.is_not(None))
            .order_by(t.c.max.desc(), t.c.period, t.c.scope_id)
            .limit(1)
        ).first()
        if row is not None:
            return Peak(float(row.max), row.scope_id, parse_time(row.period), resolution)
    return Peak(None, None, None, "hour")


def hours_above(conn: Connection, selection: Selection, metric: str, window: Window, k: int = 3) -> PeakHours:
    """Hours in the window in which some scope of the selection had at least ``k`` samples of ``metric`` above 80%
    (strictly). Bozhou 26: memory peaks above 80% at least 3 times within one hour allow an expansion."""
    if k < 1:
        raise ValueError("k counts samples above 80% in an hour: at least 1")
    t = usage_hourly
    hot = t.c.n_above_80 >= k
    row = conn.execute(
        select(
            func.count(distinct(case((hot, t.c.period)))),
            func.count(distinct(case((hot, t.c.scope_id)))),
            func.count(distinct(t.c.period)),
            func.min(case((hot, t.c.period))),
            func.max(case((hot, t.c.period))),
        ).where(selection.where(t), within(t, window), t.c.metric == metric)
    ).one()
    return PeakHours(
        hours=int(row[0]),
        scopes=int(row[1]),
        hours_with_data=int(row[2]),
        first=parse_time(row[3]) if row[3] else None,
        last=parse_time(row[4]) if row[4] else None,
    )


def metrics(conn: Connection, selections: Sequence[Selection], window: Window) -> list[str]:
    """The metrics that have rollups for these scopes in the window, sorted."""
    t, _ = rollups_for(conn, window)
    found: set[str] = set()
    for selection in selections:
        rows = conn.execute(select(t.c.metric).distinct().where(selection.where(t), within(t, window)))
        found.update(r.metric for r in rows)
    return sorted(found)
