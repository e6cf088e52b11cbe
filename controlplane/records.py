"""Cloud-side operation records (Nova instance actions, later Kubernetes events) copied into the operation log,
so a year of them survives whatever the cloud purges (Suining 31).

Reading is incremental: a cursor per cloud and source keeps the time read up to and the ids already seen at that
time, so a record is logged once however often the pull runs, and a pull that failed part way does not advance it.
The caller reads the cursor, fetches from the cloud outside any transaction, then writes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import Field
from sqlalchemy import Connection, insert, select, update

from controlplane.audit.chain import format_time
from controlplane.audit.log import AuditLog, Entry
from controlplane.domain import Frozen
from controlplane.store.tables import record_cursors


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


@runtime_checkable
class RecordSource(Protocol):
    source: str

    def records(self, since: dt.datetime | None) -> RecordBatch: ...


def read_cursor(conn: Connection, cloud: str, source: str) -> tuple[dt.datetime | None, set[str]]:
    """Where the records of ``source`` on ``cloud`` were read up to, and the ids seen at that moment."""
    row = conn.execute(
        select(record_cursors.c.since, record_cursors.c.seen).where(
            record_cursors.c.cloud == cloud, record_cursors.c.source == source
        )
    ).first()
    if row is None:
        return None, set()
    since = dt.datetime.strptime(row.since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return since, set(json.loads(row.seen))


def write_records(  # noqa: PLR0917 - the batch and the cursor it was read from
    conn: Connection,
    audit: AuditLog,
    cloud: str,
    source: str,
    batch: RecordBatch,
    cursor: tuple[dt.datetime | None, set[str]],
) -> int:
    """Log the records newer than ``cursor`` (read before fetching ``batch``) and move the cursor if the batch was
    complete; returns how many were logged."""
    since, seen = cursor
    fresh = sorted(
        (r for r in batch.records if since is None or r.time > since or (r.time == since and r.record_id not in seen)),
        key=lambda r: (r.time, r.record_id),
    )
    audit.append_many(conn, [_entry(cloud, r) for r in fresh])
    if batch.complete and fresh:
        newest = fresh[-1].time
        at_newest = sorted({r.record_id for r in fresh if r.time == newest} | (seen if newest == since else set()))
        values = {"since": format_time(newest), "seen": json.dumps(at_newest)}
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
