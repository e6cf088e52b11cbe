"""Rollups of the raw usage samples, and their retention.

Raw samples are kept a short time (``usage.raw_days``); what the rules and the monthly reports read are the rollups:
per scope, metric and hour (UTC), the mean, max and min of the samples with a value, how many there were (``n``),
how many of them were above 80% (percent metrics only: Bozhou 26 counts memory peaks above 80% within an hour;
"above" is strict, 80.0 is not above), how many were missing and how many were estimates. Daily rollups are built
from the hourly ones (the mean weighted by ``n``) per calendar day in China Standard Time, since months and deadlines
are counted there, with the day's hours (how many had a rollup, how many had at least ``HOT_K`` samples above 80%,
the first and last of those); a day's period is the UTC instant of its midnight in UTC+8. A day is rolled up once it
is over (and again when late samples change one of its hours), so the daily table holds complete days only; the day
still running is answered from the hourly rollups. With a day's daily rollups, ``usage_days`` gets one row a scope:
its group and its writes and network traffic that day (``summarise_days``), what the idle rules and the listing of
a project's servers read; ``usage_group_days`` the same added up a project.

Every rollup is one ``INSERT ... SELECT ... GROUP BY`` per run of consecutive hours (or per day) after deleting
what was there, so running it twice changes nothing. Which hours to (re)compute comes from a watermark, the
highest sample id already accounted for: samples that arrive late for an hour already rolled up have higher ids and
make that hour be computed again. An hour is rolled up only once it is complete (it ends at or before ``until``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Connection, Table, TextClause, delete, func, insert, select, text

from controlplane.audit.chain import format_time, parse_time
from controlplane.clock import CST
from controlplane.config import UsageSettings
from controlplane.store.tables import (
    usage_daily,
    usage_days,
    usage_group_days,
    usage_hourly,
    usage_rollup_state,
    usage_samples,
    usage_sweeps,
)

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
ABOVE = 80  # percent; Bozhou 26 counts memory peaks above 80% within one hour
HOT_K = 3  # ... "at least 3 times": a daily rollup counts its hours with that many (``usage_daily.hot_hours``)
STATE = "hourly"
# samples dated further ahead than this are a host clock gone wrong: they do not hold the watermark back
FUTURE_SLACK = dt.timedelta(hours=2)

# The statements are plain SQL both backends run alike; times are fixed-width UTC strings, so string order is time
# order and the hour of a sample is the first 13 characters of its time.
_HOURLY = text(
    """
INSERT INTO usage_hourly (cloud, scope_kind, scope_id, metric, period, group_id, mean, max, min,
                          n, n_above_80, n_missing, n_estimated)
SELECT cloud, scope_kind, scope_id, metric, substr(time, 1, 13) || ':00:00.000000Z', MAX(group_id),
       AVG(value), MAX(value), MIN(value), COUNT(value),
       SUM(CASE WHEN metric LIKE '%percent' AND value > :above THEN 1 ELSE 0 END),
       SUM(CASE WHEN quality = 'missing' THEN 1 ELSE 0 END),
       SUM(CASE WHEN quality = 'estimated' AND value IS NOT NULL THEN 1 ELSE 0 END)
FROM usage_samples
WHERE time >= :start AND time < :end
GROUP BY cloud, scope_kind, scope_id, metric, substr(time, 1, 13)
"""
)
_DAILY = text(
    """
INSERT INTO usage_daily (cloud, scope_kind, scope_id, metric, period, group_id, mean, max, min,
                         n, n_above_80, n_missing, n_estimated, hours, hot_hours, first_hot_hour, last_hot_hour)
SELECT cloud, scope_kind, scope_id, metric, CAST(:start AS VARCHAR(32)), MAX(group_id),
       SUM(mean * n) / NULLIF(SUM(n), 0), MAX(max), MIN(min), SUM(n),
       SUM(n_above_80), SUM(n_missing), SUM(n_estimated),
       COUNT(*), SUM(CASE WHEN n_above_80 >= :hot_k THEN 1 ELSE 0 END),
       MIN(CASE WHEN n_above_80 >= :hot_k THEN period END), MAX(CASE WHEN n_above_80 >= :hot_k THEN period END)
FROM usage_hourly
WHERE period >= :start AND period < :end
GROUP BY cloud, scope_kind, scope_id, metric
"""
)

WRITES = ("disk_write_bytes_per_s",)  # what a day's writes add up (Bozhou 26(二)3: no business data written)
NETWORK = ("net_rx_bytes_per_s", "net_tx_bytes_per_s")  # and its network traffic, received and sent
_ACTIVE = ", ".join(f"'{m}'" for m in (*WRITES, *NETWORK))
_DAYS = text(
    f"""
