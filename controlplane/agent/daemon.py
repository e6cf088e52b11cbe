"""The agent's parts put together: jobs on the scheduler, the probe, the HTTP server; started in that order and
drained in this one on SIGTERM:

1. readiness turns false (load balancers stop sending), the runner starts no new run and the scheduler stops;
2. the stop event is set: running jobs finish or stop at their next safe point, for up to ``drain_timeout_s``;
3. the API worker processes (``workers``, with ``api.workers`` > 1) and the HTTP server stop (open requests finish),
   the probe stops, the hypervisor collectors close, waiting job runs
   are written.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from prometheus_client import disable_created_metrics, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from structlog.typing import FilteringBoundLogger

from controlplane.agent.cloud_jobs import SweepState
from controlplane.agent.health import Health
from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runner import JobRunner
from controlplane.agent.runs import RunRecorder
from controlplane.agent.schedule import JobSpec, build_scheduler, job_specs
from controlplane.agent.web import ApiServer, build_app
from controlplane.agent.workers import ApiWorkers
from controlplane.api.settings import uvicorn_options
from controlplane.clock import CST
from controlplane.config import ConfigError, load_settings
from controlplane.logs import configure_logging, get_logger
from controlplane.policy.packs import escalations
from controlplane.policy.transitions import EscalationOf
from controlplane.redaction import Redactor
from controlplane.runtime import Runtime, open_runtime
from controlplane.store.migrate import SchemaError


class _ToStructlog(logging.Handler):
    """Library loggers (APScheduler, uvicorn) into the agent's structlog JSON lines, redaction included."""

    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger(record.name)
        if record.exc_info:
            log.log(record.levelno, record.getMessage(), exc_info=record.exc_info)
        else:
            log.log(record.levelno, record.getMessage())


def route_library_logs(level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _ToStructlog) for h in root.handlers):
        root.addHandler(_ToStructlog(level))
    root.setLevel(min(root.level or level, level))


EXIT_CONFIG = 4
EXIT_STORE = 5


def open_service(config: Path | None, logger: str) -> tuple[Runtime, FilteringBoundLogger] | int:
    """How the agent and each of its API workers start: the settings (``config``, else ``$YUNGUAN_CONFIG``), the
    logging they ask for, the store at this schema version. The runtime and a logger; else the exit code, the
    config error printed or the store's failure logged."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(Redactor(settings.secret_values()), settings.log.level, settings.log.format, sys.stdout)
    route_library_logs()
    log = get_logger(logger)
    try:
        return open_runtime(settings), log
    except SchemaError as exc:
        log.error("store not ready", error=str(exc))  # noqa: TRY400 - the message is the cause; no traceback
    except SQLAlchemyError as exc:
        log.error("store unreachable", error=type(exc).__name__)  # noqa: TRY400 - a restart retries; no traceback
    return EXIT_STORE


@dataclass
class Agent:
    rt: Runtime
    metrics: AgentMetrics
    recorder: RunRecorder
    runner: JobRunner
    specs: list[JobSpec]
    health: Health
    server: ApiServer
    stop_event: threading.Event
    sweeps: dict[str, SweepState] = field(default_factory=dict)
    address: tuple[str, int] | None = None
    workers: ApiWorkers | None = None

    def __post_init__(self) -> None:
        self.scheduler = build_scheduler(
            self.specs, self.runner, workers=self.rt.settings.agent.workers, now=lambda: dt.datetime.now(CST)
        )
        self._log = structlog.get_logger("yunguan.agent")

    def start(self) -> tuple[str, int]:
        """Probe the store, start the scheduler and the probe thread, then serve; the address served on."""
        self.health.probe()
        self.scheduler.start()
        self.health.start()
        self.address = self.server.start()
        if self.workers is not None:
            assert self.server.socket is not None
            self.workers.start(self.server.socket)
        self._log.info(
            "agent serving",
            host=self.address[0],
            port=self.address[1],
            tls=self.rt.settings.api.tls.enabled,
            jobs=[s.name for s in self.specs],
            api_processes=self.rt.settings.api.workers,
        )
        return self.address

    def drain(self) -> bool:
        """Stop as the module docstring says; True when every job ended within the drain timeout."""
        timeout = self.rt.settings.agent.drain_timeout_s
        self.health.draining = True
        self.runner.stopping = True
        self._log.info("agent draining", running=sorted(self.runner.running), timeout_s=timeout)
        self.scheduler.shutdown(wait=False)
        self.stop_event.set()
        finished = self.runner.wait_idle(timeout)
        if not finished:
            self._log.warning("jobs still running at the drain timeout: left behind", jobs=sorted(self.runner.running))
        if self.workers is not None and not self.workers.stop():
            self._log.warning("API workers did not stop in time")
        if not self.server.stop():
            self._log.warning("the HTTP server did not stop in time")
        self.health.stop()
        for cloud, state in self.sweeps.items():
            if not state.close():
                self._log.warning("a sweep still runs: its collector is left open", cloud=cloud)
        if not self.recorder.flush():
            self._log.warning("job runs not recorded: the store is unreachable", runs=self.recorder.pending)
        return finished


def build_agent(rt: Runtime, *, escalation_of: EscalationOf | None = None, config: Path | None = None) -> Agent:
    """Everything the agent runs, from the runtime's settings (nothing started yet). ``config``: the file those
    settings were read from (else ``$YUNGUAN_CONFIG`` or none), which API workers read too."""
    agent = rt.settings.agent
    # no *_created series: they double what a scrape carries, and no dashboard reads them
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = AgentMetrics()
    log = structlog.get_logger("yunguan.agent")
    recorder = RunRecorder(
        rt.engine,
        on_problem=lambda error, n: log.warning("job runs wait for the store", error=error, waiting=n),
    )
    runner = JobRunner(recorder, rt.clock, rt.redactor, metrics, error_chars=agent.error_chars)
    stop = threading.Event()
    sweeps: dict[str, SweepState] = {}
    if escalation_of is None:
        escalation_of = escalations(rt.settings.policy)
    specs = job_specs(rt, agent, stop, metrics, sweeps, escalation_of)
    holder: dict[str, Agent] = {}
    health = Health(
        rt.engine,
        metrics,
        recorder,
        every_s=agent.health_every_s,
        scheduler_running=lambda: bool(holder["agent"].scheduler.running),
    )
    server = ApiServer(build_app(rt, health, metrics), uvicorn_options(rt.settings.api))
    built = Agent(rt, metrics, recorder, runner, specs, health, server, stop, sweeps)
    if rt.settings.api.workers > 1:
        built.workers = ApiWorkers(
            rt.settings.api.workers - 1, config, health.readiness, lambda: generate_latest(metrics.registry)
        )
    holder["agent"] = built
    return built
