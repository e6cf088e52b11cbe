"""Gathering the facts a pack's rules need from the store, before evaluation: the ledger (active systems with an
approval in force on the period's last day, their stable-since date, their footprints) and the usage rollups through
``usage_query`` (calendar months and weeks in UTC+8), plus when each scope last ran and was last active.

Only what the pack's enabled rules ask for is read. ``evaluate_month`` ties gathering and the pure evaluation
together for the monthly job; it writes nothing. Run ``usage rollup`` first: activity is read from the daily
rollups, which exist for complete days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Select, case, func, select, text

from controlplane.audit.chain import format_time, parse_time
from controlplane.clock import CST, Clock, SystemClock
from controlplane.domain import ApplicationSystem
from controlplane.gc_pause import gc_paused
from controlplane.ledger.store import approved_at, history, systems
from controlplane.periods import add_months
from controlplane.policy.evaluate import evaluate
from controlplane.policy.facts import (
    Activity,
    Aggregate,
    Facts,
    HoursAbove,
    Month,
    ScopeFacts,
    SystemFacts,
    WindowFacts,
)
from controlplane.policy.model import Evaluation
from controlplane.policy.packs import Pack
from controlplane.policy.rules import IdleRule, base_metrics
from controlplane.policy.trusted import trusted
from controlplane.store.tables import usage_daily, usage_days, usage_group_days, usage_hourly
from controlplane.usage_batches import (
    Batch,
    batches,
    hours_above_each_window,
    kind_hours_each,
    kind_summaries_each,
    no_summary,
    scopes_seen,
    summaries_each,
)
from controlplane.usage_query import PeakHours, Selection, Summary, Window, every_system_selections

ScopeKind = Literal["system", "server", "namespace"]
_SCOPE, _WINDOW, _AGGREGATE = trusted(ScopeFacts), trusted(WindowFacts), trusted(Aggregate)
_HOURS, _ACTIVITY = trusted(HoursAbove), trusted(Activity)
_NO_HOURS = PeakHours(hours=0, scopes=0, hours_with_data=0, first=None, last=None)
_Group = tuple[list[tuple[str, Window]], set[str], list[tuple[str, int]]]  # windows, metrics, hours-above rules
LOOKBACK_MONTHS = 13  # how far back a server that stopped is still listed (daily rollups are kept ~3 years)


@dataclass
class _Needs:
    """What the rules of one scope (system or server) ask for."""

    month: set[str] = field(default_factory=set)  # metrics over the calendar month
    week: set[str] = field(default_factory=set)
    hours: set[tuple[str, str, int]] = field(default_factory=set)  # (window kind, metric, k)
    activity: bool = False

    def __bool__(self) -> bool:
        return bool(self.month or self.week or self.hours or self.activity)


def needs(pack: Pack) -> dict[str, _Needs]:
    """Per rule scope (``system``, ``server``), the metrics, windows and activity the enabled rules need."""
    found = {"system": _Needs(), "server": _Needs()}
    for rule in pack.action_rules:
        if rule.systems is not None and not rule.systems:  # for no system (Suining 48(3) until one is named)
            continue
        wants = found[rule.scope]
        if isinstance(rule, IdleRule):
            wants.activity = True
            continue
        for cond in rule.leaves():
            if cond.aggregate == "hours_above" and cond.k is not None:
                wants.hours.add((rule.window, cond.metric, cond.k))
            metrics = wants.month if rule.window == "month" else wants.week
            metrics.update(base_metrics(cond.metric))
    return found


def facts_from_store(conn: Connection, pack: Pack, period: Month, clock: Clock) -> Facts:
    """The facts ``evaluate`` needs for ``pack`` over ``period``, read from the ledger and the usage rollups.
    Refuses a month that is not over yet (its figures would change)."""
    now = clock.now()
    if period.window.end > now:
        raise ValueError(
            f"{period.label} is not over yet (it ends {period.window.end.astimezone(CST):%Y-%m-%d %H:%M} UTC+8)"
        )
    _settings(conn)
    wanted = needs(pack)
    in_force: dict[str, list[tuple[str, str]]] = {}
    for item in approved_at(conn, period.last_day):
        in_force.setdefault(item.system.key, []).append((item.cloud, item.revision.allocation.approval_ref))
    onboarded: dict[str, dt.date] = {}
    for item in history(conn):
        day = item.revision.allocation.effective_from
        onboarded[item.system.key] = min(day, onboarded.get(item.system.key, day))
    # what each active system is made of on the clouds it is approved on, then every figure at once
    chosen: list[tuple[ApplicationSystem, str, list[Selection]]] = []
    made_of = every_system_selections(conn)
    for system, department in systems(conn):
        if system.status != "active" or system.key not in in_force:
            continue
        clouds = {cloud for cloud, _ in in_force[system.key]}
        chosen.append((system, department, [s for s in made_of.get(system.key, []) if s.cloud in clouds]))
    whole = [s for _, _, selections in chosen for s in selections] if wanted["system"] else []
    listed = [s for _, _, selections in chosen for s in selections] if wanted["server"] else []
    reader, system_reader, members = _read(conn, pack, period, whole=whole, listed=listed, wanted=wanted)
    gathered: list[SystemFacts] = []
    for system, department, selections in chosen:
        scopes: list[ScopeFacts] = []
        for selection in selections:
            if wanted["system"]:
                scopes.append(system_reader.scope(selection, "system", system.key, wanted["system"]))
            for kind, scope_id in members.get(selection, []):
                one = Selection.scope(selection.cloud, kind, scope_id)
                scopes.append(reader.scope(one, kind, scope_id, wanted["server"]))
        gathered.append(
            SystemFacts(
                key=system.key,
                name=system.name,
                department=department,
                stable_since=system.stable_since,
                onboarded=onboarded.get(system.key),
                approvals=tuple(sorted(ref for _, ref in in_force[system.key])),
                scopes=tuple(scopes),
            )
        )
    return Facts(pack=pack.pack, period=period.label, gathered_at=now, systems=tuple(gathered))


def _read(
    conn: Connection,
    pack: Pack,
    period: Month,
    *,
    whole: list[Selection],
    listed: list[Selection],
    wanted: dict[str, _Needs],
) -> tuple[_Reader, _Reader, dict[Selection, list[tuple[ScopeKind, str]]]]:
    """Every figure of the systems (``whole``) and of the servers of ``listed``: the readers holding them (servers',
    systems') and the servers of each selection. On PostgreSQL, some are read on connections of their own meanwhile:
    the database works on them while this process handles the rest (two cores at work, not one)."""
    reader = system_reader = _Reader(conn, pack, period)
    postgres = conn.dialect.name == "postgresql"
    # the connections close after the threads using them are done (the pool's exit waits for them)
    with ExitStack() as connections, ThreadPoolExecutor(2) if postgres else nullcontext() as pool:

        def aside() -> _Reader:
            other = connections.enter_context(conn.engine.connect())
            _settings(other)
            return _Reader(other, pack, period)

        pending: list[Future[None]] = []
        if pool is not None and whole and listed:  # the systems' figures, while the servers are read
            system_reader = aside()
            pending.append(pool.submit(system_reader.read, whole, wanted["system"]))
        else:
            reader.read(whole, wanted["system"])
        kinds_reader = None
        if pool is not None and listed:  # every server's weekly figures, while the servers are listed
            kinds_reader = aside()
            kinds = sorted({(s.cloud, "server") for s in listed if s.scope_kind != "namespace"})
            pending.append(pool.submit(kinds_reader.read_kinds, kinds, wanted["server"]))
        members = reader.members(listed, wanted["server"].activity) if listed else {}
        each = [Selection.scope(s.cloud, kind, i) for s, found in members.items() for kind, i in found]
        for done in pending:
            done.result()
        if kinds_reader is not None:
            reader.take(kinds_reader)
        reader.read(each, wanted["server"])  # what read_kinds did not cover
    return reader, system_reader, members


def _settings(conn: Connection) -> None:
    """On PostgreSQL, for the transaction: the aggregates group up to ~10^6 rollup rows (work_mem is 4 MB by
    default): sorted in memory, not in temporary files."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL work_mem = '64MB'"))


