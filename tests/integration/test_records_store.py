"""Cloud records in a real store: each is logged once however the pulls overlap, and the cursor moves only on a
complete pull, to the source's watermark."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from controlplane.records import CloudRecord, RecordBatch, read_cursor, write_records
from controlplane.runtime import Runtime
from controlplane.store.tables import audit_events

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def rec(request_id: str, minutes: int, cloud_user: str = "u1") -> CloudRecord:
    return CloudRecord(
        source="nova.instance_action",
        record_id=request_id,
        time=T0 + dt.timedelta(minutes=minutes),
        user=cloud_user,
        project="p1",
        action="stop",
        target="server:s1",
    )


def pull(rt: Runtime, batch: RecordBatch, cloud: str = "os-a") -> tuple[int, dt.datetime | None]:
    with rt.engine.begin() as conn:
        n = write_records(conn, rt.audit, cloud, "nova.instance_action", batch)
        return n, read_cursor(conn, cloud, "nova.instance_action")


def logged(rt: Runtime) -> list[tuple[str, str]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.actor, audit_events.c.request_id).order_by(audit_events.c.seq))
        return [(r.actor, r.request_id) for r in rows if r.actor.startswith("cloud:")]


def test_overlapping_pulls_log_each_record_once_oldest_first(runtime: Runtime) -> None:
    """A second pull that repeats two records and brings a late one (older than the cursor) logs only the new."""
    first = RecordBatch((rec("req-b", 5), rec("req-a", 1)), complete=True, watermark=T0 + dt.timedelta(minutes=6))
    assert pull(runtime, first) == (2, T0 + dt.timedelta(minutes=6))
    late = rec("req-late", 3)  # finished after the first pull, started before its watermark
    second = RecordBatch(
        (rec("req-a", 1), rec("req-b", 5), late, rec("req-c", 9)), complete=True, watermark=T0 + dt.timedelta(minutes=9)
    )
    assert pull(runtime, second) == (2, T0 + dt.timedelta(minutes=9))
    assert logged(runtime) == [
        ("cloud:os-a:u1", "req-a"),
        ("cloud:os-a:u1", "req-b"),
        ("cloud:os-a:u1", "req-late"),
        ("cloud:os-a:u1", "req-c"),
    ]


def test_incomplete_pull_logs_what_it_got_and_keeps_the_cursor(runtime: Runtime) -> None:
    """A pull that failed part way does not move the cursor, so the next asks again; nothing is logged twice."""
    pull(runtime, RecordBatch((rec("req-a", 1),), complete=True, watermark=T0))
    partial = RecordBatch(
        (rec("req-b", 5),), complete=False, problems=("page 2: HTTP 503",), watermark=T0 + dt.timedelta(minutes=5)
    )
    assert pull(runtime, partial) == (1, T0)
    again = RecordBatch((rec("req-b", 5), rec("req-c", 7)), complete=True, watermark=T0 + dt.timedelta(minutes=7))
    assert pull(runtime, again) == (1, T0 + dt.timedelta(minutes=7))
    assert [r for _, r in logged(runtime)] == ["req-a", "req-b", "req-c"]


def test_same_id_on_another_cloud_is_another_record(runtime: Runtime) -> None:
    """Request ids are per cloud: the same id from a second cloud is logged for that cloud too."""
    pull(runtime, RecordBatch((rec("req-a", 1),), complete=True, watermark=T0), cloud="os-a")
    assert pull(runtime, RecordBatch((rec("req-a", 1),), complete=True, watermark=T0), cloud="os-b")[0] == 1
    with runtime.engine.connect() as conn:
        count = conn.execute(select(func.count()).where(audit_events.c.request_id == "req-a")).scalar()
    assert count == 2
