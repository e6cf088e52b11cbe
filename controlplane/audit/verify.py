"""Walk the chain and the checkpoints and say where the operation log was tampered with.

Kinds found: an edited event (its hash no longer matches), a deleted event (a gap in seq), events moved or swapped
(the chain's prev_hash breaks), a truncated tail (the head row or a signed checkpoint points past the last event),
a rewritten history (a signed checkpoint's hash differs from the event's), and a forged checkpoint (bad signature or
unknown key). Checkpoints archived off-box can be fed in to catch a rewrite of the whole database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controlplane.audit.chain import GENESIS, Event, event_hash
from controlplane.audit.signing import Checkpoint, key_id, signature_valid


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: str
    detail: str


@dataclass
class Report:
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def add(self, seq: int, kind: str, detail: str) -> None:
        self.problems.append(Problem(seq, kind, detail))


def verify(  # noqa: PLR0912 - one pass over the stream checks every tampering kind in order
    events: Iterable[Event],
    checkpoints: Iterable[Checkpoint],
    public: Ed25519PublicKey,
    head: tuple[int, str] | None,
) -> Report:
    report = Report()
    expected_key = key_id(public)
    valid: list[Checkpoint] = []
    for cp in checkpoints:
        report.checkpoints += 1
        if cp.key_id != expected_key or not signature_valid(public, cp):
            report.add(cp.seq, "forged-checkpoint", f"checkpoint at seq {cp.seq} ({cp.kind}) has no valid signature")
        else:
            valid.append(cp)
    anchors = {cp.seq: cp.event_hash for cp in valid if cp.kind == "anchor"}
    wanted = {cp.seq for cp in valid}
    seen_hash: dict[int, str] = {}

    prev_hash = GENESIS
    expected_seq: int | None = None
    for ev in events:
        if expected_seq is None:
            report.first_seq = ev.seq
            if ev.seq == 1:
                prev_hash = GENESIS
            elif anchors.get(ev.seq - 1) == ev.prev_hash:
                prev_hash = ev.prev_hash
            else:
                report.add(1, "deleted", f"events before seq {ev.seq} are missing and no anchor checkpoint covers it")
                prev_hash = ev.prev_hash
        elif ev.seq != expected_seq:
            report.add(expected_seq, "deleted", f"seq {expected_seq}..{ev.seq - 1} missing")
        if ev.prev_hash != prev_hash:
            report.add(ev.seq, "chain-broken", f"seq {ev.seq} does not follow the event before it")
        digest = event_hash(
            ev.seq, ev.time, ev.actor, ev.action, ev.target, ev.before, ev.after, ev.request_id, ev.prev_hash
        )
        if digest != ev.hash:
            report.add(ev.seq, "edited", f"seq {ev.seq} does not match its hash")
        if ev.seq in wanted:
            seen_hash[ev.seq] = ev.hash
        report.events += 1
        report.last_seq = ev.seq
        prev_hash = ev.hash
        expected_seq = ev.seq + 1

    last = report.last_seq or (report.first_seq or 1) - 1
    if head is None and report.events:
        report.add(last + 1, "truncated", "the log's head row is missing")
    if head is not None and head[0] != 0:
        if head[0] > last:
            report.add(last + 1, "truncated", f"the log's head says seq {head[0]} exists, the last event is {last}")
        elif head[0] == last and head[1] != prev_hash:
            report.add(last, "chain-broken", f"the log's head hash differs from event {last}")
    for cp in valid:
        if cp.seq > last:
            report.add(last + 1, "truncated", f"signed checkpoint at seq {cp.seq}, the last event is {last}")
        elif cp.seq in seen_hash and seen_hash[cp.seq] != cp.event_hash:
            report.add(cp.seq, "rewritten", f"event {cp.seq} differs from the signed checkpoint")
    return report
