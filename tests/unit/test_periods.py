"""Civil Code period counting (REGULATIONS.md §0)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from controlplane.periods import add_months, first_day_after_months, last_day_of_days, last_day_of_months


def test_three_month_transition_from_may_31_ends_august_31() -> None:
    """The regulation's own example: approved 2026-05-31, last day of 3 months is 2026-08-31."""
    assert last_day_of_months(dt.date(2026, 5, 31), 3) == dt.date(2026, 8, 31)


def test_more_than_one_month_after_a_reminder() -> None:
    """A reminder on 2026-07-20: 'more than one month' is from 2026-08-21."""
    assert first_day_after_months(dt.date(2026, 7, 20), 1) == dt.date(2026, 8, 21)


def test_month_end_clamps_to_shorter_month() -> None:
    """Jan 31 + 1 month is the last day of February, in common and leap years."""
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


def test_day_periods_start_the_day_after() -> None:
    """A 10-day period from the 1st has its last day on the 11th."""
    assert last_day_of_days(dt.date(2026, 3, 1), 10) == dt.date(2026, 3, 11)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)), st.integers(0, 60))
def test_add_months_lands_in_the_right_month_never_later_day(day: dt.date, months: int) -> None:
    """Adding months lands in the target month, on the same day or the month's last day."""
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day <= day.day
    if result.day < day.day:
        assert (result + dt.timedelta(days=1)).month != result.month
