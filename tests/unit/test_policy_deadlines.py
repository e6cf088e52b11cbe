"""Deadlines in UTC+8 dates: months the Civil Code way, working days on the state calendar with make-up days and the
deployment's override file; a year the calendar does not know is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from controlplane.calendar import CalendarError, WorkingCalendar
from controlplane.policy.deadlines import CalendarFileError, cst_date, deadline, due, load_calendar, timeline
from controlplane.policy.model import Duration, EscalationStep

CAL = WorkingCalendar()
D = dt.date


@pytest.mark.parametrize(
    ("event", "period", "last", "first"),
    [
        # REGULATIONS §0: urging on Thursday 2026-02-12, Sat Feb 14 worked, Feb 15-23 off
        (D(2026, 2, 12), Duration(working_days=5), D(2026, 2, 26), D(2026, 2, 27)),
        # National Day 2026: Oct 1-7 off, Sat Oct 10 worked
        (D(2026, 9, 30), Duration(working_days=5), D(2026, 10, 13), D(2026, 10, 14)),
        (D(2026, 9, 30), Duration(working_days=3), D(2026, 10, 10), D(2026, 10, 11)),
        # a Friday: the weekend does not count
        (D(2026, 11, 6), Duration(working_days=1), D(2026, 11, 9), D(2026, 11, 10)),
        # month ends: Jan 31 + 1 month is Feb 28; a 3-month transition from May 31 ends Aug 31
        (D(2026, 1, 31), Duration(months=1), D(2026, 2, 28), D(2026, 3, 1)),
        (D(2026, 5, 31), Duration(months=3), D(2026, 8, 31), D(2026, 9, 1)),
        # "more than one month" after a reminder on 2026-07-20 is from 2026-08-21
        (D(2026, 7, 20), Duration(months=1), D(2026, 8, 20), D(2026, 8, 21)),
        (D(2026, 7, 20), Duration(days=10), D(2026, 7, 30), D(2026, 7, 31)),
        # a zero period is due the same day
        (D(2026, 7, 20), Duration(days=0), D(2026, 7, 20), D(2026, 7, 20)),
    ],
)
def test_deadline_and_due(event: dt.date, period: Duration, last: dt.date, first: dt.date) -> None:
    """The period's last day, and the first day after it (the text's "more than")."""
    assert (deadline(event, period, CAL), due(event, period, CAL)) == (last, first)


def test_chongqing_escalation_from_a_reminder() -> None:
    """Reminder on 2026-07-20; urged from 2026-08-21; urged late on Thursday 2026-02-12 style: from the day taken."""
    steps = [
        EscalationStep(to="reminded", after=Duration(days=0)),
        EscalationStep(to="urged", after=Duration(months=1)),
        EscalationStep(to="enforceable", after=Duration(working_days=5)),
    ]
    dates = timeline(D(2026, 7, 20), steps, CAL)
    assert [(s.to, s.deadline, s.due) for s in dates] == [
        ("reminded", D(2026, 7, 20), D(2026, 7, 20)),
        ("urged", D(2026, 8, 20), D(2026, 8, 21)),
        ("enforceable", D(2026, 8, 28), D(2026, 8, 29)),
    ]
    late = timeline(D(2026, 1, 10), steps, CAL, taken={"urged": D(2026, 2, 12)})
    assert (late[2].event, late[2].deadline) == (D(2026, 2, 12), D(2026, 2, 26))


def test_a_year_the_calendar_does_not_know_is_refused() -> None:
    """2031 has no published adjustments: a working-day deadline there is refused, not guessed."""
    with pytest.raises(CalendarError, match="does not know 2031"):
        deadline(D(2031, 3, 3), Duration(working_days=2), CAL)
    assert deadline(D(2031, 3, 3), Duration(months=1), CAL) == D(2031, 4, 3)  # months need no calendar


def test_override_file_adds_local_announcements_and_known_years(tmp_path: Path) -> None:
    """A local holiday and a make-up day move the deadline; known_years lets a year be counted."""
    path = tmp_path / "calendar.yaml"
    path.write_text("holidays: [2026-11-09]\nworkdays: [2026-11-07]\nknown_years: [2031]\n", encoding="utf-8")
    cal = load_calendar(path)
    # Fri Nov 6: Sat Nov 7 worked (1), Mon Nov 9 off, Tue Nov 10 (2)
    assert deadline(D(2026, 11, 6), Duration(working_days=2), cal) == D(2026, 11, 10)
    assert deadline(D(2031, 3, 3), Duration(working_days=1), cal) == D(2031, 3, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("holidays: [2027-13-01]\n", r"holidays\[0\]: not a date: '2027-13-01'"),
        ("holiday: [2027-01-01]\n", "holiday: unknown key"),
        ("known_years: [twenty]\n", "known_years: a list of years"),
        ("holidays: [2027-01-04]\nworkdays: [2027-01-04]\n", "2027-01-04 is listed both"),
        ("holidays: [2027-01-04\n", "not valid YAML"),
    ],
)
def test_a_bad_override_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Every problem of the override file names the file and the key."""
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarFileError, match=message) as err:
        load_calendar(path)
    assert str(path) in str(err.value)


def test_deadline_dates_are_in_china_standard_time() -> None:
    """An event at 17:00 UTC on Feb 11 is Feb 12 in Beijing."""
    assert cst_date(dt.datetime(2026, 2, 11, 17, 0, tzinfo=dt.UTC)) == D(2026, 2, 12)
