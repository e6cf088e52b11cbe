"""The termination case without a store: its state machine, the pack's periods counted the Civil Code way (Suining
16), the late flag, the guards a wipe must pass (each refusal with its reason) and the reminders due before the
transition ends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controlplane.policy.explain import termination_text
from controlplane.policy.packs import load_pack
from controlplane.termination.case import CaseState, CaseStateError, Move, advance
from controlplane.termination.cases import Case
from controlplane.termination.guards import two_person_refusal, wipe_refusals
from controlplane.termination.reminders import due_reminders
from controlplane.termination.terms import TerminationTerms

SUINING = load_pack("suining").termination
T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def case(**values: Any) -> Case:
    base: dict[str, Any] = {
        "id": 1,
        "system": "ZW-001",
        "unit": "市政务服务数据管理局",
        "state": CaseState.WIPE_APPROVED,
        "reason": "migrated",
        "stopped_use_on": None,
        "late": False,
        "requested_by": "operator:a",
        "requested_at": T0,
        "approved_by": "operator:b",
        "approved_at": T0,
        "transition_ends": dt.date(2027, 2, 28),
        "backup_confirmed_by": "unit:x",
        "backup_confirmed_at": T0,
        "backup_name": "backup.pdf",
        "backup_sha256": "a" * 64,
        "backup_size": 10,
        "wipe_approved_by": "operator:c",
        "wipe_approved_at": T0,
        "wipe_started_at": None,
        "wiped_at": None,
        "reclaimed_at": None,
        "billing_end": None,
        "closed_at": None,
        "updated_at": T0,
    }
    return Case.model_validate(base | values)


def test_the_whole_path_in_order() -> None:
    """requested → approved → backup-confirmed → wipe-approved → wiping → wiped → reclaimed → closed."""
    state = CaseState.REQUESTED
    moves = [Move.APPROVE, Move.CONFIRM_BACKUP, Move.APPROVE_WIPE, Move.START_WIPE, Move.FINISH_WIPE]
    for m in [*moves, Move.RECLAIM, Move.CLOSE]:
        state = advance(state, m)
    assert state is CaseState.CLOSED


@pytest.mark.parametrize(
    ("state", "move", "message"),
    [
        (CaseState.REQUESTED, Move.APPROVE_WIPE, "cannot approve-wipe a case that is requested"),
        (CaseState.APPROVED, Move.APPROVE_WIPE, "only when backup-confirmed"),
        (CaseState.WIPING, Move.CANCEL, "cannot cancel a case that is wiping"),
        (CaseState.CLOSED, Move.APPROVE, "cannot approve a case that is closed"),
        (CaseState.WIPED, Move.CLOSE, "only when reclaimed"),
    ],
)
def test_moves_the_state_does_not_allow_are_refused(state: CaseState, move: Move, message: str) -> None:
    """A move out of order is refused naming the states that would allow it."""
    with pytest.raises(CaseStateError, match=message):
        advance(state, move)


def test_a_finished_wipe_resumes_when_new_targets_appear() -> None:
    """wiped (reclaim pending) → wiping again when a rerun finds something new."""
    assert advance(CaseState.WIPED, Move.RESUME_WIPE) is CaseState.WIPING


@pytest.mark.parametrize(
    ("approved", "last_day"),
    [
        (dt.date(2026, 11, 30), dt.date(2027, 2, 28)),  # Feb is shorter: its last day (art. 202)
        (dt.date(2027, 11, 30), dt.date(2028, 2, 29)),  # leap year
        (dt.date(2026, 5, 31), dt.date(2026, 8, 31)),  # REGULATIONS.md §0's example
        (dt.date(2026, 1, 15), dt.date(2026, 4, 15)),
        (dt.date(2027, 11, 29), dt.date(2028, 2, 29)),
    ],
)
def test_suining_transition_is_three_months_by_the_civil_code(approved: dt.date, last_day: dt.date) -> None:
    """The transition's last day is the same-numbered day three months on, or that month's last day."""
    assert SUINING.transition_last_day(approved) == last_day


def test_late_is_a_request_after_one_month_from_stopping_use() -> None:
    """Stopped Jan 31: the request is due by Feb 28; Mar 1 is late (Suining 16); no stopped-use date, never late."""
    stopped = dt.date(2026, 1, 31)
    assert SUINING.request_deadline(stopped) == dt.date(2026, 2, 28)
    assert not SUINING.is_late(stopped, dt.date(2026, 2, 28))
    assert SUINING.is_late(stopped, dt.date(2026, 3, 1))
    assert not SUINING.is_late(None, dt.date(2030, 1, 1))


def test_packs_without_a_request_deadline_never_flag_late() -> None:
    """Bozhou, Chongqing and Jiuquan set no deadline: their packs say why and keep a 3-month transition."""
    for name in ("bozhou", "chongqing", "jiuquan"):
        terms = load_pack(name).termination
        assert terms.request_within_months is None
        assert not terms.is_late(dt.date(2020, 1, 1), dt.date(2026, 1, 1))
        assert terms.transition_months == 3
        assert terms.citation
    assert SUINING.request_within_months == 1
    assert "16" in SUINING.citation


def test_a_wipe_may_start_only_the_day_after_the_transition() -> None:
    """On the transition's last day the wipe is refused with the first allowed day; the next day it may start."""
    ready = case()
    [why] = wipe_refusals(ready, dt.date(2027, 2, 28))
    assert why == "the transition period runs until 2027-02-28 inclusive: no wipe before 2027-03-01"
    assert wipe_refusals(ready, dt.date(2027, 3, 1)) == []


