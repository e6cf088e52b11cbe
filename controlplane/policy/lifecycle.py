"""The findings state machine, as pure functions: which transition is allowed from which state, which escalation
step comes next, and on which day (UTC+8) it falls due.

States: open → reminded → urged → enforceable → enforced, with resolved (the unit fixed it, or an operator says so),
exempted (until a day, then back to the state it interrupted) and disputed (escalation paused until the dispute is
rejected, or the finding resolves) beside them. The escalation steps come from the rule (``EscalationStep``): each
waits ``after`` from the day of the previous step (or the opening) and moves the finding to ``to``; a rule may skip a
step (e.g. straight to enforceable) or have none (a notice-only outcome stays open).

Deadlines (``controlplane.policy.deadlines``): Chongqing 17 gives the unit 1 month from the reminder to reduce by
itself, then the authority urges, and more than 5 working days after the urging it may reduce directly. A finding's
``deadline`` is the last day (UTC+8) of the period it is in: a month counted the Civil Code way (a reminder on
2026-07-20 gives 2026-08-20), working days on the state calendar with its make-up days (an urging on Thursday
2026-02-12 gives 2026-02-26: Saturday Feb 14 is worked, Feb 15-23 are off). The next step is taken once the period
is over, the day after its deadline ("more than one month" after 2026-07-20 is from 2026-08-21, REGULATIONS.md §0);
a zero period (a reminder sent when the finding opens) on the day itself.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from controlplane.calendar import WorkingCalendar
from controlplane.policy import deadlines
from controlplane.policy.model import Duration, EscalationStep, FindingState

S = FindingState

# how far along the escalation a state is; the others are off the ladder
RANK: dict[FindingState, int] = {S.OPEN: 0, S.REMINDED: 1, S.URGED: 2, S.ENFORCEABLE: 3}
ACTIVE = frozenset(RANK)  # escalating (or waiting to): a CLEAR evaluation resolves these
LIVE = ACTIVE | {S.DISPUTED, S.EXEMPTED}  # not closed: evaluations refresh their evidence


class Transition(StrEnum):
    """What happened to a finding; the operation-log action is ``finding.<value>``."""

    OPEN = "open"
    REOPEN = "reopen"  # a resolved or enforced finding broken again: a new cycle
    REFRESH = "refresh"  # a newer evaluation's evidence, state unchanged
    REMIND = "remind"
    URGE = "urge"
    MAKE_ENFORCEABLE = "make-enforceable"
    EXEMPT = "exempt"
    EXPIRE_EXEMPTION = "expire-exemption"
    DISPUTE = "dispute"
    REJECT_DISPUTE = "reject-dispute"
    RESOLVE = "resolve"
    MARK_ENFORCED = "mark-enforced"


# the escalation transition that leads to each step's state
STEP_TRANSITION: dict[str, Transition] = {
    S.REMINDED: Transition.REMIND,
    S.URGED: Transition.URGE,
    S.ENFORCEABLE: Transition.MAKE_ENFORCEABLE,
}

# transitions an actor asks for, and the states they are allowed from
ALLOWED_FROM: dict[Transition, frozenset[FindingState]] = {
    Transition.REMIND: frozenset({S.OPEN}),
    Transition.URGE: frozenset({S.OPEN, S.REMINDED}),
    Transition.MAKE_ENFORCEABLE: frozenset({S.OPEN, S.REMINDED, S.URGED}),
    Transition.EXEMPT: ACTIVE | {S.DISPUTED},
    Transition.EXPIRE_EXEMPTION: frozenset({S.EXEMPTED}),
    Transition.DISPUTE: ACTIVE,
    Transition.REJECT_DISPUTE: frozenset({S.DISPUTED}),
    Transition.RESOLVE: ACTIVE | {S.DISPUTED},
    Transition.MARK_ENFORCED: frozenset({S.ENFORCEABLE}),
    Transition.REOPEN: frozenset({S.RESOLVED, S.ENFORCED}),
    Transition.REFRESH: LIVE,
}


class TransitionError(Exception):
    """A transition the finding's state does not allow; the message names both."""

    def __init__(self, finding: str, transition: Transition, state: FindingState) -> None:
        allowed = ", ".join(sorted(ALLOWED_FROM.get(transition, frozenset())))
        super().__init__(f"{finding}: cannot {transition} a finding that is {state} (only from: {allowed})")
        self.finding = finding
        self.transition = transition
        self.state = state


def check(finding: str, transition: Transition, state: FindingState) -> None:
    """Raise ``TransitionError`` unless ``transition`` is allowed from ``state``."""
    if state not in ALLOWED_FROM[transition]:
        raise TransitionError(finding, transition, state)


def next_step(steps: tuple[EscalationStep, ...], state: FindingState) -> EscalationStep | None:
    """The first step beyond ``state`` on the ladder, or None (at the top, off the ladder, or no steps)."""
    rank = RANK.get(state)
    if rank is None:
        return None
    for step in steps:
        if RANK[FindingState(step.to)] > rank:
            return step
    return None


def _zero(after: Duration) -> bool:
    return not any(v for v in (after.days, after.months, after.working_days))


def step_deadline(event: dt.date, after: Duration, calendar: WorkingCalendar) -> dt.date:
    """The last day (UTC+8) of a step's period counted from ``event``."""
    return event if _zero(after) else deadlines.deadline(event, after, calendar)


def step_due(deadline: dt.date, after: Duration) -> dt.date:
    """The day the step is taken: the day after its period's last day; a zero period on the day itself."""
    return deadline if _zero(after) else deadline + dt.timedelta(days=1)


def next_deadline(
    steps: tuple[EscalationStep, ...], state: FindingState, event: dt.date, calendar: WorkingCalendar
) -> dt.date | None:
    """The last day of the period a finding in ``state`` since ``event`` (a UTC+8 day) is in before its next step;
    None when it never moves by itself."""
    step = next_step(steps, state)
    return None if step is None else step_deadline(event, step.after, calendar)


def due_steps(
    steps: tuple[EscalationStep, ...],
    state: FindingState,
    deadline: dt.date | None,
    today: dt.date,
    calendar: WorkingCalendar,
) -> list[tuple[EscalationStep, dt.date | None]]:
    """The steps a finding takes on ``today``, each with the deadline of the period that follows it.

    Each step's period counts from the day it is taken (a tick on ``today``), so a missed tick delays the next
    step rather than stacking steps; only zero periods let two steps happen on the same day.
    """
    taken: list[tuple[EscalationStep, dt.date | None]] = []
    while deadline is not None:
        step = next_step(steps, state)
        if step is None or step_due(deadline, step.after) > today:
            break
        state = FindingState(step.to)
        deadline = next_deadline(steps, state, today, calendar)
        taken.append((step, deadline))
    return taken
