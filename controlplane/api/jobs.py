"""Reconcile runs and usage collection rounds started over the API: a job row (``api_jobs``) made at once, the work
itself in a background thread (reading clouds takes seconds to minutes), its progress and result written to the
row, so ``GET`` answers from the store whichever request asks.

One job at a time per process: a second start while one is running is refused (409) with the running one's id.
The thread carries the starting request's context, so the operation-log events of the run carry its request id.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from controlplane.api.problems import Problem
from controlplane.audit.log import Entry, current_request_id
from controlplane.logs import get_logger
from controlplane.reconcile.service import Reconciled, UnknownCloudError, per_cloud, reconcile_clouds
from controlplane.runtime import Runtime
from controlplane.store.tables import api_jobs
from controlplane.usage_round import Collected, collect_round, unknown_clouds

if TYPE_CHECKING:
    from controlplane.api.context import ApiContext

KIND = "reconcile"
COLLECT = "usage-collect"
Runner = Callable[..., Reconciled]
Collector = Callable[..., Collected]


class Jobs:
    def __init__(
        self,
        ctx: ApiContext,
        runner: Runner = reconcile_clouds,
        collector: Collector = collect_round,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.runner = runner
        self.collector = collector
        self.sleep = sleep  # the wait between a sweep's baseline and the sweep that counts
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self.log = get_logger("yunguan.api.jobs")

    def running(self) -> str | None:
        with self._lock:
            return next((i for i, t in self._threads.items() if t.is_alive()), None)

    def start_reconcile(self, clouds: Sequence[str], *, dry_run: bool, actor: str) -> str:
        rt = self.ctx.runtime
        configured = [c.name for c in rt.settings.clouds]
        unknown = [n for n in clouds if n not in configured]
        if unknown:
            raise Problem(
                422, "unknown-cloud", f"no configured cloud {', '.join(unknown)} (configured: {', '.join(configured)})"
            )
        if not (clouds or configured):
            raise Problem(422, "unknown-cloud", "no cloud is configured")
        params = {"clouds": list(clouds), "dry_run": dry_run}
        return self._start(KIND, params, actor, lambda job_id: self._run(rt, job_id, list(clouds), dry_run, actor))

    def start_collect(self, clouds: Sequence[str], *, hosts: Sequence[str], interval_s: float, actor: str) -> str:
        """A round of usage collection (``usage_round``), its intent and its result in the operation log."""
        rt = self.ctx.runtime
        unknown = unknown_clouds(rt, clouds)
        if unknown:
            configured = ", ".join(c.name for c in rt.settings.clouds)
            raise Problem(422, "unknown-cloud", f"no configured cloud {', '.join(unknown)} (configured: {configured})")
        params = {"clouds": list(clouds), "hosts": list(hosts), "interval_s": interval_s}
        target = ",".join(clouds) or "*"

        def intent(conn: Connection, job_id: str) -> None:
            rt.audit.append(
                conn, Entry(actor=actor, action="usage.collect", target=target, after={"job": job_id, **params})
            )

        def work(job_id: str) -> None:
            self._set(rt, job_id, progress="collecting")
            try:
                done = self.collector(rt, list(clouds), hosts=tuple(hosts), interval_s=interval_s, sleep=self.sleep)
            except Exception as exc:
                self.log.exception("usage collect job failed", job=job_id)
                why = rt.redactor.text(f"{type(exc).__name__}: {exc}")[:2000]
                self._finish(rt, job_id, actor, target, state="failed", error=why)
                return
            result = {"partial": done.partial, "notes": [{"key": n.key, "values": n.values} for n in done.notes]}
            self._finish(rt, job_id, actor, target, state="done", result=result)

        return self._start(COLLECT, params, actor, work, intent)

    def _start(
        self,
        kind: str,
        params: dict[str, Any],
        actor: str,
        work: Callable[[str], None],
        intent: Callable[[Connection, str], None] | None = None,
    ) -> str:
        """The job row (and the intent, in its transaction), then ``work(job_id)`` in a thread; one job at a time."""
        rt = self.ctx.runtime
        with self._lock:
            busy = next((i for i, t in self._threads.items() if t.is_alive()), None)
            if busy is not None:
                if kind == KIND:
                    detail = f"reconcile run {busy} is still running"
                    raise Problem(409, "reconcile-running", detail, extra={"running": busy})
                raise Problem(409, "job-running", f"job {busy} is still running", extra={"running": busy})
            job_id = str(uuid.uuid4())
            now = rt.clock.now()
            with rt.engine.begin() as conn:
                conn.execute(
                    insert(api_jobs).values(
                        id=job_id,
                        kind=kind,
                        state="running",
                        progress="starting",
                        params=json.dumps(params),
                        actor=actor,
                        request_id=current_request_id(),
                        created=now,
                        updated=now,
                    )
                )
                if intent is not None:
                    intent(conn, job_id)
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(work, job_id), name=f"{kind}-{job_id[:8]}", daemon=True)
            self._threads = {i: t for i, t in self._threads.items() if t.is_alive()}
            self._threads[job_id] = thread
            thread.start()
        return job_id

    def _finish(self, rt: Runtime, job_id: str, actor: str, target: str, *, state: str, **values: Any) -> None:
        """The job's end and its result in the operation log, in one transaction."""
        result = values.pop("result", None)
        after = {"job": job_id, "state": state, **({"partial": result["partial"]} if result else values)}
        with rt.engine.begin() as conn:
            conn.execute(
                update(api_jobs)
                .where(api_jobs.c.id == job_id)
                .values(
                    updated=rt.clock.now(),
                    state=state,
                    progress=state,
                    result=json.dumps(result) if result is not None else None,
                    **values,
                )
            )
            rt.audit.append(conn, Entry(actor=actor, action="usage.collect.done", target=target, after=after))

    def join(self, job_id: str, timeout: float | None = None) -> bool:
        """Wait for a job of this process to end (tests, shutdown); True when it has."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _set(self, rt: Runtime, job_id: str, **values: Any) -> None:
        with rt.engine.begin() as conn:
            conn.execute(update(api_jobs).where(api_jobs.c.id == job_id).values(updated=rt.clock.now(), **values))

    def _run(self, rt: Runtime, job_id: str, clouds: list[str], dry_run: bool, actor: str) -> None:
        try:
            done = self.runner(
                rt,
                clouds,
                actor,
                dry_run=dry_run,
                progress=lambda message: self._set(rt, job_id, progress=message[:500]),
            )
        except UnknownCloudError as exc:
            self._set(rt, job_id, state="failed", progress="failed", error=str(exc))
            return
        except Exception as exc:
            self.log.exception("reconcile job failed", job=job_id)
            why = rt.redactor.text(f"{type(exc).__name__}: {exc}")[:2000]
            self._set(rt, job_id, state="failed", progress="failed", error=why)
            return
        summary = done.summary
        result = {
            "status": summary.status,
            "run_id": summary.run_id,
            "clouds": per_cloud(summary),
            "new": len(summary.new),
            "resolved": len(summary.resolved),
            "records_pulled": done.pulled,
        }
        self._set(rt, job_id, state="done", progress="done", run_id=summary.run_id, result=json.dumps(result))


def load_job(ctx: ApiContext, job_id: str, kind: str = KIND) -> dict[str, Any] | None:
    with ctx.reader.connect() as conn:
        row = conn.execute(select(api_jobs).where(api_jobs.c.id == job_id, api_jobs.c.kind == kind)).mappings().first()
    return job_view(row) if row is not None else None


def job_view(row: Any) -> dict[str, Any]:
    params = json.loads(row["params"])
    return {
        "id": row["id"],
        "state": row["state"],
        "progress": row["progress"],
        "clouds": params.get("clouds", []),
        "dry_run": bool(params.get("dry_run", False)),
        "run_id": row["run_id"],
        "result": json.loads(row["result"]) if row["result"] else None,
        "error": row["error"],
        "actor": row["actor"],
        "request_id": row["request_id"],
        "created": row["created"],
        "updated": row["updated"],
    }
