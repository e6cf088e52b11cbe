"""Which jobs run when, from the ``agent:`` and ``clouds:`` config, on an APScheduler ``BackgroundScheduler``.

Per cloud: a reconcile every ``reconcile_every_s``; a hypervisor sweep every ``sweep_every_s`` for a cloud with
``hypervisors``. For the whole store: rollups + usage retention every ``rollup_every_s``; daily at a time of day in
UTC+8: the operation-log checkpoint and retention, the monthly evaluation (acting once per month), the findings
tick. Every job has ``max_instances=1`` (never overlaps itself) and ``coalesce`` (runs missed while it ran, or while
the machine slept, become one run), and goes through the ``JobRunner``, which records and counts each run.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from controlplane.agent.cloud_jobs import SweepState, reconcile_job, sweep_job
from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runner import Done, JobRunner
from controlplane.agent.settings import AgentSettings, JobKind, hour_minute
from controlplane.agent.store_jobs import checkpoint_job, evaluate_job, rollup_job, tick_job
from controlplane.clock import CST
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.packs import configured_pack
from controlplane.policy.transitions import EscalationOf
from controlplane.runtime import Runtime


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name (``reconcile:CLOUD``, ``rollup``...), kind, trigger and work."""

    name: str
    kind: JobKind
    trigger: Any  # an APScheduler trigger (the library is untyped)
    work: Callable[[], Done]
    start_now: bool = False


def job_specs(  # noqa: PLR0917 - the jobs' dependencies, each explicit
    rt: Runtime,
    agent: AgentSettings,
    stop: threading.Event,
    metrics: AgentMetrics,
    sweeps: dict[str, SweepState],
    escalation_of: EscalationOf,
) -> list[JobSpec]:
    """The jobs the configuration asks for (``agent.disabled`` left out). ``sweeps`` receives each swept cloud's
    state, which the caller closes at exit."""
    specs: list[JobSpec] = []
    calendar = load_calendar(rt.settings.policy.calendar_file)

    def every(seconds: int) -> IntervalTrigger:
        return IntervalTrigger(seconds=seconds, timezone=CST)

    def daily(at: str) -> CronTrigger:
        hour, minute = hour_minute(at)
        return CronTrigger(hour=hour, minute=minute, timezone=CST)

    for cloud in rt.settings.clouds:
        specs.append(
            JobSpec(
                f"reconcile:{cloud.name}",
                "reconcile",
                every(agent.reconcile_every_s),
                partial(reconcile_job, rt, cloud, stop=stop, metrics=metrics),
                start_now=agent.start_now,
            )
        )
        if cloud.hypervisors is not None:
            state = sweeps.setdefault(cloud.name, SweepState())
            specs.append(
                JobSpec(
                    f"sweep:{cloud.name}",
                    "sweep",
                    every(agent.sweep_every_s),
                    partial(sweep_job, rt, cloud, state, stop=stop, metrics=metrics),
                    start_now=agent.start_now,
                )
            )
    specs.append(
        JobSpec(
            "rollup",
            "rollup",
            every(agent.rollup_every_s),
            lambda: rollup_job(rt, stop=stop),
            start_now=agent.start_now,
        )
    )
    specs.append(
        JobSpec(
            "checkpoint",
            "checkpoint",
            daily(agent.checkpoint_at),
            lambda: checkpoint_job(rt, job_runs_days=agent.job_runs_days, stop=stop),
        )
    )
    if rt.settings.policy.pack is not None:
        pack = configured_pack(rt.settings.policy)
        specs.append(
            JobSpec(
                "evaluate",
                "evaluate",
                daily(agent.evaluate_at),
                lambda: evaluate_job(
                    rt, job="evaluate", pack=pack, escalation_of=escalation_of, calendar=calendar, stop=stop
                ),
            )
        )
    specs.append(
        JobSpec(
            "tick",
            "tick",
            daily(agent.tick_at),
            lambda: tick_job(rt, escalation_of=escalation_of, calendar=calendar, stop=stop),
        )
    )
    return [s for s in specs if s.kind not in agent.disabled]


def build_scheduler(
    specs: list[JobSpec], runner: JobRunner, *, workers: int, now: Callable[[], dt.datetime]
) -> BackgroundScheduler:
    """A scheduler (not started) running each spec through ``runner``; interval jobs marked ``start_now`` first run
    at once. Missed runs are coalesced and run however late (no misfire is dropped)."""
    scheduler = BackgroundScheduler(
        timezone=CST,
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    for spec in specs:
        options: dict[str, Any] = {}
        if spec.start_now:
            options["next_run_time"] = now()
        scheduler.add_job(
            runner.run, spec.trigger, args=(spec.name, spec.work), id=spec.name, name=spec.name, **options
        )
    return scheduler
