"""Counting periods the way the Civil Code does (REGULATIONS.md §0).

Art. 201: a period in days, months or years starts the day after the event.
Art. 202: a period in months ends on the same-numbered day of the final month, or on that month's last day when it
is shorter. So a 3-month period from 2026-05-31 has its last day on 2026-08-31, and "more than one month" after a
reminder on 2026-07-20 is from 2026-08-21.
"""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same-numbered day ``months`` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def last_day_of_months(event: dt.date, months: int) -> dt.date:
    """Last day of a period of ``months`` months counted from ``event`` (art. 201-202)."""
    if months < 0:
        raise ValueError("a period cannot be negative")
    return add_months(event, months)


def last_day_of_days(event: dt.date, days: int) -> dt.date:
    """Last day of a period of ``days`` days counted from ``event``: it starts the day after (art. 201)."""
    if days < 0:
        raise ValueError("a period cannot be negative")
    return event + dt.timedelta(days=days)


def first_day_after_months(event: dt.date, months: int) -> dt.date:
    """First day that is *more than* ``months`` months after ``event``."""
    return last_day_of_months(event, months) + dt.timedelta(days=1)


def within_months(start: dt.date, end: dt.date, months: int) -> bool:
    """Whether a period from ``start`` (the event) to ``end`` (its last day) fits in ``months`` months."""
    return end <= last_day_of_months(start, months)
