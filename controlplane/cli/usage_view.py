"""What ``yunguan usage show`` shows: a target (system, server, namespace) resolved to the scopes it covers on one
cloud, then either the latest samples against the approval in force, or a window's figures from the rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from controlplane.domain import FootprintKind
from controlplane.ledger.store import Approved, footprints
from controlplane.store.tables import usage_hourly, usage_samples
from controlplane.usage import UsageSample, latest, recent_scopes
from controlplane.usage_query import WEIGHTS, Selection, Summary, Window, metrics, summary, system_selections

GIB = Decimal(1024**3)
SCOPE_KINDS = ("server", "namespace", "claim", "volume")
# metric -> (the allocation's quantity it is measured against, how it is shown); percent metrics are shown as such
SHOWN = {
    "namespace": {
        "cpu_cores": ("vcpu", Decimal(1)),
        "memory_bytes": ("memory_bytes", GIB),
        "storage_used_bytes": ("storage_bytes", GIB),
        "storage_capacity_bytes": ("storage_bytes", GIB),
    },
    "server": {
        "cpu_percent": ("", Decimal(1)),
        "cpu_cores": ("vcpu", Decimal(1)),
        "vcpus": ("vcpu", Decimal(1)),
        "memory_percent": ("", Decimal(1)),
        "memory_bytes": ("memory_bytes", GIB),
        "memory_total_bytes": ("memory_bytes", GIB),
        "disk_percent": ("", Decimal(1)),
        "disk_used_bytes": ("storage_bytes", GIB),
        "disk_total_bytes": ("storage_bytes", GIB),
    },
}


class TargetError(Exception):
    """The target cannot be shown; ``key`` is the message, ``values`` fill it."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Target:
    cloud: str
    selections: tuple[Selection, ...]
    owners: frozenset[str]  # the systems whose approval the use is put against


def resolve(conn: Connection, target: str, cloud: str | None, clouds: Sequence[str]) -> Target:
    """A system (code or name), else a namespace of a system's footprint, else any scope with samples or rollups
    (a server id, a namespace, a claim) on one of ``clouds``."""
    owned = [f for f in footprints(conn, target) if cloud is None or f.cloud == cloud]
    if owned:
        where = _one_cloud(target, {f.cloud for f in owned if f.kind is not FootprintKind.EQUIPMENT})
        return Target(where, tuple(system_selections(conn, target, where)), frozenset({owned[0].system}))
    namespaces = [
        f
        for f in footprints(conn)
        if f.ref == target and f.kind is FootprintKind.NAMESPACE and (cloud is None or f.cloud == cloud)
    ]
    found = {(f.cloud, "namespace") for f in namespaces} | _scopes_named(conn, target, [cloud] if cloud else clouds)
    if not found:
        raise TargetError("no_usage", target=target)
    where = _one_cloud(target, {c for c, _ in found})
    kinds = sorted(k for c, k in found if c == where)
    owners = frozenset(f.system for f in namespaces if f.cloud == where)
    return Target(where, tuple(Selection.scope(where, k, target) for k in kinds), owners)


def _one_cloud(target: str, clouds: set[str]) -> str:
    if len(clouds) != 1:
        raise TargetError("usage_which_cloud", target=target, clouds=", ".join(sorted(clouds)) or "-")
    (where,) = clouds
    return where


def _scopes_named(conn: Connection, scope_id: str, clouds: Iterable[str]) -> set[tuple[str, str]]:
    """(cloud, kind) of the scopes with this id: one indexed look-up per cloud and kind."""
    found: set[tuple[str, str]] = set()
    for cloud in clouds:
        for kind in SCOPE_KINDS:
            for table in (usage_samples, usage_hourly):
                hit = conn.execute(
                    select(table.c.scope_id)
                    .where(table.c.cloud == cloud, table.c.scope_kind == kind, table.c.scope_id == scope_id)
                    .limit(1)
                ).first()
                if hit is not None:
                    found.add((cloud, kind))
                    break
    return found


