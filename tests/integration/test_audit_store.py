"""The operation log in a real store: tampering with rows is found, retention keeps the rest verifiable, and
concurrent writers keep one unbroken chain."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from controlplane.audit.archive import read_archived_checkpoints, write_export
from controlplane.audit.log import Entry, iter_events, read_checkpoints, read_head
from controlplane.audit.verify import Report, verify
from controlplane.clock import FixedClock
from controlplane.runtime import Runtime
from controlplane.store.tables import audit_checkpoints, audit_events, audit_head


def fill(rt: Runtime, n: int, actor: str = "operator:li") -> None:
    with rt.engine.begin() as conn:
        for i in range(n):
            rt.audit.append(conn, Entry(actor, "test.event", f"thing:{i}", {"n": i}, {"n": i + 1, "单位": "市公安局"}))


def check(rt: Runtime, extra: list | None = None) -> Report:  # type: ignore[type-arg]
    with rt.engine.connect() as conn:
        return verify(iter_events(conn), [*read_checkpoints(conn), *(extra or [])], rt.signer.public, read_head(conn))


def test_untouched_log_verifies_with_periodic_checkpoints(runtime: Runtime) -> None:
    """25 events with a checkpoint every 10 give 2 signed checkpoints and a clean report."""
    fill(runtime, 25)
    report = check(runtime)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints) == (25, 2)


def test_sql_edit_is_found(runtime: Runtime) -> None:
    """UPDATE on one row's payload is reported at that seq."""
    fill(runtime, 25)
    with runtime.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 13).values(after='{"n":0}'))
    assert check(runtime).first_bad_seq == 13


def test_sql_delete_is_found(runtime: Runtime) -> None:
    """DELETE of one row is reported at that seq."""
    fill(runtime, 25)
    with runtime.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 4))
    assert check(runtime).first_bad_seq == 4


def test_sql_swap_is_found(runtime: Runtime) -> None:
    """Swapping two rows' seq numbers is reported at the first of them."""
    fill(runtime, 25)
    with runtime.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 17).values(seq=-1))
        conn.execute(update(audit_events).where(audit_events.c.seq == 18).values(seq=17))
        conn.execute(update(audit_events).where(audit_events.c.seq == -1).values(seq=18))
    assert check(runtime).first_bad_seq == 17


def test_truncated_tail_is_found_even_with_the_head_rewritten(runtime: Runtime) -> None:
    """Deleting events 21-25 and moving the head back is still caught by the signed checkpoint at 20... and
    deleting that checkpoint too is caught by the off-box export of checkpoints."""
    fill(runtime, 25)
    with runtime.engine.connect() as conn:
        archived = read_checkpoints(conn)
    with runtime.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq > 15))
        last = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == 15)).scalar_one()
        conn.execute(update(audit_head).values(last_seq=15, last_hash=last))
    assert check(runtime).first_bad_seq == 16
    with runtime.engine.begin() as conn:
        conn.execute(delete(audit_checkpoints).where(audit_checkpoints.c.seq > 15))
    assert check(runtime).ok  # nothing inside the database can tell any more ...
    assert check(runtime, archived).first_bad_seq == 16  # ... the archived checkpoints can


def test_forged_checkpoint_row_is_found(runtime: Runtime) -> None:
    """A checkpoint row whose hash was changed no longer matches its signature."""
    fill(runtime, 25)
    with runtime.engine.begin() as conn:
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.seq == 20).values(event_hash="0" * 64))
    report = check(runtime)
    assert report.first_bad_seq == 20
    assert report.problems[0].kind == "forged-checkpoint"


def test_retention_never_deletes_a_younger_event(runtime: Runtime, clock: FixedClock) -> None:
    """Events older than the retention go, younger ones stay, an anchor keeps the remainder verifiable."""
    fill(runtime, 12)  # at T0
    clock.advance(dt.timedelta(days=200))
    fill(runtime, 5)  # at T0+200d
    clock.advance(dt.timedelta(days=200))  # now T0+400d
    with runtime.engine.begin() as conn:
        deleted = runtime.audit.purge(conn, retention_days=365)
    assert deleted == 12
    with runtime.engine.connect() as conn:
        seqs = [e.seq for e in iter_events(conn)]
    assert seqs[0] == 13  # the first young event is kept
    assert seqs[-1] == 18  # and the purge itself is logged
    report = check(runtime)
    assert report.ok, report.problems
    clock.advance(dt.timedelta(days=1))
    with runtime.engine.begin() as conn:
        assert runtime.audit.purge(conn, retention_days=365) == 0


def test_export_round_trip_carries_checkpoints(runtime: Runtime, tmp_path: Path) -> None:
    """An export holds every event and checkpoint and reads back as archived checkpoints."""
    fill(runtime, 25)
    path = tmp_path / "audit.jsonl"
    with runtime.engine.connect() as conn, path.open("w", encoding="utf-8") as out:
        n, c = write_export(out, iter_events(conn), read_checkpoints(conn), runtime.signer.public_pem().decode())
    assert (n, c) == (25, 2)
    assert [cp.seq for cp in read_archived_checkpoints(path)] == [10, 20]


@pytest.mark.parametrize("writers", [4])
def test_concurrent_writers_keep_one_chain(runtime: Runtime, writers: int) -> None:
    """Several threads appending at once produce consecutive seqs and an intact chain."""
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for _ in range(10):
                fill(runtime, 3, actor=f"agent:{k}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = check(runtime)
    assert report.ok, report.problems
    assert report.events == writers * 30


def test_secrets_are_masked_before_they_reach_the_log(runtime: Runtime) -> None:
    """A configured secret and secret-named keys in a payload are stored as ***, and the chain still verifies."""
    log = runtime.audit
    log.redactor = log.redactor.with_secrets(["Zq7-db-password"])
    with runtime.engine.begin() as conn:
        log.append(
            conn,
            Entry(
                "operator:li",
                "cloud.update",
                "cloud:x url=postgresql://u:Zq7-db-password@h/db",
                None,
                {"connection": "x", "note": "pw is Zq7-db-password", "auth": {"password": "p4ss", "user": "admin"}},
            ),
        )
    with runtime.engine.connect() as conn:
        (stored,) = list(iter_events(conn))
    text = stored.target + stored.before + stored.after
    assert "Zq7-db-password" not in text
    assert "p4ss" not in text
    assert '"user":"admin"' in stored.after
    assert check(runtime).ok
