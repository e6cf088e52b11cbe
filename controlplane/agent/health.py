"""Liveness and readiness, from a probe thread so that neither ever waits on the database.

Every ``health_every_s`` the probe asks the store ``SELECT 1``; when it answers, it also counts findings and actions
per state for the metrics and writes any job runs that waited for the store. Ready means: not draining, the
scheduler running, and the store answered the latest probe, which is recent (a probe stuck on a dead connection
counts as unreachable once it is older than three periods). The agent never exits because the store is away: it
reports not ready, its jobs fail and are counted, and it is ready again with the first probe that gets an answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runs import RunRecorder
from controlplane.store.tables import actions, findings


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # check -> "ok" or why not


class Health:
    def __init__(
        self,
        engine: Engine,
        metrics: AgentMetrics,
        recorder: RunRecorder,
        *,
        every_s: float,
        scheduler_running: Callable[[], bool],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.recorder = recorder
        self.every_s = every_s
        self._scheduler_running = scheduler_running
        self._monotonic = monotonic
        self.draining = False
        self._db_ok = False
        self._db_error = "not probed yet"
        self._probed_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = structlog.get_logger("yunguan.agent.health")

    def probe(self) -> bool:
        """Ask the store; on an answer refresh the store's gauges and write waiting job runs. True when it answered."""
        was_ok = self._db_ok
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                found = {
                    str(s): int(n)
                    for s, n in conn.execute(select(findings.c.state, func.count()).group_by(findings.c.state))
                }
                done = {
                    str(s): int(n)
                    for s, n in conn.execute(select(actions.c.state, func.count()).group_by(actions.c.state))
                }
        except SQLAlchemyError as exc:
            self._db_ok, self._db_error = False, f"store unreachable ({type(exc).__name__})"
            if was_ok or self._probed_at is None:
                self._log.warning("store unreachable: not ready", error=type(exc).__name__)
        else:
            self._db_ok, self._db_error = True, ""
            self.metrics.store_counts(found, done)
            if not was_ok:
                self._log.info("store answers: ready", waiting_runs=self.recorder.pending)
            self.recorder.flush()
            self.metrics.runs_unrecorded.set(self.recorder.pending)
        self._probed_at = self._monotonic()
        self.metrics.database_up.set(1 if self._db_ok else 0)
        self.readiness()
        return self._db_ok

    def readiness(self) -> Readiness:
        checks: dict[str, str] = {}
        checks["draining"] = "stopping" if self.draining else "ok"
        checks["scheduler"] = "ok" if self._scheduler_running() else "not running"
        stale = self._probed_at is None or self._monotonic() - self._probed_at > 3 * self.every_s + 5
        if not self._db_ok:
            checks["database"] = self._db_error
        elif stale:
            checks["database"] = "no recent answer from the store"
        else:
            checks["database"] = "ok"
        ready = all(v == "ok" for v in checks.values())
        self.metrics.ready.set(1 if ready else 0)
        return Readiness(ready, checks)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="health-probe", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.probe()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s + 5)
