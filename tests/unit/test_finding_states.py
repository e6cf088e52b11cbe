"""The findings state machine: every transition allowed or refused from every state, the next step, and the
deadlines of a Chongqing 17 escalation through a timeline (Civil Code months, working days with make-up days)."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.calendar import WorkingCalendar
from controlplane.policy import lifecycle
from controlplane.policy.lifecycle import ALLOWED_FROM, Transition, TransitionError
from controlplane.policy.model import Duration, EscalationStep, FindingState

S = FindingState
D = dt.date

CHONGQING_17 = (
    EscalationStep(to="reminded", after=Duration(days=0), citation="Chongqing art. 17"),
    EscalationStep(to="urged", after=Duration(months=1), citation="Chongqing art. 17"),
    EscalationStep(to="enforceable", after=Duration(working_days=5), citation="Chongqing art. 17"),
)

# the one table the lifecycle obeys, written out again by hand
EXPECTED: dict[Transition, set[FindingState]] = {
    Transition.REMIND: {S.OPEN},
    Transition.URGE: {S.OPEN, S.REMINDED},
    Transition.MAKE_ENFORCEABLE: {S.OPEN, S.REMINDED, S.URGED},
    Transition.EXEMPT: {S.OPEN, S.REMINDED, S.URGED, S.ENFORCEABLE, S.DISPUTED},
    Transition.EXPIRE_EXEMPTION: {S.EXEMPTED},
    Transition.DISPUTE: {S.OPEN, S.REMINDED, S.URGED, S.ENFORCEABLE},
    Transition.REJECT_DISPUTE: {S.DISPUTED},
    Transition.RESOLVE: {S.OPEN, S.REMINDED, S.URGED, S.ENFORCEABLE, S.DISPUTED},
    Transition.MARK_ENFORCED: {S.ENFORCEABLE},
    Transition.REOPEN: {S.RESOLVED, S.ENFORCED},
    Transition.REFRESH: {S.OPEN, S.REMINDED, S.URGED, S.ENFORCEABLE, S.DISPUTED, S.EXEMPTED},
}


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def test_the_table_covers_every_transition_but_open() -> None:
    """Every transition except the opening (which has no state before it) has its allowed states."""
    assert set(ALLOWED_FROM) == set(Transition) - {Transition.OPEN}
    assert {t: set(v) for t, v in ALLOWED_FROM.items()} == EXPECTED


@pytest.mark.parametrize("transition", sorted(EXPECTED))
@pytest.mark.parametrize("state", list(FindingState))
def test_each_transition_is_allowed_or_refused_from_each_state(transition: Transition, state: FindingState) -> None:
    """check() passes exactly for the allowed states and names the finding, transition and state otherwise."""
    if state in EXPECTED[transition]:
        lifecycle.check("f", transition, state)
        return
    with pytest.raises(TransitionError, match=f"f: cannot {transition} a finding that is {state}") as caught:
        lifecycle.check("f", transition, state)
    assert caught.value.state is state


def test_nothing_leaves_enforced_or_resolved_but_a_new_cycle() -> None:
    """Enforced and resolved findings only reopen (a new evaluation finds the rule broken again)."""
    for state in (S.ENFORCED, S.RESOLVED):
        assert {t for t, v in EXPECTED.items() if state in v} == {Transition.REOPEN}


def test_next_step_follows_the_ladder_and_skips_missing_steps() -> None:
    """The next step is the first beyond the state; an escalation without urging goes straight to enforceable."""
    assert lifecycle.next_step(CHONGQING_17, S.OPEN) == CHONGQING_17[0]
    assert lifecycle.next_step(CHONGQING_17, S.REMINDED) == CHONGQING_17[1]
    assert lifecycle.next_step(CHONGQING_17, S.URGED) == CHONGQING_17[2]
    assert lifecycle.next_step(CHONGQING_17, S.ENFORCEABLE) is None
    assert lifecycle.next_step(CHONGQING_17, S.EXEMPTED) is None
    short = (EscalationStep(to="enforceable", after=Duration(days=10)),)
    assert lifecycle.next_step(short, S.REMINDED) == short[0]
    assert lifecycle.next_step((), S.OPEN) is None


def test_more_than_one_month_after_a_reminder(calendar: WorkingCalendar) -> None:
    """A reminder on 2026-07-20: the month ends 2026-08-20, the urging is due from 2026-08-21 (REGULATIONS §0)."""
    deadline = lifecycle.next_deadline(CHONGQING_17, S.REMINDED, D(2026, 7, 20), calendar)
    assert deadline == D(2026, 8, 20)
    assert lifecycle.due_steps(CHONGQING_17, S.REMINDED, deadline, D(2026, 8, 20), calendar) == []
    taken = lifecycle.due_steps(CHONGQING_17, S.REMINDED, deadline, D(2026, 8, 21), calendar)
    assert [(s.to, d) for s, d in taken] == [("urged", D(2026, 8, 28))]


def test_five_working_days_after_urging_across_spring_festival(calendar: WorkingCalendar) -> None:
    """Urging on Thursday 2026-02-12: 5 working days end 2026-02-26 (Sat Feb 14 worked, Feb 15-23 off); the
    finding is still urged on the 26th and enforceable from the 27th ("more than 5 working days")."""
    deadline = lifecycle.next_deadline(CHONGQING_17, S.URGED, D(2026, 2, 12), calendar)
    assert deadline == D(2026, 2, 26)
    assert lifecycle.due_steps(CHONGQING_17, S.URGED, deadline, D(2026, 2, 26), calendar) == []
    taken = lifecycle.due_steps(CHONGQING_17, S.URGED, deadline, D(2026, 2, 27), calendar)
    assert [(s.to, d) for s, d in taken] == [("enforceable", None)]


def test_timeline_from_opening_to_enforceable(calendar: WorkingCalendar) -> None:
    """Opened and reminded 2026-07-20, urged 2026-08-21 (a Friday), 5 working days end Friday 2026-08-28,
    enforceable from 2026-08-29, each step on the first tick that finds it due."""
    state, deadline = S.OPEN, lifecycle.next_deadline(CHONGQING_17, S.OPEN, D(2026, 7, 20), calendar)
    assert deadline == D(2026, 7, 20)  # a zero period: the reminder goes out on the day the finding opens
    moves: list[tuple[dt.date, str, dt.date | None]] = []
    day = D(2026, 7, 20)
    while day <= D(2026, 9, 10):
        for step, following in lifecycle.due_steps(CHONGQING_17, state, deadline, day, calendar):
            state, deadline = FindingState(step.to), following
            moves.append((day, step.to, following))
        day += dt.timedelta(days=1)
    assert moves == [
        (D(2026, 7, 20), "reminded", D(2026, 8, 20)),
        (D(2026, 8, 21), "urged", D(2026, 8, 28)),
        (D(2026, 8, 29), "enforceable", None),
    ]


def test_a_missed_tick_delays_the_next_step_instead_of_stacking(calendar: WorkingCalendar) -> None:
    """A tick missed for weeks takes one step (the next period counts from the day it is taken); zero periods
    may follow each other on the same day."""
    taken = lifecycle.due_steps(CHONGQING_17, S.REMINDED, D(2026, 8, 20), D(2026, 10, 1), calendar)
    assert [(s.to, d) for s, d in taken] == [("urged", D(2026, 10, 13))]  # Oct 1-7 off, Saturday Oct 10 worked
    instant = (
        EscalationStep(to="reminded", after=Duration(days=0)),
        EscalationStep(to="enforceable", after=Duration(days=0)),
    )
    taken = lifecycle.due_steps(instant, S.OPEN, D(2026, 7, 20), D(2026, 7, 20), calendar)
    assert [s.to for s, _ in taken] == ["reminded", "enforceable"]


def test_exemption_expiry_counts_the_interrupted_period_again(calendar: WorkingCalendar) -> None:
    """An exemption of an urged finding ending Friday 2026-02-13 (its last day): 5 working days from then end
    2026-02-27 (Sat Feb 14 worked, Feb 15-23 off); a reminded one gets a new month from its last day."""
    assert lifecycle.next_deadline(CHONGQING_17, S.URGED, D(2026, 2, 13), calendar) == D(2026, 2, 27)
    assert lifecycle.next_deadline(CHONGQING_17, S.REMINDED, D(2026, 1, 31), calendar) == D(2026, 2, 28)
    assert lifecycle.next_deadline(CHONGQING_17, S.ENFORCEABLE, D(2026, 1, 31), calendar) is None


def test_a_step_in_a_year_the_calendar_does_not_know_is_refused() -> None:
    """Working days in an unpublished year are never guessed: the step cannot be dated."""
    from controlplane.calendar import CalendarError

    with pytest.raises(CalendarError):
        lifecycle.next_deadline(CHONGQING_17, S.URGED, D(2031, 3, 2), WorkingCalendar())
