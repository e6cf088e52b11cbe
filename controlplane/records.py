"""Cloud-side operation records (Nova instance actions, later Kubernetes events) copied into the operation log,
so a year of them survives whatever the cloud purges (Suining 31).

Reading is incremental. A source answers "everything changed since T" (it may overlap what was read before) and
says where to resume next time, by the cloud's own clock (its watermark), so no skew between our clock and the
cloud's can lose a record. A record is logged once: records whose id is already in the operation log for that
cloud are dropped. A pull that failed part way logs what it got and does not move the cursor, so the next pull
asks again from the same point. The caller reads the cursor, fetches from the cloud outside any transaction, then
writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import Field
from sqlalchemy import Connection, insert, select, update

from controlplane.audit.chain import format_time
from controlplane.audit.log import AuditLog, Entry
from controlplane.domain import Frozen
from controlplane.store.tables import audit_events, record_cursors


class CloudRecord(Frozen):
    source: str
    record_id: str
    time: dt.datetime
    user: str
    project: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class RecordBatch:
    records: tuple[CloudRecord, ...]
    complete: bool
    problems: tuple[str, ...] = ()
    watermark: dt.datetime | None = None  # the next pull asks from here (the cloud's clock); None: from the same


@runtime_checkable
class RecordSource(Protocol):
    source: str

    def records(self, since: dt.datetime | None) -> RecordBatch: ...


def read_cursor(conn: Connection, cloud: str, source: str) -> dt.datetime | None:
    """Where the records of ``source`` on ``cloud`` are to be read from next, or None: from the beginning."""
    since = conn.execute(
        select(record_cursors.c.since).where(record_cursors.c.cloud == cloud, record_cursors.c.source == source)
    ).scalar()
    return None if since is None else dt.datetime.strptime(since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def logged_ids(conn: Connection, cloud: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the operation log already holds as records of ``cloud``."""
    found: set[str] = set()
    for at in range(0, len(ids), 500):
        found.update(
            conn.execute(
                select(audit_events.c.request_id).where(
                    audit_events.c.request_id.in_(ids[at : at + 500]),
                    audit_events.c.actor.startswith(f"cloud:{cloud}:", autoescape=True),
                )
            ).scalars()
        )
    return found


def write_records(conn: Connection, audit: AuditLog, cloud: str, source: str, batch: RecordBatch) -> int:
    """Log the records of ``batch`` not logged before, oldest first, and move the cursor to the batch's watermark
    if the batch was complete; returns how many were logged."""
    known = logged_ids(conn, cloud, sorted({r.record_id for r in batch.records}))
    fresh: dict[str, CloudRecord] = {}
    for record in sorted(batch.records, key=lambda r: (r.time, r.record_id)):
        if record.record_id not in known:
            fresh.setdefault(record.record_id, record)
    audit.append_many(conn, [_entry(cloud, r) for r in fresh.values()])
    if batch.complete and batch.watermark is not None:
        values = {"since": format_time(batch.watermark)}
        where = (record_cursors.c.cloud == cloud) & (record_cursors.c.source == source)
        if conn.execute(select(record_cursors.c.cloud).where(where)).first() is not None:
            conn.execute(update(record_cursors).where(where).values(**values))
        else:
            conn.execute(insert(record_cursors).values(cloud=cloud, source=source, **values))
    return len(fresh)


def _entry(cloud: str, record: CloudRecord) -> Entry:
    return Entry(
        actor=f"cloud:{cloud}:{record.user}",
        action=f"{record.source}.{record.action}",
        target=record.target,
        before=None,
        after={"project": record.project, "time": record.time.isoformat(), **record.detail},
        request_id=record.record_id,
    )
