"""A reconcile run: inventories in, drift recorded with the diff against the previous run, in the operation log.

The run never touches a cloud; adapters only read. A cloud whose inventory is incomplete keeps its earlier drift
unresolved: "resolved" is only ever concluded from a complete listing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    func,
    insert,
    select,
    tuple_,
    update,
)

from controlplane.audit.chain import canonical_json
from controlplane.audit.log import AuditLog, Entry
from controlplane.reconcile.desired import DesiredCloud
from controlplane.reconcile.drift import Drift, DriftClass
from controlplane.reconcile.engine import CloudResult, reconcile_cloud
from controlplane.reconcile.observed import Inventory
from controlplane.store.tables import drift_records, reconcile_run_clouds, reconcile_runs


class InventorySource(Protocol):
    """What an adapter offers the run: one snapshot of its cloud."""

    def take(self) -> Inventory: ...


@dataclass
class RunSummary:
    run_id: int | None
    status: str
    results: list[CloudResult]
    new: list[Drift] = field(default_factory=list)
    resolved: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def drift(self) -> list[Drift]:
        return [d for r in self.results for d in r.drift]

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for r in self.results:
            c = Counter(d.drift_class.value for d in r.drift)
            table[r.cloud] = {k.value: c.get(k.value, 0) for k in DriftClass}
        return table


def _last_run_of(conn: Connection, cloud: str) -> int | None:
    return conn.execute(
        select(func.max(reconcile_run_clouds.c.run_id)).where(reconcile_run_clouds.c.cloud == cloud)
    ).scalar()


def _previous_keys(conn: Connection, cloud: str) -> set[tuple[str, ...]]:
    run = _last_run_of(conn, cloud)
    if run is None:
        return set()
    rows = conn.execute(
        select(
            drift_records.c.cloud,
            drift_records.c.system,
            drift_records.c.drift_class,
            drift_records.c.resource_kind,
            drift_records.c.resource_id,
        ).where(drift_records.c.run_id == run, drift_records.c.cloud == cloud)
    )
    return {(r[0], r[1] or "", r[2], r[3], r[4]) for r in rows}


def take_inventories(
    desired: Iterable[DesiredCloud],
    sources: Mapping[str, InventorySource],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Inventory]:
    """Read every cloud. Done outside any store transaction: listings take time, and no lock is held meanwhile."""
    found: dict[str, Inventory] = {}
    for want in desired:
        if progress:
            progress(want.cloud.name)
        found[want.cloud.name] = sources[want.cloud.name].take()
    return found


def record_run(  # noqa: PLR0917 - the run's inputs, each explicit
    conn: Connection,
    audit: AuditLog,
    desired: Iterable[DesiredCloud],
    inventories: Mapping[str, Inventory],
    started: dt.datetime,
    now: Callable[[], dt.datetime],
    actor: str,
    *,
    dry_run: bool = False,
) -> RunSummary:
    """Compare, diff against the previous run and (unless dry-run) record it, in the caller's transaction."""
    results = [reconcile_cloud(want, inventories[want.cloud.name]) for want in desired]
    status = "ok" if all(r.complete for r in results) else "partial"
    summary = RunSummary(None, status, results)
    for r in results:
        before = _previous_keys(conn, r.cloud)
        now_keys = {d.key for d in r.drift}
        summary.new.extend(d for d in r.drift if d.key not in before)
        if r.complete:
            summary.resolved.extend(sorted(before - now_keys))
    if dry_run:
        return summary
    clouds_json = {
        r.cloud: {
            "complete": r.complete,
            "problems": list(r.problems),
            "suppressed": r.suppressed,
            "api_calls": r.api_calls,
        }
        for r in results
    }
    run_id = conn.execute(
        insert(reconcile_runs).values(
            started_at=started,
            ended_at=None,
            status="running",
            dry_run=False,
            clouds=canonical_json(clouds_json),
            counts=canonical_json(summary.counts()),
            api_calls=sum(r.api_calls for r in results),
            new_drift=len(summary.new),
            resolved_drift=len(summary.resolved),
        )
    ).inserted_primary_key
    assert run_id is not None
    summary.run_id = int(run_id[0])
    conn.execute(
        insert(reconcile_run_clouds),
        [
            {"run_id": summary.run_id, "cloud": r.cloud, "complete": r.complete, "api_calls": r.api_calls}
            for r in results
        ],
    )
    new_keys = {d.key for d in summary.new}
    rows = [
        {
            "run_id": summary.run_id,
            "cloud": d.cloud,
            "system": d.system,
            "drift_class": d.drift_class.value,
            "resource_kind": d.resource_kind,
            "resource_id": d.resource_id,
            "resource_name": d.resource_name,
            "detail": canonical_json(d.detail),
            "is_new": d.key in new_keys,
        }
        for d in summary.drift
    ]
    if rows:
        conn.execute(insert(drift_records), rows)
    conn.execute(
        update(reconcile_runs).where(reconcile_runs.c.id == summary.run_id).values(status=status, ended_at=now())
    )
    audit.append(
        conn,
        Entry(
            actor,
            "reconcile.run",
            f"reconcile_run:{summary.run_id}",
            None,
            {
                "status": status,
                "clouds": clouds_json,
                "counts": summary.counts(),
                "new": len(summary.new),
                "resolved": len(summary.resolved),
            },
        ),
    )
    return summary