def _text(value: Decimal) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def latest_rows(conn: Connection, target: Target, approvals: Sequence[Approved]) -> list[dict[str, Any]]:
    """The newest samples of the target's scopes: absolute metrics added up and put against the approval, percent
    metrics weighted by each server's capacity (as the system means are)."""
    rows: list[dict[str, Any]] = []
    for selection in target.selections:
        ids = (
            recent_scopes(conn, selection.cloud, selection.scope_kind, selection.group_ids)
            if selection.group_ids
            else list(selection.scope_ids)
        )
        samples = latest(conn, selection.cloud, selection.scope_kind, ids)
        shown = SHOWN.get(selection.scope_kind, SHOWN["namespace"])
        for metric, (quantity, unit) in shown.items():
            mine = [s for s in samples if s.metric == metric and s.value is not None]
            if mine:
                rows.append(
                    _latest_row(metric, mine=mine, samples=samples, quantity=quantity, unit=unit, approvals=approvals)
                )
    return rows


def _latest_row(
    metric: str,
    *,
    mine: list[UsageSample],
    samples: list[UsageSample],
    quantity: str,
    unit: Decimal,
    approvals: Sequence[Approved],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "metric": metric,
        "used": "",
        "approved": "",
        "percent": "",
        "quality": ", ".join(sorted({s.quality.value for s in mine})),
        "measured_at": max(s.time for s in mine).isoformat(timespec="seconds"),
        "source": ", ".join(sorted({s.source for s in mine})),
    }
    if metric in WEIGHTS:
        row["percent"] = f"{_weighted(mine, samples, WEIGHTS[metric]):.1f}"
        return row
    used = sum((s.value for s in mine if s.value is not None), Decimal(0)) / unit
    row["used"] = _text(used)
    if approvals:
        approved = sum((Decimal(getattr(a.revision.allocation.quantities, quantity)) for a in approvals), Decimal(0))
        row["approved"] = _text(approved / unit)
        row["percent"] = f"{used * unit / approved * 100:.1f}" if approved else ""
    return row


def _weighted(mine: list[UsageSample], samples: list[UsageSample], weight_metric: str) -> Decimal:
    if len(mine) == 1:
        return mine[0].value or Decimal(0)
    capacity = {s.scope_id: s.value for s in samples if s.metric == weight_metric and s.value}
    weighed = [(s.value, capacity[s.scope_id]) for s in mine if s.value is not None and s.scope_id in capacity]
    total = sum((w for _, w in weighed), Decimal(0))
    return sum((v * w for v, w in weighed), Decimal(0)) / total if total else Decimal(0)


def _unit(metric: str) -> tuple[str, Decimal]:
    if metric.endswith("_percent"):
        return "%", Decimal(1)
    if metric.endswith("_bytes_per_s"):
        return "MiB/s", Decimal(1024**2)
    if metric.endswith("_bytes"):
        return "GiB", GIB
    if metric == "vcpus":
        return "vCPU", Decimal(1)
    if metric.endswith("_cores"):
        return "cores", Decimal(1)
    return "", Decimal(1)


def _scaled(value: float | None, unit: Decimal) -> float | None:
    return None if value is None else round(float(Decimal(repr(value)) / unit), 3)


def window_rows(conn: Connection, target: Target, window: Window) -> list[dict[str, Any]]:
    """Per metric over the window, from the rollups: mean, max, samples and how many were estimates or missing."""
    rows: list[dict[str, Any]] = []
    for selection in target.selections:
        for metric in metrics(conn, [selection], window):
            found: Summary = summary(conn, selection, metric, window)
            name, unit = _unit(metric)
            rows.append(
                {
                    "metric": metric,
                    "unit": name,
                    "mean": _scaled(found.mean, unit),
                    "max": _scaled(found.max, unit),
                    "samples": found.samples,
                    "estimated": found.estimated,
                    "missing": found.missing,
                    "scopes": found.scopes,
                }
            )
    return rows


def cst_days(first: dt.datetime, end: dt.datetime | None, today: dt.date) -> Window:
    """``--from``/``--to`` as days in UTC+8, ``to`` excluded; no ``--to``: up to and including today."""
    return Window.days(first.date(), end.date() if end else today + dt.timedelta(days=1))
