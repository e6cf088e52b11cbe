"""Working days (工作日) on the Chinese state calendar, with weekend make-up working days (调休).

The state council publishes each next year's holidays in winter; the ``holidays`` package carries the years it
has seen. A year without published adjustments is refused rather than guessed, since a wrong deadline can lead to a
wrong enforcement (REGULATIONS.md §0). Local announcements can be added as extra holidays and working days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import holidays


class CalendarError(Exception):
    """A date outside the years the calendar knows."""


class WorkingCalendar:
    def __init__(
        self,
        extra_holidays: Iterable[dt.date] = (),
        extra_workdays: Iterable[dt.date] = (),
        known_years: Iterable[int] = (),
    ) -> None:
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        self._declared = frozenset(known_years) | {d.year for d in (*self._extra_holidays, *self._extra_workdays)}
        self._years: dict[int, holidays.HolidayBase] = {}

    def _year(self, year: int) -> holidays.HolidayBase:
        if year not in self._years:
            cn = holidays.country_holidays("CN", years=year)
            published = any("substituted" in name.lower() for name in cn.values())
            if not published and year not in self._declared:
                raise CalendarError(
                    f"the working-day calendar does not know {year}: its holidays are not published in the "
                    "installed holidays package; add them to the calendar override file"
                )
            self._years[year] = cn
        return self._years[year]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        return bool(self._year(day.year).is_working_day(day))

    def add_working_days(self, event: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``event`` (the event's own day is not counted)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        day = event
        remaining = count
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day
