"""Working days with make-up days, and refusal of unknown years."""

import datetime as dt

import pytest

from controlplane.calendar import CalendarError, WorkingCalendar


def test_five_working_days_across_spring_festival() -> None:
    """REGULATIONS §0: 5 working days after Thursday 2026-02-12 end 2026-02-26 (Sat Feb 14 worked, Feb 15-23 off)."""
    assert WorkingCalendar().add_working_days(dt.date(2026, 2, 12), 5) == dt.date(2026, 2, 26)


def test_make_up_saturday_is_a_working_day() -> None:
    """Saturday 2026-02-14 is a make-up working day; Monday 2026-02-16 is a holiday."""
    cal = WorkingCalendar()
    assert cal.is_working_day(dt.date(2026, 2, 14))
    assert not cal.is_working_day(dt.date(2026, 2, 16))


def test_unpublished_year_is_refused_until_overridden() -> None:
    """A year the package has no adjustments for is refused with a clear error, unless declared known."""
    with pytest.raises(CalendarError, match="does not know 2031"):
        WorkingCalendar().add_working_days(dt.date(2031, 3, 2), 1)
    cal = WorkingCalendar(extra_holidays=[dt.date(2031, 3, 3)])
    assert cal.add_working_days(dt.date(2031, 3, 2), 1) == dt.date(2031, 3, 4)
