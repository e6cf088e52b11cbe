"""What must hold before anything of a system is wiped (Suining 16, Jiuquan 10(2)), as a pure check.

A wipe never starts before the transition's last day has passed (in China Standard Time), nor without the unit's
confirmation that migration and backup are done, nor without a second operator's approval given by someone other
than the operator who approved the case (the two-person rule). Each refusal says what is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlplane.termination.cases import Case


class GuardError(Exception):
    """The wipe (or a step of it) is refused; ``reasons`` lists every guard that failed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def two_person_refusal(approved_by: str | None, wipe_approver: str) -> str | None:
    """The wipe's approver must be another operator than the one who approved the case."""
    if approved_by is not None and wipe_approver == approved_by:
        return (
            f"two-person rule: the wipe must be approved by a second operator, not {wipe_approver!r} "
            "who approved the case"
        )
    return None


def wipe_refusals(case: Case, today: dt.date) -> list[str]:
    """Every reason the case's wipe may not start on ``today`` (UTC+8); empty when it may."""
    reasons: list[str] = []
    if case.transition_ends is None:
        reasons.append("the case is not approved: no transition period has started")
    elif today <= case.transition_ends:
        reasons.append(
            f"the transition period runs until {case.transition_ends} inclusive: "
            f"no wipe before {case.transition_ends + dt.timedelta(days=1)}"
        )
    if case.backup_confirmed_at is None or not case.backup_sha256:
        reasons.append("the unit has not confirmed migration and backup (terminate confirm-backup with evidence)")
    if case.wipe_approved_by is None:
        reasons.append("no second operator has approved the wipe (terminate approve-wipe)")
    else:
        refusal = two_person_refusal(case.approved_by, case.wipe_approved_by)
        if refusal:
            reasons.append(refusal)
    return reasons