INSERT INTO usage_days (cloud, scope_kind, scope_id, period, group_id, writes, network, measured)
SELECT cloud, scope_kind, scope_id, period, MAX(group_id),
       SUM(CASE WHEN metric IN ({", ".join(f"'{m}'" for m in WRITES)}) THEN mean END),
       SUM(CASE WHEN metric IN ({", ".join(f"'{m}'" for m in NETWORK)}) THEN mean END),
       SUM(CASE WHEN metric IN ({_ACTIVE}) THEN 1 ELSE 0 END)
FROM usage_daily
WHERE period >= :start AND period < :end
GROUP BY cloud, scope_kind, scope_id, period
"""  # noqa: S608 - our own constant metric names
)

_GROUP_DAYS = text(
    """
INSERT INTO usage_group_days (cloud, scope_kind, group_id, period, writes, network, measured)
SELECT cloud, scope_kind, group_id, period, SUM(writes), SUM(network), SUM(measured)
FROM usage_days
WHERE period >= :start AND period < :end
GROUP BY cloud, scope_kind, group_id, period
"""
)


@dataclass(frozen=True)
class RollupResult:
    hours: int  # hours (re)computed
    hourly_rows: int
    days: int  # complete UTC+8 days (re)computed
    daily_rows: int


@dataclass(frozen=True)
class RetentionResult:
    samples: int
    hourly: int
    daily: int
    sweeps: int
    complete: bool = True  # False: only the oldest ``max_span`` of the samples due went; call again


# raw samples deleted per retention transaction: ~260,000 rows at 10,000 servers, a few seconds, so that a sweep
# waiting to write (SQLite allows one writer) is never kept out longer than its busy timeout
RETENTION_STEP = dt.timedelta(minutes=10)


def hour_start(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def cst_day_start(when: dt.datetime) -> dt.datetime:
    """The UTC instant of the midnight (UTC+8) that starts the China Standard Time day ``when`` falls in."""
    local = when.astimezone(CST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def runs(starts: Iterable[dt.datetime], step: dt.timedelta) -> list[tuple[dt.datetime, dt.datetime]]:
    """Consecutive period starts merged into [first, end) ranges: one statement per range."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start in sorted(set(starts)):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], start + step)
        else:
            merged.append((start, start + step))
    return merged


def roll_up(conn: Connection, until: dt.datetime, not_before: dt.datetime | None = None) -> RollupResult:
    """Compute the hourly rollups of every complete hour (ending at or before ``until``) that has samples not yet
    accounted for, then the daily rollups of the complete UTC+8 days those hours fall in and of the complete days
    not rolled up yet. Idempotent; runs in the caller's transaction. Hours starting before ``not_before`` are left
    as they are (their raw samples are gone: pass ``now - raw_days`` so a straggler cannot replace a full hour's
    rollup by a partial one)."""
    if conn.dialect.name == "postgresql":
        # wait for sample writers that took their ids before us, and keep a second rollup out (SQLite's
        # BEGIN IMMEDIATE already does both)
        conn.execute(text("LOCK TABLE usage_samples IN SHARE ROW EXCLUSIVE MODE"))
        # an hour of 10,000 servers is ~130,000 groups: aggregate them in memory rather than sort on disk (3x faster)
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
    cutoff = hour_start(until)
    floor = hour_start(not_before + HOUR - dt.timedelta(microseconds=1)) if not_before else None
    mark = conn.execute(select(usage_rollup_state.c.last_sample_id).where(usage_rollup_state.c.name == STATE))
    watermark = mark.scalar() or 0
    pending = usage_samples.c.id > watermark
    hour_of = func.substr(usage_samples.c.time, 1, 13)
    complete = [pending, usage_samples.c.time < format_time(cutoff)]
    if floor is not None:
        complete.append(usage_samples.c.time >= format_time(floor))
    hours = [parse_time(f"{h}:00:00.000000Z") for (h,) in conn.execute(select(hour_of).distinct().where(*complete))]
    hourly_rows = _recompute(conn, usage_hourly, _HOURLY, runs(hours, HOUR))
    days = _days_to_roll(conn, hours, cst_day_start(cutoff))
    daily_rows = sum(_recompute(conn, usage_daily, _DAILY, [(d, d + DAY)]) for d in days)
    for start, end in runs(days, DAY):
        summarise_days(conn, start, end)
    _advance(conn, watermark, cutoff, until)
    return RollupResult(len(hours), hourly_rows, len(days), daily_rows)


def summarise_days(conn: Connection, start: dt.datetime, end: dt.datetime) -> int:
    """Recompute ``usage_days`` (a scope's day: its group, writes, network) from the daily rollups of the days
    starting in [start, end), and ``usage_group_days`` (the same added up a group) from those; the scopes' rows
    written. ``roll_up`` calls it for the days it closes; call it after writing daily rollups any other way."""
    rows = _recompute(conn, usage_days, _DAYS, [(start, end)])
    _recompute(conn, usage_group_days, _GROUP_DAYS, [(start, end)])
    return rows


