"""What a regulation pack says about terminating a system (the pack's ``termination:`` section).

Suining 16 is the only text with figures: the request within one month of stopping use, then a transition of three
months to migrate off and back up, after which data is cleared and resources reclaimed; late units are reported to
audit and finance. The other cities name the steps without periods, so their packs carry a conservative default
and say so in ``citation``. Periods are counted the Civil Code way (``controlplane.periods``).
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from controlplane.domain import Frozen
from controlplane.periods import last_day_of_months


class TerminationTerms(Frozen):
    """The periods of a termination case, with the articles they come from."""

    request_within_months: int | None = Field(
        default=None,
        ge=0,
        le=24,
        description="months after the system stopped being used within which the request is due; None: no limit",
    )
    transition_months: int = Field(
        default=3, ge=0, le=24, description="months from the approval to migrate off and back up before any wipe"
    )
    reminder_days: tuple[int, ...] = Field(
        default=(30, 7, 1), description="days before the transition's last day on which the unit is reminded"
    )
    billing_ends: str = Field(
        default="offline",
        pattern=r"^(offline|confirmed)$",
        description="offline: the day the system went offline (wipe start); confirmed: the day reclaim is confirmed",
    )
    citation: str = Field(default="", description="the articles these figures come from, or why a default")

    def transition_last_day(self, approved_on: dt.date) -> dt.date:
        """Last day of the transition approved on ``approved_on`` (Civil Code arts. 201-202)."""
        return last_day_of_months(approved_on, self.transition_months)

    def request_deadline(self, stopped_use_on: dt.date) -> dt.date | None:
        """Last day the request was due for a system no longer used since ``stopped_use_on``; None: no limit."""
        if self.request_within_months is None:
            return None
        return last_day_of_months(stopped_use_on, self.request_within_months)

    def is_late(self, stopped_use_on: dt.date | None, requested_on: dt.date) -> bool:
        """A request after the pack's deadline (Suining 16: reported to audit and finance)."""
        if stopped_use_on is None:
            return False
        deadline = self.request_deadline(stopped_use_on)
        return deadline is not None and requested_on > deadline
