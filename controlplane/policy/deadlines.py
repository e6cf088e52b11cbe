"""Deadlines of escalation steps: a ``Duration`` counted from an event day, in China Standard Time.

Days and months count the Civil Code way (``controlplane.periods``, REGULATIONS.md §0): the period starts the day
after the event, a period in months ends on the same-numbered day of its last month or that month's last day. Working
days follow the state calendar with its make-up days (``controlplane.calendar``), plus the deployment's override
file; a year the calendar does not know is refused (``CalendarError``), never guessed.

Two answers per period:

- ``deadline``: its last day. 5 working days after an urging on Thursday 2026-02-12 end on 2026-02-26; one month
  from 2026-01-31 ends on 2026-02-28; a 3-month transition approved on 2026-05-31 ends on 2026-08-31.
- ``due``: the first day the next step may be taken, when the text says "more than" the period (超过, Chongqing 17):
  the day after the deadline, so "more than one month" after a reminder on 2026-07-20 is from 2026-08-21. A zero
  period is due on the event's own day (a reminder sent when the finding opens).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST
from controlplane.periods import last_day_of_days, last_day_of_months
from controlplane.policy.model import Duration, EscalationStep


class CalendarFileError(Exception):
    """The calendar override file cannot be used; the message names the file and key."""


def deadline(event: dt.date, period: Duration, calendar: WorkingCalendar) -> dt.date:
    """The last day (UTC+8) of ``period`` counted from ``event``."""
    if period.working_days is not None:
        return calendar.add_working_days(event, period.working_days)
    if period.months is not None:
        return last_day_of_months(event, period.months)
    if period.days is not None:
        return last_day_of_days(event, period.days)
    raise ValueError("a period needs days, months or working_days")


def due(event: dt.date, period: Duration, calendar: WorkingCalendar) -> dt.date:
    """The first day after ``period`` counted from ``event`` ("more than" the period); a zero period: ``event``."""
    if not any(v for v in (period.days, period.months, period.working_days)):
        return event
    return deadline(event, period, calendar) + dt.timedelta(days=1)


def cst_date(when: dt.datetime) -> dt.date:
    """The date in China Standard Time of an aware moment: deadlines are UTC+8 dates whatever the server's zone."""
    if when.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return when.astimezone(CST).date()


@dataclass(frozen=True)
class StepDate:
    to: str
    event: dt.date  # the day it counts from: the previous step's (or the opening)
    deadline: dt.date  # last day of its period
    due: dt.date  # the first day it may be taken


def timeline(
    opened: dt.date,
    steps: Sequence[EscalationStep],
    calendar: WorkingCalendar,
    taken: Mapping[str, dt.date] | None = None,
) -> list[StepDate]:
    """Each step's dates when every step is taken as soon as it is due, or on the day ``taken`` says (a step taken
    later moves the ones after it)."""
    taken = taken or {}
    dates: list[StepDate] = []
    event = opened
    for step in steps:
        last = deadline(event, step.after, calendar)
        first = due(event, step.after, calendar)
        dates.append(StepDate(step.to, event, last, first))
        event = taken.get(step.to, first)
    return dates


# -- the calendar override file -----------------------------------------------------------------------------------


def load_calendar(path: Path | None) -> WorkingCalendar:
    """The working-day calendar: the ``holidays`` package's state calendar, plus the override file's local
    announcements (YAML: ``holidays: [dates]``, ``workdays: [dates]``, ``known_years: [years]``)."""
    if path is None:
        return WorkingCalendar()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506 - strings only
    except OSError as exc:
        raise CalendarFileError(f"{path}: cannot read the calendar file: {exc.strerror}") from exc
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise CalendarFileError(f"{path}{line}: not valid YAML: {exc.problem}") from exc
    data = data or {}
    if not isinstance(data, dict):
        raise CalendarFileError(f"{path}: a mapping of holidays:, workdays:, known_years: is expected")
    unknown = sorted(set(data) - {"holidays", "workdays", "known_years"})
    if unknown:
        raise CalendarFileError(f"{path}: {unknown[0]}: unknown key (holidays, workdays, known_years)")
    days = {key: _dates(path, key, data.get(key)) for key in ("holidays", "workdays")}
    both = sorted(set(days["holidays"]) & set(days["workdays"]))
    if both:
        raise CalendarFileError(f"{path}: {both[0]} is listed both as a holiday and as a working day")
    years = data.get("known_years") or []
    if not isinstance(years, list) or not all(isinstance(y, str) and y.isdigit() and len(y) == 4 for y in years):
        raise CalendarFileError(f"{path}: known_years: a list of years, e.g. [2027]")
    return WorkingCalendar(days["holidays"], days["workdays"], [int(y) for y in years])


def _dates(path: Path, key: str, value: object) -> list[dt.date]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CalendarFileError(f"{path}: {key}: a list of dates (YYYY-MM-DD)")
    found: list[dt.date] = []
    for index, item in enumerate(value):
        try:
            found.append(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise CalendarFileError(f"{path}: {key}[{index}]: not a date: {item!r} (write 2027-02-10)") from None
    return found
