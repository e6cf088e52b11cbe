"""One run of one job: never two of the same job at once, every outcome recorded, counted and logged.

A job that raises is a failed run, not a dead agent: the error (type, message and causes, secrets redacted, cut to
``error_chars``) goes to ``job_runs`` and the log, the failure counter goes up, and the scheduler runs the job again
at its next tick. A job asked to start while its previous run is still going is skipped and counted (the scheduler's
``max_instances=1`` does the same; this guard also covers runs started by hand).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runs import JobRun, RunRecorder
from controlplane.clock import Clock
from controlplane.redaction import Redactor


@dataclass(frozen=True)
class Done:
    """What a job reports when it worked: one line for ``job_runs`` and the log, and the period it covered."""

    detail: str = ""
    period: str | None = None


class StoppedError(Exception):
    """The agent is stopping: the job stopped at a safe point before doing this part (recorded as a run that
    worked, with what it skipped: a drain is not a failure)."""


def check_stop(stop: threading.Event, where: str) -> None:
    if stop.is_set():
        raise StoppedError(f"the agent is stopping: stopped before {where}")


class JobProblemError(Exception):
    """The job did its work but left something an operator must see (a finding that could not move): a failed run."""


def error_text(exc: BaseException, redactor: Redactor, limit: int) -> str:
    """``Type: message`` for the exception and each cause under it, redacted, cut to ``limit`` characters."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}".strip())
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    text = redactor.text(" <- ".join(parts))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobRunner:
    """Runs jobs for the scheduler (or a test) and keeps track of which are running."""

    def __init__(
        self,
        recorder: RunRecorder,
        clock: Clock,
        redactor: Redactor,
        metrics: AgentMetrics,
        *,
        error_chars: int = 2000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = recorder
        self.clock = clock
        self.redactor = redactor
        self.metrics = metrics
        self.error_chars = error_chars
        self._monotonic = monotonic
        self._running: set[str] = set()
        self.stopping = False  # set by the drain: no new run starts
        self._idle = threading.Condition()
        self._log = structlog.get_logger("yunguan.agent.jobs")

    @property
    def running(self) -> frozenset[str]:
        with self._idle:
            return frozenset(self._running)

    def run(self, job: str, work: Callable[[], Done]) -> JobRun | None:
        """Run ``work`` as ``job`` unless it is running already or the agent is stopping (then None); the run is
        recorded however it ends."""
        with self._idle:
            if self.stopping:
                self._log.info("job not started: the agent is stopping", job=job)
                return None
            if job in self._running:
                self.metrics.job_skipped.labels(job).inc()
                self._log.warning("job still running; this run is skipped", job=job)
                return None
            self._running.add(job)
        try:
            return self._run(job, work)
        finally:
            with self._idle:
                self._running.discard(job)
                self._idle.notify_all()

    def _run(self, job: str, work: Callable[[], Done]) -> JobRun:
        started = self.clock.now()
        began = self._monotonic()
        self._log.info("job started", job=job)
        try:
            done = work()
        except StoppedError as exc:
            done = Done(str(exc))  # not a failure: the drain asked for it
            run = JobRun(job, started, self.clock.now(), ok=True, detail=done.detail)
            self._log.info("job stopped at a safe point", job=job, detail=done.detail)
        except Exception as exc:  # noqa: BLE001 - any failure is this run's result: recorded, counted, retried next tick
            error = error_text(exc, self.redactor, self.error_chars)
            run = JobRun(job, started, self.clock.now(), ok=False, error=error)
            self._log.error("job failed", job=job, error=error, seconds=round(self._monotonic() - began, 3))
        else:
            run = JobRun(job, started, self.clock.now(), ok=True, detail=done.detail, period=done.period)
            self._log.info("job done", job=job, detail=done.detail, seconds=round(self._monotonic() - began, 3))
        self.metrics.job_done(job, run.ok, self._monotonic() - began, run.finished.timestamp())
        if not self.recorder.record(run):
            self._log.warning("job run not recorded yet: the store is unreachable", job=job)
        self.metrics.runs_unrecorded.set(self.recorder.pending)
        return run

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs (True), or ``timeout`` seconds (False: some are still running)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=timeout)
