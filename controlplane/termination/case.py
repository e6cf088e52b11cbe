"""The termination case's states and the moves between them, as a pure table.

::

    requested ──approve──► approved ──confirm-backup──► backup-confirmed ──approve-wipe──► wipe-approved
        │                     │ (transition running)          │                                 │ run
        └─refuse─► refused    └──────────── cancel ───────────┴──────────► cancelled           ▼
                                                                                              wiping
    closed ◄──certificate── reclaimed ◄──final reconcile clean── wiped ◄──every step done──────┘

A case that is ``wiped`` but whose final reconcile still sees something of the system stays ``wiped`` with the
leftovers listed (reclaim pending); the next ``run`` wipes what appeared and reconciles again.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # the transition period runs from the approval
    BACKUP_CONFIRMED = "backup-confirmed"  # the unit confirmed migration and backup, with evidence
    WIPE_APPROVED = "wipe-approved"  # a second operator approved the wipe (two-person rule)
    WIPING = "wiping"
    WIPED = "wiped"  # every step done; reclaim pending until the final reconcile is clean
    RECLAIMED = "reclaimed"  # final reconcile clean; billing end recorded
    CLOSED = "closed"  # certificate issued
    CANCELLED = "cancelled"
    REFUSED = "refused"


class Move(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"
    CANCEL = "cancel"
    CONFIRM_BACKUP = "confirm-backup"
    APPROVE_WIPE = "approve-wipe"
    START_WIPE = "start-wipe"
    RESUME_WIPE = "resume-wipe"  # a rerun found new targets after the wipe had finished (reclaim pending)
    FINISH_WIPE = "finish-wipe"
    RECLAIM = "reclaim"
    CLOSE = "close"


OPEN_STATES = frozenset(CaseState) - {CaseState.CLOSED, CaseState.CANCELLED, CaseState.REFUSED}

_MOVES: dict[Move, tuple[frozenset[CaseState], CaseState]] = {
    Move.APPROVE: (frozenset({CaseState.REQUESTED}), CaseState.APPROVED),
    Move.REFUSE: (frozenset({CaseState.REQUESTED}), CaseState.REFUSED),
    Move.CANCEL: (
        frozenset({CaseState.REQUESTED, CaseState.APPROVED, CaseState.BACKUP_CONFIRMED, CaseState.WIPE_APPROVED}),
        CaseState.CANCELLED,
    ),
    Move.CONFIRM_BACKUP: (frozenset({CaseState.APPROVED}), CaseState.BACKUP_CONFIRMED),
    Move.APPROVE_WIPE: (frozenset({CaseState.BACKUP_CONFIRMED}), CaseState.WIPE_APPROVED),
    Move.START_WIPE: (frozenset({CaseState.WIPE_APPROVED}), CaseState.WIPING),
    Move.RESUME_WIPE: (frozenset({CaseState.WIPED}), CaseState.WIPING),
    Move.FINISH_WIPE: (frozenset({CaseState.WIPING}), CaseState.WIPED),
    Move.RECLAIM: (frozenset({CaseState.WIPED}), CaseState.RECLAIMED),
    Move.CLOSE: (frozenset({CaseState.RECLAIMED}), CaseState.CLOSED),
}


class CaseStateError(Exception):
    """A move the case's state does not allow; the message says which states would."""


def allowed_from(move: Move) -> frozenset[CaseState]:
    return _MOVES[move][0]


def advance(state: CaseState, move: Move) -> CaseState:
    """The state after ``move``; ``CaseStateError`` when ``state`` does not allow it."""
    sources, target = _MOVES[move]
    if state not in sources:
        wanted = ", ".join(sorted(s.value for s in sources))
        raise CaseStateError(f"cannot {move.value} a case that is {state.value} (only when {wanted})")
    return target
