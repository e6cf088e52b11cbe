"""What the engine evaluates: plain frozen data gathered before evaluation (``controlplane.policy.gather`` from the
store, ``controlplane.policy.cases`` from a case file), so an evaluation can be replayed from its facts alone.

Per system, per scope (the system's servers on a cloud together, or one server or namespace): for each window a
rule needs (the calendar month, the weeks ending in it; UTC+8) the aggregates of its metrics as ``usage_query``
answers them, with the samples, estimates and missing tries behind them; and for idle rules, the last day the scope
ran and the last day it was active, with how far the cloud's measurements reach.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from controlplane.domain import Frozen
from controlplane.usage_query import Window

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Week:
    """A Monday-to-Sunday week in China Standard Time, labelled the ISO way (``2026-W43``)."""

    monday: dt.date

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def window(self) -> Window:
        return Window.week(self.monday)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)


@dataclass(frozen=True)
class Month:
    """A calendar month in China Standard Time: the period monthly evaluation runs over."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = _MONTH.match(text.strip())
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"not a month: {text!r} (write 2026-10)")
        return cls(int(found.group(1)), int(found.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def window(self) -> Window:
        return Window.month(self.year, self.month)

    def weeks(self) -> list[Week]:
        """The weeks that end (their Sunday) in this month: each week is evaluated once, complete, in one month."""
        sunday = self.first_day + dt.timedelta(days=(6 - self.first_day.weekday()) % 7)
        found = []
        while sunday <= self.last_day:
            found.append(Week(sunday - dt.timedelta(days=6)))
            sunday += dt.timedelta(days=7)
        return found


class Aggregate(Frozen):
    """A metric over a window for one scope or a system's scopes together: ``usage_query.Summary`` as data."""

    metric: str
    mean: float | None = None
    max: float | None = None
    samples: int = Field(default=0, ge=0, description="samples with a value (measured or estimated)")
    estimated: int = Field(default=0, ge=0)
    missing: int = Field(default=0, ge=0, description="tries that measured nothing")
    scopes: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0, description="days of the window with samples")
    unweighted: int = Field(default=0, ge=0, description="scopes left out of a weighted mean: no capacity figure")


class HoursAbove(Frozen):
    """Hours of the window in which some scope had at least ``k`` samples of ``metric`` above 80%
    (``usage_query.hours_above``), with the samples behind the metric in the window."""

    metric: str
    k: int = Field(ge=1)
    hours: int = Field(ge=0)
    hours_with_data: int = Field(ge=0)
    samples: int = Field(default=0, ge=0)
    estimated: int = Field(default=0, ge=0)
    missing: int = Field(default=0, ge=0)


class WindowFacts(Frozen):
    label: str  # "2026-10" or "2026-W43"
    start: dt.datetime
    end: dt.datetime
    metrics: dict[str, Aggregate] = Field(default_factory=dict)
    hours_above: tuple[HoursAbove, ...] = ()

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)

    def hours(self, metric: str, k: int) -> HoursAbove | None:
        return next((h for h in self.hours_above if h.metric == metric and h.k == k), None)


class Activity(Frozen):
    """When a scope last ran and was last active, as UTC+8 days, up to the end of the evaluated period."""

    last_seen: dt.date | None = Field(description="last day with any sample: it ran (None: never seen)")
    last_active: dt.date | None = Field(description="last day with writes or network above the pack's thresholds")
    activity_from: dt.date | None = Field(description="first day writes/network were measured at all")
    observed_until: dt.date | None = Field(description="last day the cloud's measurements cover (any scope)")


class ScopeFacts(Frozen):
    cloud: str
    kind: Literal["system", "server", "namespace"]
    id: str  # the system key for kind system
    windows: dict[str, WindowFacts] = Field(default_factory=dict)  # by label
    activity: Activity | None = None


class SystemFacts(Frozen):
    key: str
    name: str = ""
    department: str = ""
    stable_since: dt.date | None = Field(default=None, description="the ledger's stable-since date")
    onboarded: dt.date | None = Field(default=None, description="first approval's effective date (the fallback)")
    approvals: tuple[str, ...] = Field(default=(), description="approval numbers in force at the period's end")
    scopes: tuple[ScopeFacts, ...] = ()


class Facts(Frozen):
    """Everything one evaluation rests on; its JSON is a replayable record."""

    pack: str
    period: str
    gathered_at: dt.datetime
    systems: tuple[SystemFacts, ...] = ()