def test_a_wipe_without_backup_confirmation_is_refused() -> None:
    """No confirmation with evidence: refused, saying which command records it."""
    reasons = wipe_refusals(case(backup_confirmed_at=None, backup_sha256=None), dt.date(2027, 3, 1))
    assert reasons == ["the unit has not confirmed migration and backup (terminate confirm-backup with evidence)"]


def test_a_wipe_without_a_second_approval_is_refused() -> None:
    """No second operator's approval: refused."""
    reasons = wipe_refusals(case(wipe_approved_by=None), dt.date(2027, 3, 1))
    assert reasons == ["no second operator has approved the wipe (terminate approve-wipe)"]


def test_the_two_person_rule_refuses_the_case_approver() -> None:
    """The operator who approved the case cannot also approve its wipe; another operator can."""
    assert "two-person rule" in (two_person_refusal("operator:b", "operator:b") or "")
    assert two_person_refusal("operator:b", "operator:c") is None
    reasons = wipe_refusals(case(wipe_approved_by="operator:b"), dt.date(2027, 3, 1))
    assert len(reasons) == 1
    assert "not 'operator:b' who approved the case" in reasons[0]


def test_an_unapproved_case_lists_every_missing_guard() -> None:
    """Nothing done yet: every guard is named."""
    bare = case(
        transition_ends=None, backup_confirmed_at=None, backup_sha256=None, wipe_approved_by=None, approved_by=None
    )
    assert len(wipe_refusals(bare, dt.date(2027, 3, 1))) == 3


def test_reminders_are_due_once_each_at_30_7_and_1_days() -> None:
    """31 days left: nothing; 30: the 30-day one; 7 after the 30 was sent: the 7-day one; sent ones are not again;
    a case first seen 5 days before the end gets one reminder (7), not also the missed 30-day one."""
    terms = TerminationTerms(reminder_days=(30, 7, 1))
    running = case(state=CaseState.APPROVED, transition_ends=dt.date(2027, 2, 28))
    end = dt.date(2027, 2, 28)
    assert due_reminders([running], end - dt.timedelta(days=31), terms) == []
    [first] = due_reminders([running], end - dt.timedelta(days=30), terms)
    assert first.days == 30
    sent = case(state=CaseState.APPROVED, transition_ends=end, reminders=(30,))
    assert due_reminders([sent], end - dt.timedelta(days=20), terms) == []
    [second] = due_reminders([sent], end - dt.timedelta(days=7), terms)
    assert second.days == 7
    [late] = due_reminders([running], end - dt.timedelta(days=5), terms)
    assert (late.days, late.covers) == (7, (30, 7))
    assert due_reminders([running], end + dt.timedelta(days=1), terms) == []
    assert due_reminders([case(transition_ends=end)], end, terms) == []  # wipe approved: no longer reminded


def test_policy_explain_states_the_termination_terms() -> None:
    """`policy explain` says the request deadline (or that there is none) and the transition, in zh and en."""
    assert termination_text(load_pack("suining"), "zh").startswith(
        "服务终止：停止使用后 1 个月内申请，逾期通报审计和财政"
    )
    assert termination_text(load_pack("bozhou"), "en").startswith(
        "Termination: no request deadline; a 3-month transition after approval before any wipe (Bozhou art. 23"
    )
