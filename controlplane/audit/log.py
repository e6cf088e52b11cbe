"""Appending to the operation log, inside the caller's transaction.

Every ledger change calls ``append`` on the same connection as the change, so the event and the change commit or
roll back together. An event without a request id of its own takes the one of the request being served
(``request_scope``: the HTTP API sets it per request), so every event an API call writes carries its id, whichever
function wrote it. The single ``audit_head`` row is locked for the append, which serialises writers on PostgreSQL
(SQLite transactions are already serialised) and lets verification notice a truncated tail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from controlplane.audit.chain import Event, canonical_json, event_hash, format_time
from controlplane.audit.signing import Checkpoint, Signer
from controlplane.clock import Clock
from controlplane.redaction import Redactor
from controlplane.store.tables import audit_checkpoints, audit_events, audit_head

HEAD_ID = 1

# built once: an append runs these three on every change, and building a statement costs more than running it
_LOCK_HEAD = select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID).with_for_update()
_INSERT_EVENTS = insert(audit_events)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == HEAD_ID)
    .values(
        last_seq=bindparam("new_seq", type_=audit_head.c.last_seq.type),
        last_hash=bindparam("new_hash", type_=audit_head.c.last_hash.type),
    )
)

# the request being served in this context (thread or task); "" outside any request
_request_id: ContextVar[str] = ContextVar("yunguan_request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Events appended inside this block without a request id of their own get ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class AuditHeadMissingError(Exception):
    """The head row created by the first migration is gone; appending would fork the chain."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What a caller logs; the log adds seq, time and hashes."""

    actor: str
    action: str
    target: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    request_id: str = ""


class AuditLog:
    def __init__(self, clock: Clock, signer: Signer, redactor: Redactor, checkpoint_every: int = 1000) -> None:
        self.clock = clock
        self.signer = signer
        self.redactor = redactor
        self.checkpoint_every = checkpoint_every

    # -- writing -------------------------------------------------------------------------------------------------

    def append(self, conn: Connection, entry: Entry) -> int:
        """Append one event; returns its seq."""
        return self.append_many(conn, [entry])[-1]

    def append_many(self, conn: Connection, entries: Sequence[Entry]) -> list[int]:
        if not entries:
            return []
        ambient = _request_id.get()
        # what does not depend on the head is worked out before it is locked: the lock serialises every writer
        texts = [
            (
                self.redactor.text(entry.target),
                canonical_json(self.redactor.value(dict(entry.before or {}))),
                canonical_json(self.redactor.value(dict(entry.after or {}))),
                entry.request_id or ambient,
            )
            for entry in entries
        ]
        last_seq, last_hash = self._lock_head(conn)
        time = format_time(self.clock.now())
        rows: list[dict[str, Any]] = []
        seqs: list[int] = []
        checkpoints: list[Checkpoint] = []
        for entry, (target, before, after, request_id) in zip(entries, texts, strict=True):
            seq = last_seq + 1
            digest = event_hash(seq, time, entry.actor, entry.action, target, before, after, request_id, last_hash)
            rows.append(
                {
                    "seq": seq,
                    "time": time,
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": target,
                    "before": before,
                    "after": after,
                    "request_id": request_id,
                    "prev_hash": last_hash,
                    "hash": digest,
                }
            )
            seqs.append(seq)
            if seq % self.checkpoint_every == 0:
                checkpoints.append(self.signer.sign(seq, digest, time, "periodic"))
            last_seq, last_hash = seq, digest
        conn.execute(_INSERT_EVENTS, rows)
        conn.execute(_MOVE_HEAD, {"new_seq": last_seq, "new_hash": last_hash})
        if checkpoints:
            conn.execute(insert(audit_checkpoints), [c.to_json() for c in checkpoints])
        return seqs

    def checkpoint(self, conn: Connection, kind: str = "manual") -> Checkpoint | None:
        """Sign the current head (the daily job calls this); None while the log is empty."""
        last_seq, last_hash = self._lock_head(conn)
        if last_seq == 0:
            return None
        cp = self.signer.sign(last_seq, last_hash, format_time(self.clock.now()), kind)
        conn.execute(insert(audit_checkpoints), [cp.to_json()])
        return cp

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        row = conn.execute(_LOCK_HEAD).first()
        if row is None:
            raise AuditHeadMissingError(
                "the operation log's head row is missing (the log was tampered with): run `yunguan audit verify`"
            )
        return int(row.last_seq), str(row.last_hash)

    # -- retention -----------------------------------------------------------------------------------------------

    def purge(self, conn: Connection, retention_days: int, actor: str = "agent:retention") -> int:
        """Delete events older than the retention, never a younger one, keeping the rest verifiable.

        The cut is just before the oldest event still inside the retention, so an event that is older than the
        cutoff but follows a younger one (clock skew) is kept too. An anchor checkpoint is signed at the cut.
        Returns the number of events deleted.
        """
        cutoff = format_time(self.clock.now() - dt.timedelta(days=retention_days))
        first_kept = conn.execute(select(func.min(audit_events.c.seq)).where(audit_events.c.time >= cutoff)).scalar()
        if first_kept is None:
            first_kept = (conn.execute(select(func.max(audit_events.c.seq))).scalar() or 0) + 1
        cut = int(first_kept) - 1
        oldest = conn.execute(select(func.min(audit_events.c.seq))).scalar()
        if oldest is None or cut < int(oldest):
            return 0
        cut_hash = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == cut)).scalar_one()
        anchor = self.signer.sign(cut, cut_hash, format_time(self.clock.now()), "anchor")
        conn.execute(insert(audit_checkpoints), [anchor.to_json()])
        deleted = conn.execute(delete(audit_events).where(audit_events.c.seq <= cut)).rowcount
        # checkpoints before the anchor point at events that no longer exist; the anchor replaces them
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq < cut))
        self.append(
            conn,
            Entry(
                actor=actor,
                action="audit.purge",
                target=f"audit_events<={cut}",
                after={
                    "deleted": deleted,
                    "cut_seq": cut,
                    "cutoff": cutoff,
                    "retention_days": retention_days,
                },
            ),
        )
        return int(deleted)


# -- reading ---------------------------------------------------------------------------------------------------


def iter_events(
    conn: Connection, since: str | None = None, until: str | None = None, batch: int = 5000
) -> Iterator[Event]:
    """Events in seq order, streamed; ``since``/``until`` are event-time strings (inclusive/exclusive)."""
    query = select(audit_events).order_by(audit_events.c.seq)
    if since is not None:
        query = query.where(audit_events.c.time >= since)
    if until is not None:
        query = query.where(audit_events.c.time < until)
    result = conn.execution_options(yield_per=batch).execute(query)
    try:
        for row in result:
            yield Event(*row)
    finally:
        result.close()


def read_checkpoints(conn: Connection) -> list[Checkpoint]:
    rows = conn.execute(
        select(
            audit_checkpoints.c.seq,
            audit_checkpoints.c.event_hash,
            audit_checkpoints.c.time,
            audit_checkpoints.c.kind,
            audit_checkpoints.c.key_id,
            audit_checkpoints.c.signature,
        ).order_by(audit_checkpoints.c.seq, audit_checkpoints.c.id)
    )
    return [Checkpoint(*row) for row in rows]


def read_head(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(select(audit_head.c.last_seq, audit_head.c.last_hash)).first()
    return (int(row[0]), str(row[1])) if row else None