def evaluate_month(conn: Connection, pack: Pack, month: Month | str, clock: Clock | None = None) -> list[Evaluation]:
    """Gather the facts for ``month`` (``2026-10``, UTC+8) and evaluate ``pack`` over them. Writes nothing."""
    period = Month.parse(month) if isinstance(month, str) else month
    with gc_paused():  # ~430,000 models for 10,000 servers, none in a cycle
        facts = facts_from_store(conn, pack, period, clock or SystemClock())
        return evaluate(pack, period, facts.systems)


class _Reader:
    """Reads the figures of many scopes together (``usage_query.summaries``: a few queries a window, not a few a
    scope), then hands them out scope by scope. The facts of each scope are built without validation (``trusted``):
    every value comes typed from the queries, and there are ~10 models a server."""

    def __init__(self, conn: Connection, pack: Pack, period: Month) -> None:
        self.conn = conn
        self.pack = pack
        self.period = period
        self.end = period.window.end
        self.lookback = Window.days(add_months(period.first_day, -LOOKBACK_MONTHS), period.last_day).start
        self._observed: dict[str, dt.date | None] = {}
        self._figures: dict[tuple[Selection, str], dict[str, Summary]] = {}  # (selection, window label) -> metric
        self._hours: dict[tuple[Selection, str, str, int], PeakHours] = {}  # (selection, label, metric, k)
        self._activity: dict[Selection, Activity] = {}
        self._labels: dict[tuple[bool, bool], list[tuple[str, Window, str]]] = {}
        self._covered: set[tuple[str, str, str]] = set()  # (cloud, scope kind, window kind) read by read_kinds
        self._groups: dict[tuple[int, str], tuple[_Needs, _Group]] = {}

    def members(
        self, selections: Sequence[Selection], activity: bool = False
    ) -> dict[Selection, list[tuple[ScopeKind, str]]]:
        """For each selection, the servers of its projects seen in the lookback (so a stopped one is still listed),
        or its namespaces. Servers are found in the closed days (``usage_days``: a row a server and day), and in the
        hourly rollups for the days not closed yet (a closed day holds every server its hours held). With
        ``activity``, the servers' activity is read in the same pass over their days (``_server_days``)."""
        found: dict[Selection, set[str]] = {}
        by_group = [s for s in selections if s.scope_kind != "namespace"]
        newest = self.conn.execute(select(func.max(usage_daily.c.period))).scalar()
        open_from = max(self.lookback, parse_time(newest) + dt.timedelta(days=1)) if newest else self.lookback
        daily = by_group
        if activity:
            daily = [s for s in by_group if s.scope_ids or not s.group_ids]
            self._server_days([s for s in by_group if s not in daily], found)
        spans = [(usage_days, self.lookback, daily)]
        if open_from < self.end:
            spans.append((usage_hourly, open_from, by_group))
        for t, start, chosen in spans:
            for selection, scope_ids in scopes_seen(self.conn, t, chosen, Window(start, self.end)).items():
                found.setdefault(selection, set()).update(scope_ids)
        result: dict[Selection, list[tuple[ScopeKind, str]]] = {}
        for selection in selections:
            if selection.scope_kind == "namespace":
                result[selection] = [("namespace", s) for s in selection.scope_ids]
            else:
                result[selection] = [("server", s) for s in sorted(found.get(selection, ()))]
        return result

    def _server_days(self, selections: Sequence[Selection], found: dict[Selection, set[str]]) -> None:
        """One pass over the closed days of the servers of the selections' clouds (selections by project): into
        ``found`` the servers of each selection's projects seen since the lookback, and each server's activity (as
        ``_activities`` reads it: over its days under any project)."""
        t, end, lookback = usage_days, format_time(self.end), format_time(self.lookback)
        for cloud, kind in sorted({(s.cloud, s.scope_kind) for s in selections}):
            of_group: dict[str, list[Selection]] = {}
            for selection in selections:
                if (selection.cloud, selection.scope_kind) == (cloud, kind):
                    for group in selection.group_ids:
                        of_group.setdefault(group, []).append(selection)
            query = (
                self._last_days(t.c.scope_id, t.c)
                .add_columns(t.c.group_id)
                .where(t.c.cloud == cloud, t.c.scope_kind == kind, t.c.period < end)
                .group_by(t.c.group_id, t.c.scope_id)
            )
            days: dict[str, list[str | None]] = {}  # scope -> newest day, first measured, newest writes, network
            for scope_id, seen, measured, wrote, sent, group in self.conn.execute(query):
                if seen >= lookback:
                    for selection in of_group.get(group, ()):
                        found.setdefault(selection, set()).add(scope_id)
                have = days.get(scope_id)
                if have is None:
                    days[scope_id] = [seen, measured, wrote, sent]
                    continue  # a server under several projects: its days under each, together
                have[:] = [
                    _later(have[0], seen),
                    _earlier(have[1], measured),
                    _later(have[2], wrote),
                    _later(have[3], sent),
                ]
            observed = self._observed_until(cloud)
            for scope_id, (seen, measured, wrote, sent) in days.items():
                self._activity[Selection.scope(cloud, kind, scope_id)] = _activity(
                    seen, measured, wrote, sent, observed
                )

    def read(self, selections: Sequence[Selection], wants: _Needs) -> None:
        """Read the figures ``wants`` of every selection: each window's summaries, hours above 80% and activity; what
        ``read_kinds`` already read of a scope is not read again (found nothing there: none)."""
        if not selections or not wants:
            return
        for kind in ("month", "week"):  # a month's weeks are read together (``summaries_each``)
            windows, every, hour_rules = self._group(wants, kind)
            if not windows:
                continue
            spans = [window for _, window in windows]
            read_before = {s for s in selections if (s.cloud, s.scope_kind, kind) in self._covered and _one(s)}
            self._fill(read_before, windows, every, hour_rules)
            rest = [s for s in selections if s not in read_before]
            for (label, _), each in zip(windows, summaries_each(self.conn, rest, every, spans), strict=True):
                for selection, got in each.items():
                    self._figures[selection, label] = got
            for metric, k in hour_rules:
                found = hours_above_each_window(self.conn, rest, metric, spans, k)
                for (label, _), hours_each in zip(windows, found, strict=True):
                    for selection, peak in hours_each.items():
                        self._hours[selection, label, metric, k] = peak
        if wants.activity:  # those not read with the servers' listing
            self._activity.update(self._activities([s for s in selections if s not in self._activity]))

    def _group(self, wants: _Needs, kind: str) -> _Group:
        """The windows of one kind (month, week) ``wants`` figures of, the metrics, and the hours-above rules (worked
        out once: asked for every window of every scope)."""
        known = self._groups.get((id(wants), kind))
        if known is not None and known[0] is wants:
            return known[1]
        windows = [(label, window) for label, window, which in self._windows(wants) if which == kind]
        metrics = wants.month if kind == "month" else wants.week
        hour_rules = sorted((m, k) for w, m, k in wants.hours if w == kind)
        found = windows, {*metrics, *(m for m, _ in hour_rules)}, hour_rules
        self._groups[id(wants), kind] = (wants, found)
        return found

    def read_kinds(self, kinds: Sequence[tuple[str, str]], wants: _Needs) -> None:
        """The figures ``wants`` of every scope of each (cloud, kind), without naming them: over closed weeks of
        closed days (``kind_summaries_each``), before the servers are listed; ``read`` then reads only the rest."""
        for cloud, scope_kind in kinds:
            for kind in ("month", "week"):
                windows, every, hour_rules = self._group(wants, kind)
                spans = [window for _, window in windows]
                figures = kind_summaries_each(self.conn, cloud, scope_kind, every, spans) if windows else None
                if figures is None:
                    continue
                hours = {(m, k): kind_hours_each(self.conn, cloud, scope_kind, m, spans, k=k) for m, k in hour_rules}
                if any(found is None for found in hours.values()):
                    continue
                for (label, _), got in zip(windows, figures, strict=True):
                    self._figures.update(((selection, label), each) for selection, each in got.items())
                for (metric, k), found in hours.items():
                    for (label, _), peaks in zip(windows, found or (), strict=True):
                        self._hours.update(((selection, label, metric, k), peak) for selection, peak in peaks.items())
                self._covered.add((cloud, scope_kind, kind))

    def _fill(
        self,
        selections: set[Selection],
        windows: Sequence[tuple[str, Window]],
        metrics: set[str],
        hour_rules: Sequence[tuple[str, int]],
    ) -> None:
        """For scopes ``read_kinds`` covered but found nothing of: no figures, no hours above."""
        nothing = {m: no_summary(m) for m in metrics}
        for selection in selections:
            for label, _ in windows:
                if (selection, label) not in self._figures:
                    self._figures[selection, label] = dict(nothing)
                for metric, k in hour_rules:
                    self._hours.setdefault((selection, label, metric, k), _NO_HOURS)

    def take(self, other: _Reader) -> None:
        """What another reader read on its own connection: figures, hours above 80%, what it covered."""
        self._figures.update(other._figures)
        self._hours.update(other._hours)
        self._covered |= other._covered

    def scope(self, selection: Selection, kind: ScopeKind, scope_id: str, wants: _Needs) -> ScopeFacts:
        windows = {
            label: self._window(selection, label, window, wants, which) for label, window, which in self._windows(wants)
        }
        activity = self._activity[selection] if wants.activity else None
        return _SCOPE(cloud=selection.cloud, kind=kind, id=scope_id, windows=windows, activity=activity)

    def _windows(self, wants: _Needs) -> list[tuple[str, Window, str]]:
        month = bool(wants.month) or any(w == "month" for w, _, _ in wants.hours)
        week = bool(wants.week) or any(w == "week" for w, _, _ in wants.hours)
        if (month, week) not in self._labels:  # asked once a scope: the weeks are worked out once
            found: list[tuple[str, Window, str]] = []
            if month:
                found.append((self.period.label, self.period.window, "month"))
            if week:
                found += [(w.label, w.window, "week") for w in self.period.weeks()]
            self._labels[month, week] = found
        return self._labels[month, week]

    def _window(self, selection: Selection, label: str, window: Window, wants: _Needs, kind: str) -> WindowFacts:
        _, every, hour_rules = self._group(wants, kind)
        figures = self._figures[selection, label]
        aggregates = {m: _aggregate(figures[m]) for m in sorted(every)}
        hours = []
        for metric, k in hour_rules:
            found = self._hours[selection, label, metric, k]
            agg = aggregates[metric]
            hours.append(
                _HOURS(
                    metric=metric,
                    k=k,
                    hours=found.hours,
                    hours_with_data=found.hours_with_data,
                    samples=agg.samples,
                    estimated=agg.estimated,
                    missing=agg.missing,
                )
            )
        return _WINDOW(label=label, start=window.start, end=window.end, metrics=aggregates, hours_above=tuple(hours))

    def _activities(self, selections: Sequence[Selection]) -> dict[Selection, Activity]:
        """When each selection last ran (any daily rollup) and was last active (a day whose writes, or whose network
        traffic, added up over its scopes, exceed the pack's thresholds), and since when that is measured."""
        batched, alone = batches(selections)
        if any(s.scope_ids and s.group_ids for s in alone):
            raise ValueError("a selection picking by both scope and group ids is not read for activity")
        nothing = Activity(last_seen=None, last_active=None, activity_from=None, observed_until=None)
        found = {s: nothing.model_copy(update={"observed_until": self._observed_until(s.cloud)}) for s in alone}
        for batch in batched:
            rows = self._activity_rows(batch, format_time(self.end))
            for i, selection in enumerate(batch.selections):
                seen_at, measured_from, wrote, sent = rows.get(i, (None,) * 4)
                observed = self._observed_until(selection.cloud)
                found[selection] = _activity(seen_at, measured_from, wrote, sent, observed)
        return found

    def _activity_rows(
        self, batch: Batch, end: str
    ) -> dict[int, tuple[str | None, str | None, str | None, str | None]]:
        """Per selection of the batch with closed days before ``end``: the newest day with any rollup, the first with
        writes or network figures, the newest whose writes, and the newest whose network traffic, exceed the pack's
        thresholds (each added up over the selection's scopes that day). Read from ``usage_days`` (a row a scope and
        day), or for selections by project from ``usage_group_days`` (a row a project and day); one scope or project
        a selection reads its rows as they are, several are added up day by day first."""
        t = usage_group_days if batch.by == "group_id" else usage_days
        key, source, picked = batch.matched(self.conn, t)
        if batch.single or (batch.by == "group_id" and batch.direct):
            query = self._last_days(key, t.c).select_from(source).where(picked, t.c.period < end).group_by(key)
        else:
            per_day = (
                select(
                    key.label("k"),
                    t.c.period,
                    func.sum(t.c.writes).label("writes"),
                    func.sum(t.c.network).label("network"),
                    func.sum(t.c.measured).label("measured"),
                )
                .select_from(source)
                .where(picked, t.c.period < end)
                .group_by(key, t.c.period)
                .subquery()
            )
            query = self._last_days(per_day.c.k, per_day.c).group_by(per_day.c.k)
        return {batch.index(r[0]): (r[1], r[2], r[3], r[4]) for r in self.conn.execute(query)}

    def _last_days(self, key: ColumnElement[Any], days: Any) -> Select[Any]:
        """The key, its newest day, first measured day and newest days with writes, and network, above the limits."""
        activity = self.pack.activity
        return select(
            key,
            func.max(days.period),
            func.min(case((days.measured > 0, days.period))),
            func.max(case((days.writes > activity.write_bytes_per_s, days.period))),
            func.max(case((days.network > activity.network_bytes_per_s, days.period))),
        )

    def _observed_until(self, cloud: str) -> dt.date | None:
        if cloud not in self._observed:
            t = usage_daily
            newest = self.conn.execute(
                select(func.max(t.c.period)).where(t.c.cloud == cloud, t.c.period < format_time(self.end))
            ).scalar()
            self._observed[cloud] = _day(newest)
        return self._observed[cloud]


