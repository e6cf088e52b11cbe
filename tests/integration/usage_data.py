"""Samples for the usage store tests: hypervisor samples of servers at chosen times, written with an injected time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Engine

from controlplane.usage import Quality, UsageSample, write_samples

CLOUD = "os-use"


def at(text: str) -> dt.datetime:
    """An aware UTC time from ``2026-11-20T02:05`` (UTC)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def sample(
    server: str,
    metric: str,
    when: str,
    value: float | None,
    *,
    estimated: bool = False,
    project: str = "p-1",
    cloud: str = CLOUD,
) -> UsageSample:
    return UsageSample(
        cloud=cloud,
        scope_kind="server",
        scope_id=server,
        metric=metric,
        value=None if value is None else Decimal(str(value)),
        time=at(when),
        source="libvirt",
        quality=Quality.MISSING if value is None else Quality.ESTIMATED if estimated else Quality.MEASURED,
        group_id=project,
        host="hv-1",
    )


def write(engine: Engine, *samples: UsageSample) -> None:
    with engine.begin() as conn:
        write_samples(conn, samples)
