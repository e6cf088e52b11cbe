"""The wipe certificate: what was wiped, how, by whom, and the operation-log events that show it, signed with the
operation log's Ed25519 key.

The signed body is encoded the way the log encodes its events (``chain.canonical_json``: keys sorted, no spaces,
non-ASCII kept) and prefixed ``yunguan-wipe-certificate-v1|``. It names every event of the case by seq, hash, action
and target, so anyone holding the log (or its export) can check that each is there unchanged; ``verify`` does both.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from controlplane.audit.archive import read_archived_events
from controlplane.audit.chain import Event, canonical_json, event_hash, format_time
from controlplane.audit.signing import Signer, bytes_signature_valid, key_id
from controlplane.store.tables import audit_events
from controlplane.store.tables import systems as sys_t
from controlplane.termination.cases import Case
from controlplane.termination.steps import Step

FORMAT = "yunguan-wipe-certificate-v1"


def _payload(body: Mapping[str, Any]) -> bytes:
    return f"{FORMAT}|{canonical_json(body)}".encode()


def case_events(conn: Connection, case_id: int) -> list[Event]:
    """Every operation-log event about the case (its target starts ``termination:ID:``), in seq order."""
    prefix = f"termination:{case_id}:"
    query = (
        select(audit_events)
        .where(audit_events.c.target.startswith(prefix, autoescape=True))
        .order_by(audit_events.c.seq)
    )
    return [Event(*row) for row in conn.execute(query)]


def _resource(step: Step) -> dict[str, Any]:
    t = step.target
    return {
        "cloud": t.cloud,
        "kind": t.kind.value,
        "id": t.id,
        "name": t.name,
        "group": t.group,
        "size_bytes": t.size_bytes,
        "state": step.state.value,
        "method": step.method,
        "category": step.category,
        "started": step.started,
        "ended": step.ended,
        "verified": step.verified,
        "already_gone": step.already_gone,
        "samples": [s.model_dump(mode="json") for s in step.samples],
        "detail": step.detail,
        "intent_seq": step.intent_seq,
        "result_seq": step.result_seq,
    }


def certificate_body(
    case: Case,
    system_name: str,
    steps: Iterable[Step],
    events: Iterable[Event],
    *,
    issued_by: str,
    issued_at: dt.datetime,
) -> dict[str, Any]:
    listed = list(events)
    executors = sorted({e.actor for e in listed if e.action.startswith("termination.wipe.")})
    return {
        "format": FORMAT,
        "case": case.id,
        "system": {"key": case.system, "name": system_name},
        "unit": case.unit,
        "request": {
            "by": case.requested_by,
            "at": case.requested_at,
            "reason": case.reason,
            "stopped_use_on": case.stopped_use_on,
            "late": case.late,
        },
        "approval": {"by": case.approved_by, "at": case.approved_at, "transition_ends": case.transition_ends},
        "backup": {
            "confirmed_by": case.backup_confirmed_by,
            "at": case.backup_confirmed_at,
            "evidence": {"name": case.backup_name, "sha256": case.backup_sha256, "size": case.backup_size},
        },
        "wipe_approval": {"by": case.wipe_approved_by, "at": case.wipe_approved_at},
        "operators": {
            "requester": case.requested_by,
            "approver": case.approved_by,
            "backup_confirmer": case.backup_confirmed_by,
            "second_approver": case.wipe_approved_by,
            "executors": executors,
        },
        "wipe_started_at": case.wipe_started_at,
        "wiped_at": case.wiped_at,
        "reclaimed_at": case.reclaimed_at,
        "billing_end": case.billing_end,
        "resources": [_resource(s) for s in steps],
        "events": [{"seq": e.seq, "hash": e.hash, "action": e.action, "target": e.target} for e in listed],
        "issued_by": issued_by,
        "issued_at": format_time(issued_at),
    }


def sign(body: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The certificate as written: the body (normalised through JSON) and its signature."""
    plain = _plain(body)
    return {
        "certificate": plain,
        "signature": {"alg": "Ed25519", "key_id": signer.key_id, "value": signer.sign_bytes(_payload(plain))},
    }


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:

    result: dict[str, Any] = json.loads(canonical_json(body))
    return result


def system_name(conn: Connection, key: str) -> str:
    return str(conn.execute(select(sys_t.c.name).where(sys_t.c.key == key)).scalar() or key)


# -- verification ------------------------------------------------------------------------------------------------


def verify(
    document: Mapping[str, Any], public: Ed25519PublicKey, lookup: Callable[[list[int]], Mapping[int, Event]]
) -> list[str]:
    """Every problem found: a bad signature, a malformed certificate, or a referenced event missing or changed in
    the operation log (``lookup`` answers the events by seq). Empty: valid."""
    body = document.get("certificate")
    signature = document.get("signature")
    if not isinstance(body, dict) or not isinstance(signature, dict):
        return ["not a wipe certificate: 'certificate' and 'signature' are required"]
    if body.get("format") != FORMAT:
        return [f"unknown certificate format {body.get('format')!r}"]
    problems: list[str] = []
    if signature.get("key_id") != key_id(public):
        problems.append(f"signed by key {signature.get('key_id')!r}, not this public key ({key_id(public)})")
    if not bytes_signature_valid(public, _payload(body), str(signature.get("value", ""))):
        problems.append("the signature does not match the certificate's content (it was changed or not signed)")
    listed = body.get("events")
    if not isinstance(listed, list):
        return [*problems, "the certificate lists no events"]
    by_seq = {int(e["seq"]): e for e in listed if isinstance(e, dict) and "seq" in e}
    referenced = {s for r in body.get("resources", []) for s in (r.get("intent_seq"), r.get("result_seq")) if s}
    problems += [
        f"resource event seq {s} is not among the certificate's events" for s in sorted(referenced - set(by_seq))
    ]
    found = lookup(sorted(by_seq))
    for seq, claimed in sorted(by_seq.items()):
        problems += _event_problems(seq, claimed, found.get(seq))
    return problems


def _event_problems(seq: int, claimed: Mapping[str, Any], event: Event | None) -> list[str]:
    if event is None:
        return [f"seq {seq}: not in the operation log"]
    recomputed = event_hash(
        event.seq,
        event.time,
        event.actor,
        event.action,
        event.target,
        event.before,
        event.after,
        event.request_id,
        event.prev_hash,
    )
    problems: list[str] = []
    if recomputed != event.hash:
        problems.append(f"seq {seq}: the log's event was edited (its content no longer hashes to its hash)")
    if claimed.get("hash") != event.hash:
        problems.append(f"seq {seq}: hash {claimed.get('hash')!r} differs from the log's {event.hash}")
    problems.extend(
        f"seq {seq}: {name} {claimed.get(name)!r} differs from the log's {getattr(event, name)!r}"
        for name in ("action", "target")
        if claimed.get(name) != getattr(event, name)
    )
    return problems


def store_lookup(conn: Connection) -> Callable[[list[int]], dict[int, Event]]:
    def lookup(seqs: list[int]) -> dict[int, Event]:
        found: dict[int, Event] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            for row in conn.execute(select(audit_events).where(audit_events.c.seq.in_(chunk))):
                found[int(row.seq)] = Event(*row)
        return found

    return lookup


def export_lookup(lines: Iterable[str]) -> Callable[[list[int]], dict[int, Event]]:
    """Events from an ``audit export`` (JSON Lines)."""
    events = {e.seq: e for e in read_archived_events(lines)}

    def lookup(seqs: list[int]) -> dict[int, Event]:
        return {s: events[s] for s in seqs if s in events}

    return lookup
