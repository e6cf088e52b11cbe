"""The wipe certificate without a store: signed with the log's Ed25519 key, valid as written, invalid when any field
is changed, when an event it names is missing or differs from the log, or under another key; its page escapes."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_termination_case import T0, case

from controlplane.audit.chain import GENESIS, Event, canonical_json, event_hash, format_time
from controlplane.audit.signing import Signer
from controlplane.termination.certificate import certificate_body, export_lookup, sign, verify
from controlplane.termination.certificate_html import render_html
from controlplane.termination.ports import Sample, TargetKind, WipeTarget
from controlplane.termination.steps import Step, StepState

SIGNER = Signer(Ed25519PrivateKey.generate())


def chain(*specs: tuple[str, str, dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    prev = GENESIS
    for seq, (action, target, after) in enumerate(specs, start=1):
        time = format_time(T0 + dt.timedelta(seconds=seq))
        body = canonical_json(after)
        digest = event_hash(seq, time, "operator:c", action, target, "{}", body, "", prev)
        events.append(Event(seq, time, "operator:c", action, target, "{}", body, "", prev, digest))
        prev = digest
    return events


EVENTS = chain(
    ("termination.request", "termination:1:system:ZW-001", {"state": "requested"}),
    ("termination.wipe.intent", "termination:1:os/volume/vol-1", {"step": 1}),
    ("termination.wipe.result", "termination:1:os/volume/vol-1", {"step": 1, "method": "overwrite-zero"}),
)
STEP = Step(
    id=1,
    case_id=1,
    ordinal=1,
    target=WipeTarget(cloud="os", kind=TargetKind.VOLUME, id="vol-1", name="<script>x</script>", group="p"),
    state=StepState.DONE,
    method="overwrite-zero",
    category="clear",
    started=T0,
    ended=T0,
    verified=True,
    samples=(Sample(offset=0, length=4096, sha256="b" * 64, expected_sha256="b" * 64),),
    intent_seq=2,
    result_seq=3,
)


def issued() -> dict[str, Any]:
    body = certificate_body(case(), "政务服务网", [STEP], EVENTS, issued_by="operator:c", issued_at=T0)
    return json.loads(json.dumps(sign(body, SIGNER), ensure_ascii=False))  # as read back from the file


def lookup(events: list[Event]) -> Any:
    by_seq = {e.seq: e for e in events}
    return lambda seqs: {s: by_seq[s] for s in seqs if s in by_seq}


def test_a_certificate_as_issued_is_valid() -> None:
    """Signature and every named event check out; it names operators, methods, samples and seqs."""
    document = issued()
    assert verify(document, SIGNER.public, lookup(EVENTS)) == []
    body = document["certificate"]
    assert body["operators"]["second_approver"] == "operator:c"
    assert body["resources"][0]["samples"][0] == {
        "offset": 0,
        "length": 4096,
        "sha256": "b" * 64,
        "expected_sha256": "b" * 64,
    }
    assert [e["seq"] for e in body["events"]] == [1, 2, 3]


def test_a_changed_field_breaks_the_signature() -> None:
    """Changing a resource's category from clear to purge: invalid."""
    document = issued()
    document["certificate"]["resources"][0]["category"] = "purge"
    assert verify(document, SIGNER.public, lookup(EVENTS)) == [
        "the signature does not match the certificate's content (it was changed or not signed)"
    ]


def test_another_key_is_refused() -> None:
    """Verified with a different public key: the key id and the signature both fail."""
    other = Signer(Ed25519PrivateKey.generate())
    problems = verify(issued(), other.public, lookup(EVENTS))
    assert len(problems) == 2
    assert "not this public key" in problems[0]


def test_a_missing_or_edited_log_event_is_named() -> None:
    """The log lacks seq 2 and its seq 3 was edited in place (its content no longer hashes to its hash)."""
    third = EVENTS[2]
    tampered = Event(
        third.seq,
        third.time,
        third.actor,
        third.action,
        third.target,
        third.before,
        '{"method":"delete"}',
        third.request_id,
        third.prev_hash,
        third.hash,
    )
    problems = verify(issued(), SIGNER.public, lookup([EVENTS[0], tampered]))
    assert problems == [
        "seq 2: not in the operation log",
        "seq 3: the log's event was edited (its content no longer hashes to its hash)",
    ]


def test_a_resource_seq_not_among_the_events_is_named() -> None:
    """A certificate whose resource points at an event it does not list (re-signed, so only this is wrong)."""
    body = copy.deepcopy(issued()["certificate"])
    body["resources"][0]["result_seq"] = 99
    problems = verify(sign(body, SIGNER), SIGNER.public, lookup(EVENTS))
    assert problems == ["resource event seq 99 is not among the certificate's events"]


def test_an_export_serves_as_the_log() -> None:
    """Events read back from `audit export` lines verify the same way."""
    lines = [canonical_json({"type": "event", **e.to_json()}) for e in EVENTS] + ['{"type":"public_key","pem":""}']
    assert verify(issued(), SIGNER.public, export_lookup(lines)) == []


def test_not_a_certificate() -> None:
    """Any other JSON: invalid, saying what is missing."""
    assert verify({"x": 1}, SIGNER.public, lookup(EVENTS)) == [
        "not a wipe certificate: 'certificate' and 'signature' are required"
    ]


def test_the_page_escapes_and_labels_in_both_languages() -> None:
    """A resource named <script> is shown as text; labels are zh and en."""
    page = render_html(issued())
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "应用系统 System" in page
    assert "政务服务网" in page