def _days_to_roll(conn: Connection, hours: Iterable[dt.datetime], running: dt.datetime) -> list[dt.datetime]:
    """Complete days (before the one starting at ``running``) with a recomputed hour, and every complete day with
    hourly rollups after the newest daily one (found from the distinct hour keys, not from rows)."""
    days = {cst_day_start(h) for h in hours}
    newest = conn.execute(select(func.max(usage_daily.c.period))).scalar()
    later = [usage_hourly.c.period < format_time(running)]
    if newest is not None:
        later.append(usage_hourly.c.period >= format_time(parse_time(newest) + DAY))
    keys = conn.execute(select(usage_hourly.c.period).distinct().where(*later)).scalars()
    days.update(cst_day_start(parse_time(k)) for k in keys)
    return sorted(d for d in days if d < running)


def _recompute(
    conn: Connection, table: Table, statement: TextClause, ranges: Sequence[tuple[dt.datetime, dt.datetime]]
) -> int:
    """Replace the rollup rows of each [start, end) range by what ``statement`` computes for it."""
    rows = 0
    for start, end in ranges:
        first, end_ = format_time(start), format_time(end)
        conn.execute(delete(table).where(table.c.period >= first, table.c.period < end_))
        rows += conn.execute(statement, {"start": first, "end": end_, "above": ABOVE, "hot_k": HOT_K}).rowcount
    return rows


def _advance(conn: Connection, watermark: int, cutoff: dt.datetime, until: dt.datetime) -> None:
    """Move the watermark to just below the first sample of the hour still running, else to the newest sample."""
    waiting = conn.execute(
        select(func.min(usage_samples.c.id)).where(
            usage_samples.c.id > watermark,
            usage_samples.c.time >= format_time(cutoff),
            usage_samples.c.time < format_time(until + FUTURE_SLACK),
        )
    ).scalar()
    if waiting is not None:
        new = int(waiting) - 1
    else:
        new = int(conn.execute(select(func.max(usage_samples.c.id))).scalar() or watermark)
    new = max(new, watermark)
    values = {"last_sample_id": new, "updated": format_time(until)}
    changed = conn.execute(
        usage_rollup_state.update().where(usage_rollup_state.c.name == STATE).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(usage_rollup_state).values(name=STATE, **values))


def apply_retention(
    conn: Connection, now: dt.datetime, settings: UsageSettings, max_span: dt.timedelta | None = None
) -> RetentionResult:
    """Delete raw samples and sweeps older than ``raw_days``, hourly rollups older than ``hourly_days`` and daily
    ones older than ``daily_days`` (by their time or period start: exactly at the cut is kept). With ``max_span``,
    only samples within that span of the oldest one go in this call (``complete`` False when more are due): call
    it in a transaction of its own until complete, to keep each short."""

    def cut(days: int) -> str:
        return format_time(now - dt.timedelta(days=days))

    raw = cut(settings.raw_days)
    samples_cut, complete = raw, True
    if max_span is not None:
        oldest = conn.execute(select(func.min(usage_samples.c.time))).scalar()
        if oldest is not None and format_time(parse_time(oldest) + max_span) < raw:
            samples_cut, complete = format_time(parse_time(oldest) + max_span), False
    for summary in (usage_days, usage_group_days):  # the days' summaries
        conn.execute(delete(summary).where(summary.c.period < cut(settings.daily_days)))
    return RetentionResult(
        samples=conn.execute(delete(usage_samples).where(usage_samples.c.time < samples_cut)).rowcount,
        hourly=conn.execute(delete(usage_hourly).where(usage_hourly.c.period < cut(settings.hourly_days))).rowcount,
        daily=conn.execute(delete(usage_daily).where(usage_daily.c.period < cut(settings.daily_days))).rowcount,
        sweeps=conn.execute(delete(usage_sweeps).where(usage_sweeps.c.started < raw)).rowcount,
        complete=complete,
    )


def retention_steps(
    begin: Callable[[], AbstractContextManager[Connection]], now: dt.datetime, settings: UsageSettings
) -> RetentionResult:
    """``apply_retention`` in short transactions (``begin`` opens one: ``engine.begin``) of ``RETENTION_STEP`` of
    samples each, until everything due is gone; the counts added up."""
    total = RetentionResult(0, 0, 0, 0)
    while True:
        with begin() as conn:
            step = apply_retention(conn, now, settings, RETENTION_STEP)
        total = RetentionResult(
            total.samples + step.samples,
            total.hourly + step.hourly,
            total.daily + step.daily,
            total.sweeps + step.sweeps,
        )
        if step.complete:
            return total
