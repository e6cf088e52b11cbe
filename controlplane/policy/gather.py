"""Gathering the facts a pack's rules need from the store, before evaluation: the ledger (active systems with an
approval in force on the period's last day, their stable-since date, their footprints) and the usage rollups through
``usage_query`` (calendar months and weeks in UTC+8), plus when each scope last ran and was last active.

Only what the pack's enabled rules ask for is read. ``evaluate_month`` ties gathering and the pure evaluation
together for the monthly job; it writes nothing. Run ``usage rollup`` first: activity is read from the daily
rollups, which exist for complete days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, func, select

from controlplane.audit.chain import format_time, parse_time
from controlplane.clock import CST, Clock, SystemClock
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
from controlplane.store.tables import usage_daily, usage_hourly
from controlplane.usage_query import Selection, Window, hours_above, summary, system_selections

WRITES = ("disk_write_bytes_per_s",)
NETWORK = ("net_rx_bytes_per_s", "net_tx_bytes_per_s")
ScopeKind = Literal["system", "server", "namespace"]
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
    wanted = needs(pack)
    in_force: dict[str, list[tuple[str, str]]] = {}
    for item in approved_at(conn, period.last_day):
        in_force.setdefault(item.system.key, []).append((item.cloud, item.revision.allocation.approval_ref))
    onboarded: dict[str, dt.date] = {}
    for item in history(conn):
        day = item.revision.allocation.effective_from
        onboarded[item.system.key] = min(day, onboarded.get(item.system.key, day))
    reader = _Reader(conn, pack, period)
    gathered: list[SystemFacts] = []
    for system, department in systems(conn):
        if system.status != "active" or system.key not in in_force:
            continue
        clouds = {cloud for cloud, _ in in_force[system.key]}
        scopes: list[ScopeFacts] = []
        for selection in system_selections(conn, system.key):
            if selection.cloud not in clouds:
                continue
            if wanted["system"]:
                scopes.append(reader.scope(selection, "system", system.key, wanted["system"]))
            if wanted["server"]:
                for kind, scope_id in reader.members(selection):
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


def evaluate_month(conn: Connection, pack: Pack, month: Month | str, clock: Clock | None = None) -> list[Evaluation]:
    """Gather the facts for ``month`` (``2026-10``, UTC+8) and evaluate ``pack`` over them. Writes nothing."""
    period = Month.parse(month) if isinstance(month, str) else month
    facts = facts_from_store(conn, pack, period, clock or SystemClock())
    return evaluate(pack, period, facts.systems)


class _Reader:
    def __init__(self, conn: Connection, pack: Pack, period: Month) -> None:
        self.conn = conn
        self.pack = pack
        self.period = period
        self.end = period.window.end
        self.lookback = Window.days(add_months(period.first_day, -LOOKBACK_MONTHS), period.last_day).start
        self._observed: dict[str, dt.date | None] = {}

    def members(self, selection: Selection) -> list[tuple[ScopeKind, str]]:
        """The servers of a system's projects seen in the lookback (so a stopped one is still listed; the hourly
        rollups too, for days not yet closed), or its namespaces."""
        if selection.scope_kind == "namespace":
            return [("namespace", s) for s in selection.scope_ids]
        seen: set[str] = set()
        for t in (usage_daily, usage_hourly):
            seen.update(
                self.conn.execute(
                    select(t.c.scope_id)
                    .distinct()
                    .where(
                        selection.where(t),
                        t.c.period >= format_time(self.lookback),
                        t.c.period < format_time(self.end),
                    )
                ).scalars()
            )
        return [("server", s) for s in sorted(seen)]

    def scope(self, selection: Selection, kind: ScopeKind, scope_id: str, wants: _Needs) -> ScopeFacts:
        windows = {
            label: self._window(selection, label, window, wants, which) for label, window, which in self._windows(wants)
        }
        activity = self._activity(selection) if wants.activity else None
        return ScopeFacts(cloud=selection.cloud, kind=kind, id=scope_id, windows=windows, activity=activity)

    def _windows(self, wants: _Needs) -> list[tuple[str, Window, str]]:
        found: list[tuple[str, Window, str]] = []
        if wants.month or any(w == "month" for w, _, _ in wants.hours):
            found.append((self.period.label, self.period.window, "month"))
        if wants.week or any(w == "week" for w, _, _ in wants.hours):
            found += [(w.label, w.window, "week") for w in self.period.weeks()]
        return found

    def _window(self, selection: Selection, label: str, window: Window, wants: _Needs, kind: str) -> WindowFacts:
        metrics = wants.month if kind == "month" else wants.week
        hour_rules = sorted((m, k) for w, m, k in wants.hours if w == kind)
        aggregates = {m: self._aggregate(selection, m, window) for m in sorted({*metrics, *(m for m, _ in hour_rules)})}
        hours = []
        for metric, k in hour_rules:
            found = hours_above(self.conn, selection, metric, window, k)
            agg = aggregates[metric]
            hours.append(
                HoursAbove(
                    metric=metric,
                    k=k,
                    hours=found.hours,
                    hours_with_data=found.hours_with_data,
                    samples=agg.samples,
                    estimated=agg.estimated,
                    missing=agg.missing,
                )
            )
        return WindowFacts(
            label=label, start=window.start, end=window.end, metrics=aggregates, hours_above=tuple(hours)
        )

    def _aggregate(self, selection: Selection, metric: str, window: Window) -> Aggregate:
        got = summary(self.conn, selection, metric, window)
        return Aggregate(
            metric=metric,
            mean=got.mean,
            max=got.max,
            samples=got.samples,
            estimated=got.estimated,
            missing=got.missing,
            scopes=got.scopes,
            days=got.periods,
            unweighted=got.unweighted,
        )

    def _activity(self, selection: Selection) -> Activity:
        t = usage_daily
        mine = (selection.where(t), t.c.period < format_time(self.end))
        last_seen = self.conn.execute(select(func.max(t.c.period)).where(*mine)).scalar()
        measured_from = self.conn.execute(
            select(func.min(t.c.period)).where(*mine, t.c.metric.in_((*WRITES, *NETWORK)))
        ).scalar()
        active = [
            self.conn.execute(
                select(t.c.period)
                .where(*mine, t.c.metric.in_(metrics))
                .group_by(t.c.period)
                .having(func.sum(t.c.mean) > limit)
                .order_by(t.c.period.desc())
                .limit(1)
            ).scalar()
            for metrics, limit in (
                (WRITES, self.pack.activity.write_bytes_per_s),
                (NETWORK, self.pack.activity.network_bytes_per_s),
            )
        ]
        last_active = max((p for p in active if p is not None), default=None)
        return Activity(
            last_seen=_day(last_seen),
            last_active=_day(last_active),
            activity_from=_day(measured_from),
            observed_until=self._observed_until(selection.cloud),
        )

    def _observed_until(self, cloud: str) -> dt.date | None:
        if cloud not in self._observed:
            t = usage_daily
            newest = self.conn.execute(
                select(func.max(t.c.period)).where(t.c.cloud == cloud, t.c.period < format_time(self.end))
            ).scalar()
            self._observed[cloud] = _day(newest)
        return self._observed[cloud]


def _day(period: str | None) -> dt.date | None:
    """A daily rollup's period (the UTC start of a UTC+8 day) as that day."""
    return None if period is None else parse_time(period).astimezone(CST).date()
