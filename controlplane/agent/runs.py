"""Every job run, recorded in ``job_runs`` even when the store was away while it ran.

A run that cannot be written (the database is unreachable: the very failure that made the job fail, often) waits in
memory and is written, in order, with the next run that can be, or by the health probe once the store answers
again: an outage loses no job result. The buffer is bounded; past it the oldest unwritten runs are dropped and
counted.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from controlplane.store.tables import job_runs

MAX_PENDING = 10_000


@dataclass(frozen=True)
class JobRun:
    job: str
    started: dt.datetime
    finished: dt.datetime
    ok: bool
    detail: str = ""
    error: str | None = None
    period: str | None = None


def write_runs(conn: Connection, runs: Sequence[JobRun]) -> None:
    conn.execute(
        insert(job_runs),
        [
            {
                "job": r.job,
                "started": r.started,
                "finished": r.finished,
                "ok": r.ok,
                "error": r.error,
                "detail": r.detail,
                "period": r.period,
            }
            for r in runs
        ],
    )


def recent_runs(conn: Connection, job: str | None = None, limit: int = 100) -> list[JobRun]:
    """The newest runs first (of one job, or of all)."""
    query = select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    return [JobRun(r.job, r.started, r.finished, r.ok, r.detail, r.error, r.period) for r in conn.execute(query).all()]


def covered(conn: Connection, job: str, period: str) -> bool:
    """Whether ``job`` already ran successfully over ``period`` (the monthly evaluation runs once per month)."""
    found = conn.execute(
        select(job_runs.c.id).where(job_runs.c.job == job, job_runs.c.period == period, job_runs.c.ok).limit(1)
    )
    return found.first() is not None


def purge_runs(conn: Connection, before: dt.datetime) -> int:
    return int(conn.execute(delete(job_runs).where(job_runs.c.started < before)).rowcount)


class RunRecorder:
    """Writes runs to the store; keeps those it could not write and retries them first next time."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_pending: int = MAX_PENDING,
        on_problem: Callable[[str, int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._pending: deque[JobRun] = deque()
        self._max = max_pending
        self._lock = threading.Lock()
        self._on_problem = on_problem
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, run: JobRun) -> bool:
        """Queue ``run`` behind any unwritten ones and try to write them all; True when nothing is left waiting."""
        with self._lock:
            self._pending.append(run)
            while len(self._pending) > self._max:
                self._pending.popleft()
                self.dropped += 1
            return self._flush()

    def flush(self) -> bool:
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        if not self._pending:
            return True
        try:
            with self._engine.begin() as conn:
                write_runs(conn, list(self._pending))
        except SQLAlchemyError as exc:
            if self._on_problem is not None:
                self._on_problem(type(exc).__name__, len(self._pending))
            return False
        self._pending.clear()
        return True
