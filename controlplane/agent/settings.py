"""The ``agent:`` config section: how often each job runs, when the daily ones run (UTC+8), how long a drain may
take. Intervals are seconds; times of day are ``HH:MM`` in China Standard Time, as deadlines are (REGULATIONS §0)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JobKind = Literal["reconcile", "sweep", "rollup", "tick", "evaluate", "checkpoint"]
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class AgentSettings(BaseModel):
    """What the agent runs and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reconcile_every_s: int = Field(
        default=900, ge=1, le=86_400, description="seconds between reconciles of each cloud (default 15 minutes)"
    )
    sweep_every_s: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="seconds between hypervisor sweeps of each cloud with `hypervisors` (default 5 minutes); guest "
        "agents are asked every `hypervisors.agent_every`th sweep",
    )
    rollup_every_s: int = Field(
        default=3600, ge=1, le=86_400, description="seconds between usage rollups + usage retention (default hourly)"
    )
    checkpoint_at: str = Field(
        default="01:00", description="daily, UTC+8: sign the operation log's head, apply its retention, old job runs"
    )
    evaluate_at: str = Field(
        default="03:00",
        description="daily, UTC+8: evaluate the policy pack over the previous month once (normally on the 1st; a "
        "failed or missed evaluation is tried again the next day); needs policy.pack",
    )
    tick_at: str = Field(
        default="09:00", description="daily, UTC+8: the findings lifecycle tick and notice delivery (office hours)"
    )
    disabled: tuple[JobKind, ...] = Field(default=(), description="jobs not to schedule")
    start_now: bool = Field(
        default=True,
        description="run the interval jobs (reconcile, sweep, rollup) once at start, not an interval later",
    )
    workers: int = Field(default=8, ge=1, le=128, description="jobs that may run at once (threads)")
    drain_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="on SIGTERM, how long running jobs get to finish or reach a safe point before the agent exits",
    )
    health_every_s: float = Field(
        default=10.0, gt=0, le=600, description="seconds between store probes (readiness, findings/actions gauges)"
    )
    job_runs_days: int = Field(default=90, ge=1, le=3660, description="days job runs are kept in `job_runs`")
    error_chars: int = Field(default=2000, ge=100, le=100_000, description="a failed run's error text is cut here")

    @field_validator("checkpoint_at", "evaluate_at", "tick_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"{value!r} is not a time of day: write HH:MM (24 hours, UTC+8), e.g. 09:00")
        return value


def hour_minute(value: str) -> tuple[int, int]:
    hour, minute = value.split(":")
    return int(hour), int(minute)
