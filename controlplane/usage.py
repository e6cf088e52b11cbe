"""Measured use: samples of CPU, memory and storage per namespace, server or volume, in core units, from whatever
measures them (the kubelet summary, metrics.k8s.io, later the hypervisors through libvirt). One store for every
source, so "how much of its approval does this system use" is one query whatever the cloud.

Metrics and units: ``cpu_cores`` (cores in use), ``memory_bytes`` (working set), ``storage_used_bytes`` and
``storage_capacity_bytes`` (filesystem of a volume or claim, as the node sees it).

From the hypervisors (scope ``server``, id = the domain UUID = the Nova server id): ``cpu_percent`` (of the allocated
vCPUs, 0-100), ``cpu_cores``, ``vcpus`` (allocated), ``memory_percent``, ``memory_bytes`` (used),
``memory_total_bytes``, ``disk_percent``, ``disk_used_bytes``, ``disk_total_bytes``, ``disk_read_bytes_per_s``,
``disk_write_bytes_per_s``, ``net_rx_bytes_per_s``, ``net_tx_bytes_per_s``. Every sample says how good it is (``quality``): ``measured``,
``estimated`` (a host-side figure standing in for the guest's, e.g. allocated image bytes for disk use), or
``missing`` (tried and could not measure: ``value`` is None), so a rule never takes an estimate for a measurement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field
from sqlalchemy import Connection, and_, func, insert, select

from controlplane.audit.chain import format_time
from controlplane.domain import Frozen
from controlplane.store.tables import usage_samples

METRICS = ("cpu_cores", "memory_bytes", "storage_used_bytes", "storage_capacity_bytes")


class Quality(StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"
    MISSING = "missing"


class UsageSample(Frozen):
    cloud: str
    scope_kind: str = Field(description="namespace, claim, server, volume")
    scope_id: str
    metric: str
    value: Decimal | None = Field(ge=0, description="None only when quality is missing")
    time: dt.datetime
    source: str = Field(description="kubelet-summary, metrics-api, libvirt, libvirt-guest-agent, libvirt-allocated")
    quality: Quality = Quality.MEASURED
    group_id: str = Field(default="", description="the project/namespace the scope belongs to, as the cloud says")
    host: str = Field(default="", description="the hypervisor the sample was read from")


@dataclass(frozen=True)
class UsageBatch:
    samples: tuple[UsageSample, ...]
    complete: bool
    problems: tuple[str, ...] = ()


@runtime_checkable
class UsageSource(Protocol):
    def usage(self) -> UsageBatch: ...


def write_samples(conn: Connection, samples: Iterable[UsageSample]) -> int:
    rows = [
        {
            "time": format_time(s.time),
            "cloud": s.cloud,
            "scope_kind": s.scope_kind,
            "scope_id": s.scope_id,
            "metric": s.metric,
            "value": float(s.value),
            "source": s.source,
        }
        for s in samples
    ]
    if rows:
        conn.execute(insert(usage_samples), rows)
    return len(rows)


def latest(conn: Connection, cloud: str, scope_kind: str, scope_ids: Iterable[str]) -> list[UsageSample]:
    """The newest sample of each metric for each of the scopes."""
    ids = sorted(set(scope_ids))
    if not ids:
        return []
    where = and_(
        usage_samples.c.cloud == cloud, usage_samples.c.scope_kind == scope_kind, usage_samples.c.scope_id.in_(ids)
    )
    newest = (
        select(usage_samples.c.scope_id, usage_samples.c.metric, func.max(usage_samples.c.time).label("time"))
        .where(where)
        .group_by(usage_samples.c.scope_id, usage_samples.c.metric)
        .subquery()
    )
    rows = conn.execute(
        select(usage_samples)
        .join(
            newest,
            and_(
                usage_samples.c.scope_id == newest.c.scope_id,
                usage_samples.c.metric == newest.c.metric,
                usage_samples.c.time == newest.c.time,
            ),
        )
        .where(where)
    )
    return [
        UsageSample(
            cloud=r.cloud,
            scope_kind=r.scope_kind,
            scope_id=r.scope_id,
            metric=r.metric,
            value=Decimal(str(r.value)),
            time=dt.datetime.strptime(r.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC),
            source=r.source,
        )
        for r in rows
    ]