def _aggregate(got: Summary) -> Aggregate:
    return _AGGREGATE(
        metric=got.metric,
        mean=got.mean,
        max=got.max,
        samples=got.samples,
        estimated=got.estimated,
        missing=got.missing,
        scopes=got.scopes,
        unweighted=got.unweighted,
        days=got.periods,
    )


def _activity(
    seen: str | None, measured: str | None, wrote: str | None, sent: str | None, observed: dt.date | None
) -> Activity:
    """Activity from a scope's newest day, first measured day and newest days with writes and with network above the
    pack's limits (daily periods)."""
    return _ACTIVITY(
        last_seen=_day(seen),
        last_active=_day(_later(wrote, sent)),
        activity_from=_day(measured),
        observed_until=observed,
    )


def _one(selection: Selection) -> bool:
    """A selection of one scope (``Selection.scope``)."""
    return len(selection.scope_ids) == 1 and not selection.group_ids


def _later(a: str | None, b: str | None) -> str | None:
    return a if b is None else b if a is None else max(a, b)


def _earlier(a: str | None, b: str | None) -> str | None:
    return a if b is None else b if a is None else min(a, b)


def _day(period: str | None) -> dt.date | None:
    """A daily rollup's period (the UTC start of a UTC+8 day) as that day."""
    return None if period is None else parse_time(period).astimezone(CST).date()
