"""Time is injected: code under test reads a Clock, never the wall clock directly.

Deadlines are dates in China Standard Time (UTC+8) whatever the server's time zone (REGULATIONS.md §0), so the
clock also answers "what date is it in Beijing".
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

CST = dt.timezone(dt.timedelta(hours=8), name="CST")


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that only moves when told to: for tests and replays."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> None:
        self._now += delta

    def set(self, when: dt.datetime) -> None:
        self._now = when.astimezone(dt.UTC)


def today_cst(clock: Clock) -> dt.date:
    """The calendar date in China Standard Time."""
    return clock.now().astimezone(CST).date()
