"""The hash chain and its verification, on events held in memory: every kind of tampering is found."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane.audit.chain import GENESIS, Event, canonical_json, event_hash
from controlplane.audit.signing import Signer
from controlplane.audit.verify import verify


def make_chain(n: int) -> list[Event]:
    events: list[Event] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        time = f"2026-11-20T02:00:{seq % 60:02d}.000000Z"
        before = canonical_json({"quota": seq})
        after = canonical_json({"quota": seq + 1, "单位": "市公安局"})
        digest = event_hash(seq, time, "operator:li", "ledger.change", f"system:S{seq}", before, after, "req", prev)
        events.append(
            Event(
                seq,
                time,
                "operator:li",
                "ledger.change",
                f"system:S{seq}",
                before,
                after,
                "req",
                prev,
                digest,
            )
        )
        prev = digest
    return events


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def head_of(events: list[Event]) -> tuple[int, str]:
    return events[-1].seq, events[-1].hash


def test_hash_is_sha256_over_the_documented_encoding() -> None:
    """Anyone can recompute an event hash from the README's description with the standard library."""
    ev = make_chain(1)[0]
    encoded = json.dumps(
        [
            ev.seq,
            ev.time,
            ev.actor,
            ev.action,
            ev.target,
            json.loads(ev.before),
            json.loads(ev.after),
            ev.request_id,
            ev.prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert hashlib.sha256(encoded.encode()).hexdigest() == ev.hash


def test_intact_chain_verifies(signer: Signer) -> None:
    """An untouched log with valid checkpoints is reported intact."""
    events = make_chain(20)
    cps = [signer.sign(10, events[9].hash, events[9].time, "periodic")]
    report = verify(events, cps, signer.public, head_of(events))
    assert report.ok, report.problems
    assert (report.events, report.first_seq, report.last_seq, report.checkpoints) == (20, 1, 20, 1)


def test_edited_event_is_found_at_its_seq(signer: Signer) -> None:
    """Changing one field of event 7 makes 7 the first bad seq."""
    events = make_chain(20)
    events[6] = dataclasses.replace(events[6], after=canonical_json({"quota": 9999}))
    report = verify(events, [], signer.public, head_of(events))
    assert report.first_bad_seq == 7
    assert report.problems[0].kind == "edited"


def test_deleted_event_is_found(signer: Signer) -> None:
    """Removing event 5 makes 5 the first bad seq."""
    events = make_chain(20)
    del events[4]
    report = verify(events, [], signer.public, head_of(events))
    assert report.first_bad_seq == 5


def test_swapped_events_are_found(signer: Signer) -> None:
    """Exchanging the contents of events 8 and 9 (keeping seq order) breaks the chain at 8."""
    events = make_chain(20)
    a, b = events[7], events[8]
    events[7] = dataclasses.replace(b, seq=8)
    events[8] = dataclasses.replace(a, seq=9)
    report = verify(events, [], signer.public, head_of(events))
    assert report.first_bad_seq == 8


def test_truncated_tail_is_found_from_the_head_and_from_checkpoints(signer: Signer) -> None:
    """Cutting events 16-20 is found from the head row, and from a signed checkpoint past the end."""
    events = make_chain(20)
    full_head = head_of(events)
    cut = events[:15]
    assert verify(cut, [], signer.public, full_head).first_bad_seq == 16
    cp = signer.sign(20, events[19].hash, events[19].time, "periodic")
    assert verify(cut, [cp], signer.public, head_of(cut)).first_bad_seq == 16


def test_forged_checkpoint_is_found(signer: Signer) -> None:
    """A checkpoint signed with another key, or with an altered hash, is reported as forged."""
    events = make_chain(20)
    other = Signer(Ed25519PrivateKey.generate())
    forged = other.sign(10, events[9].hash, events[9].time, "periodic")
    altered = dataclasses.replace(signer.sign(12, events[11].hash, events[11].time, "periodic"), event_hash="ab" * 32)
    report = verify(events, [forged, altered], signer.public, head_of(events))
    assert {p.kind for p in report.problems} == {"forged-checkpoint"}
    assert report.first_bad_seq == 10


def test_rewritten_history_is_found_against_a_signed_checkpoint(signer: Signer) -> None:
    """Re-chaining the whole log after an edit passes the chain but not an archived checkpoint."""
    original = make_chain(20)
    cp = signer.sign(10, original[9].hash, original[9].time, "periodic")
    rewritten: list[Event] = []
    prev = GENESIS
    for ev in original:
        after = canonical_json({"quota": 0}) if ev.seq == 3 else ev.after
        digest = event_hash(ev.seq, ev.time, ev.actor, ev.action, ev.target, ev.before, after, ev.request_id, prev)
        rewritten.append(dataclasses.replace(ev, after=after, prev_hash=prev, hash=digest))
        prev = digest
    report = verify(rewritten, [cp], signer.public, head_of(rewritten))
    assert report.first_bad_seq == 10
    assert report.problems[0].kind == "rewritten"


def test_purged_prefix_needs_an_anchor(signer: Signer) -> None:
    """Events 1-10 removed: fine with a signed anchor at 10, tampering without one."""
    events = make_chain(20)
    rest = events[10:]
    anchor = signer.sign(10, events[9].hash, events[9].time, "anchor")
    assert verify(rest, [anchor], signer.public, head_of(events)).ok
    assert not verify(rest, [], signer.public, head_of(events)).ok