def _given(value: object) -> bool:
    return isinstance(value, ColumnElement) or bool(value)  # a bound parameter, or a value other than None or ""


def _latest_drift(cloud: Any, system: Any, drift_class: Any) -> Select[Any]:
    """The drift records of the most recent recorded run of each cloud, filtered (by a value, or a bound parameter),
    in no order."""
    latest = (
        select(reconcile_run_clouds.c.cloud, func.max(reconcile_run_clouds.c.run_id).label("run_id"))
        .group_by(reconcile_run_clouds.c.cloud)
        .subquery()
    )
    query = select(drift_records).join(
        latest, (latest.c.cloud == drift_records.c.cloud) & (latest.c.run_id == drift_records.c.run_id)
    )
    if _given(cloud):
        query = query.where(drift_records.c.cloud == cloud)
    if _given(system):
        query = query.where(drift_records.c.system == system)
    if _given(drift_class):
        query = query.where(drift_records.c.drift_class == drift_class)
    return query


def _as_dicts(rows: Iterable[Row[Any]]) -> list[dict[str, object]]:
    return [{k: (json.loads(v) if k == "detail" else v) for k, v in r._mapping.items() if k != "id"} for r in rows]


def latest_drift(
    conn: Connection, cloud: str | None = None, system: str | None = None, drift_class: str | None = None
) -> list[dict[str, object]]:
    """The drift of the most recent recorded run of each cloud (a run that found none shows none)."""
    c = drift_records.c
    query = _latest_drift(cloud, system, drift_class).order_by(c.cloud, c.drift_class, c.system, c.resource_id)
    return _as_dicts(conn.execute(query))


def _page_order() -> list[ColumnElement[str]]:
    c = drift_records.c
    return [c.cloud, c.drift_class, func.coalesce(c.system, ""), c.resource_id, c.resource_kind]


def drift_page_key(record: Mapping[str, Any]) -> list[str]:
    """Where a drift record stands in ``latest_drift_page``'s order (and its cursors): cloud, class, system ("" for
    nobody's), resource id and kind."""
    return [
        record["cloud"],
        record["drift_class"],
        record["system"] or "",
        record["resource_id"],
        record["resource_kind"],
    ]


def latest_drift_page(
    conn: Connection,
    *,
    limit: int,
    after: Sequence[str] | None = None,
    cloud: str | None = None,
    system: str | None = None,
    drift_class: str | None = None,
    systems: Iterable[str] | None = None,
) -> list[dict[str, object]]:
    """Up to ``limit`` records of ``latest_drift`` in ``drift_page_key`` order after the key ``after``, narrowed to
    ``systems`` when given: the database sorts and cuts, so a page reads its own rows only. Strings compare by code
    point on both backends (PostgreSQL told so: its collation may order otherwise), as ``drift_page_key`` does."""
    given = {"cloud": cloud, "system": system, "drift_class": drift_class}
    params: dict[str, Any] = {k: v for k, v in given.items() if v} | {"limit": limit}
    if systems is not None:
        params["systems"] = sorted(systems)
    if after is not None:
        params |= {f"after_{i}": v for i, v in enumerate(after)}
    binary = conn.dialect.name == "postgresql"
    query = _page_query(frozenset(params), after is not None and len(after), binary)
    return _as_dicts(conn.execute(query, params))


@functools.cache
def _page_query(given: frozenset[str], after: int, binary: bool) -> Select[Any]:
    """The page's statement for the filters given, built once each (building one costs more than running it)."""
    c = drift_records.c
    query = _latest_drift(*(bindparam(k) if k in given else None for k in ("cloud", "system", "drift_class")))
    if "systems" in given:
        query = query.where(c.system.in_(bindparam("systems", expanding=True)))
    key = [col.collate("C") if binary else col for col in _page_order()]
    if after:
        query = query.where(tuple_(*key) > tuple_(*[bindparam(f"after_{i}", type_=String()) for i in range(after)]))
    return query.order_by(*key).limit(bindparam("limit", type_=Integer()))
