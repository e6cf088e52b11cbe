"""Vendor-reported figures in the store. A figure is identified by (vendor, month, cloud, system, server, metric):
re-importing the same value is a no-op, another value replaces it, and each change writes its operation-log event
(before/after) on the same connection, inside the caller's transaction, so the change and its record commit together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from controlplane import units
from controlplane.audit.log import AuditLog, Entry
from controlplane.ledger.store import footprints, history, load_clouds, systems
from controlplane.store.tables import clouds as clouds_t
from controlplane.store.tables import systems as sys_t
from controlplane.store.tables import vendor_reported_usage as rep_t
from controlplane.vendor_usage.form import Figure, KnownLedger, ReportBatch

HUNDRED = Decimal(100)


@dataclass
class ReportSummary:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def known_ledger(conn: Connection) -> KnownLedger:
    """The clouds, systems and system-cloud pairs a report is checked against."""
    on_cloud = {(h.system.key, h.cloud) for h in history(conn)} | {(f.system, f.cloud) for f in footprints(conn)}
    return KnownLedger(
        clouds=load_clouds(conn),
        systems={s.key: (s.name, unit) for s, unit in systems(conn)},
        on_cloud=frozenset(on_cloud),
    )


def _figure_query() -> Any:
    return select(
        rep_t.c.id,
        rep_t.c.vendor,
        rep_t.c.month,
        clouds_t.c.name.label("cloud"),
        sys_t.c.key.label("system"),
        rep_t.c.server_id,
        rep_t.c.metric,
        rep_t.c.percent_hundredths,
    ).select_from(rep_t.join(clouds_t, clouds_t.c.id == rep_t.c.cloud_id).join(sys_t, sys_t.c.id == rep_t.c.system_id))


def _figure(row: Any) -> Figure:
    return Figure(
        vendor=row.vendor,
        month=row.month,
        cloud=row.cloud,
        system=row.system,
        server=row.server_id,
        metric=row.metric,
        percent=Decimal(row.percent_hundredths) / HUNDRED,
    )


def apply_report(
    conn: Connection,
    batch: ReportBatch,
    audit: AuditLog,
    actor: str,
    now: dt.datetime,
    *,
    request_id: str = "",
) -> ReportSummary:
    """Record a checked batch: new figures inserted, changed ones replaced, one event per system or server changed."""
    summary = ReportSummary()
    months = sorted({f.month for f, _ in batch.figures})
    existing: dict[tuple[str, ...], tuple[int, Figure]] = {}
    for row in conn.execute(_figure_query().where(rep_t.c.month.in_(months))):
        figure = _figure(row)
        existing[figure.key] = (row.id, figure)
    cloud_ids = {r.name: r.id for r in conn.execute(select(clouds_t.c.name, clouds_t.c.id))}
    system_ids = {r.key: r.id for r in conn.execute(select(sys_t.c.key, sys_t.c.id))}
    changes: dict[tuple[str, ...], tuple[dict[str, str], dict[str, str]]] = {}
    for figure, _ in batch.figures:
        hundredths = int(figure.percent * HUNDRED)
        found = existing.get(figure.key)
        if found is not None and found[1].percent == figure.percent:
            summary.unchanged += 1
            continue
        before, after = changes.setdefault(figure.key[:5], ({}, {}))
        after[figure.metric] = units.plain(figure.percent)
        if found is None:
            conn.execute(
                insert(rep_t).values(
                    vendor=figure.vendor,
                    month=figure.month,
                    cloud_id=cloud_ids[figure.cloud],
                    system_id=system_ids[figure.system],
                    server_id=figure.server,
                    metric=figure.metric,
                    percent_hundredths=hundredths,
                    source=batch.source[-500:],
                    recorded_at=now,
                )
            )
            summary.created += 1
        else:
            before[figure.metric] = units.plain(found[1].percent)
            conn.execute(
                update(rep_t)
                .where(rep_t.c.id == found[0])
                .values(percent_hundredths=hundredths, source=batch.source[-500:], recorded_at=now)
            )
            summary.changed += 1
    audit.append_many(
        conn,
        [
            Entry(actor, "vendor_usage.report", _target(*key), before or None, after, request_id)
            for key, (before, after) in changes.items()
        ],
    )
    return summary


def _target(vendor: str, month: str, cloud: str, system: str, server: str) -> str:
    where = f"system:{system}/cloud:{cloud}" + (f"/server:{server}" if server else "")
    return f"{where}/month:{month}/vendor:{vendor}"


def reported(conn: Connection, month: str) -> list[Figure]:
    """Every figure reported for a month (YYYY-MM), by system, server, metric and vendor."""
    rows = conn.execute(
        _figure_query()
        .where(rep_t.c.month == month)
        .order_by(sys_t.c.key, clouds_t.c.name, rep_t.c.server_id, rep_t.c.metric, rep_t.c.vendor)
    )
    return [_figure(r) for r in rows]
