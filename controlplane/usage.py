"""Measured use: samples of CPU, memory and storage per namespace, server or volume, in core units, from whatever
measures them (the kubelet summary, metrics.k8s.io, later the hypervisors through libvirt). One store for every
source, so "how much of its approval does this system use" is one query whatever the cloud.

Metrics and units: ``cpu_cores`` (cores in use), ``memory_bytes`` (working set), ``storage_used_bytes`` and
``storage_capacity_bytes`` (filesystem of a volume or claim, as the node sees it).

From the hypervisors (scope ``server``, id = the domain UUID = the Nova server id): ``cpu_percent`` (of the allocated
vCPUs, 0-100), ``cpu_wait_percent`` (vCPUs ready but waiting for a host CPU), ``cpu_cores``, ``vcpus`` (allocated),
``memory_percent``, ``memory_bytes`` (used), ``memory_total_bytes``, ``disk_percent``, ``disk_used_bytes``,
``disk_total_bytes``, ``disk_read_bytes_per_s``,
``disk_write_bytes_per_s``, ``net_rx_bytes_per_s``, ``net_tx_bytes_per_s``. Every sample says how good it is
(``quality``): ``measured``, ``estimated`` (a host-side figure standing in for the guest's, e.g. allocated image bytes
for disk use), or ``missing`` (tried and could not measure: ``value`` is None), so a rule never takes an estimate for
a measurement.

Rollups of these samples (hourly, daily) are in ``usage_rollup``, the questions the rules ask of them in
``usage_query``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import Field
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select

from controlplane.audit.chain import format_time, parse_time
from controlplane.domain import Frozen
from controlplane.store.tables import usage_groups, usage_samples, usage_sweeps

if TYPE_CHECKING:
    from controlplane.usage_sweep import SweepResult

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
            "value": None if s.value is None else float(s.value),
            "source": s.source,
            "quality": s.quality.value,
            "group_id": s.group_id,
            "host": s.host,
        }
        for s in samples
    ]
    if rows:
        conn.execute(insert(usage_samples), rows)
    return len(rows)


def remember_groups(conn: Connection, cloud: str, groups: Iterable[tuple[str, str]], seen: dt.datetime) -> None:
    """Keep each group's (project's) latest name, so a footprint that names a project finds its servers' samples."""
    named = dict(groups)
    if not named:
        return
    ids = sorted(named)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(delete(usage_groups).where(usage_groups.c.cloud == cloud, usage_groups.c.group_id.in_(chunk)))
        rows = [{"cloud": cloud, "group_id": g, "name": named[g], "seen": format_time(seen)} for g in chunk]
        conn.execute(insert(usage_groups), rows)


def group_ids_named(conn: Connection, cloud: str, refs: Iterable[str]) -> list[str]:
    """The group ids whose remembered name is one of ``refs`` (project names in a ledger footprint)."""
    return sorted(group_id for _, group_id in group_ids_by_name(conn, cloud, refs))


def group_ids_by_name(conn: Connection, cloud: str, refs: Iterable[str]) -> list[tuple[str, str]]:
    """(name, group id) of the groups whose remembered name is one of ``refs``."""
    names = sorted(set(refs))
    if not names:
        return []
    t = usage_groups
    query = select(t.c.name, t.c.group_id).where(t.c.cloud == cloud, t.c.name.in_(bindparam("names", expanding=True)))
    return [(r[0], r[1]) for r in conn.execute(query, {"names": names})]


def record_sweep(conn: Connection, sweep: SweepResult) -> int:
    """Store one hypervisor sweep in the caller's transaction: its samples (as ``write_samples``) and its own health
    (hosts ok and failed, domains, duration, each host's result and the domains nobody knows). Returns its id."""
    write_samples(conn, sweep.samples)
    remember_groups(conn, sweep.cloud, sweep.groups, sweep.finished)
    detail: dict[str, Any] = {
        "hosts": [
            {"host": h.host, "ok": h.ok, "domains": h.domains, "duration_s": h.duration_s, "error": h.error}
            for h in sweep.hosts
        ],
        "unknown_domains": [{"host": d.host, "uuid": d.uuid, "name": d.name} for d in sweep.unknown_domains],
    }
    done = conn.execute(
        insert(usage_sweeps).values(
            cloud=sweep.cloud,
            started=format_time(sweep.started),
            finished=format_time(sweep.finished),
            hosts_ok=sum(1 for h in sweep.hosts if h.ok),
            hosts_failed=sum(1 for h in sweep.hosts if not h.ok),
            domains=sum(h.domains for h in sweep.hosts),
            samples=len(sweep.samples),
            duration_s=(sweep.finished - sweep.started).total_seconds(),
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
        )
    )
    key = done.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True)
class SweepRecord:
    id: int
    cloud: str
    started: dt.datetime
    finished: dt.datetime
    hosts_ok: int
    hosts_failed: int
    domains: int
    samples: int
    duration_s: float
    detail: dict[str, Any]


def sweeps(conn: Connection, cloud: str, limit: int = 20) -> list[SweepRecord]:
    """The cloud's most recent sweeps, newest first."""
    rows = conn.execute(
        select(usage_sweeps)
        .where(usage_sweeps.c.cloud == cloud)
        .order_by(usage_sweeps.c.started.desc(), usage_sweeps.c.id.desc())
        .limit(limit)
    )
    return [
        SweepRecord(
            id=r.id,
            cloud=r.cloud,
            started=parse_time(r.started),
            finished=parse_time(r.finished),
            hosts_ok=r.hosts_ok,
            hosts_failed=r.hosts_failed,
            domains=r.domains,
            samples=r.samples,
            duration_s=r.duration_s,
            detail=json.loads(r.detail),
        )
        for r in rows
    ]


def recent_scopes(
    conn: Connection,
    cloud: str,
    scope_kind: str,
    group_ids: Iterable[str],
    within: dt.timedelta = dt.timedelta(hours=1),
) -> list[str]:
    """The scopes of these groups (e.g. the servers of these projects) that have a sample no older than ``within``
    before the newest sample of their kind on the cloud: the ones that still exist, not every server ever seen."""
    groups = sorted(set(group_ids))
    if not groups:
        return []
    of_kind = and_(usage_samples.c.cloud == cloud, usage_samples.c.scope_kind == scope_kind)
    newest = conn.execute(select(func.max(usage_samples.c.time)).where(of_kind)).scalar()
    if newest is None:
        return []
    since = format_time(parse_time(newest) - within)
    rows = conn.execute(
        select(usage_samples.c.scope_id)
        .distinct()
        .where(of_kind, usage_samples.c.time >= since, usage_samples.c.group_id.in_(groups))
        .order_by(usage_samples.c.scope_id)
    )
    return [r.scope_id for r in rows]


def latest(conn: Connection, cloud: str, scope_kind: str, scope_ids: Iterable[str]) -> list[UsageSample]:
    """The newest sample with a value (a measurement or an estimate) of each metric for each of the scopes."""
    ids = sorted(set(scope_ids))
    if not ids:
        return []
    where = and_(
        usage_samples.c.cloud == cloud,
        usage_samples.c.scope_kind == scope_kind,
        usage_samples.c.scope_id.in_(ids),
        usage_samples.c.value.is_not(None),
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
            time=parse_time(r.time),
            source=r.source,
            quality=Quality(r.quality),
            group_id=r.group_id,
            host=r.host,
        )
        for r in rows
    ]
