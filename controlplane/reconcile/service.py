"""One reconcile of some configured clouds, as ``yunguan reconcile`` and the API's reconcile runs both do it: what
the ledger wants (one short transaction), every cloud's inventory and operation records (no transaction open: a long
listing holds no lock), then the run, its drift and the records written together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.calendar import WorkingCalendar
from controlplane.clock import today_cst
from controlplane.domain import Cloud
from controlplane.reconcile.desired_build import build_desired
from controlplane.reconcile.runs import RunSummary, record_run, take_inventories
from controlplane.reconcile.sources import open_source
from controlplane.records import RecordBatch, RecordSource, read_cursor, write_records
from controlplane.runtime import Runtime


class UnknownCloudError(ValueError):
    """Clouds asked for that are not configured."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"unknown cloud(s): {', '.join(names)}")
        self.names = tuple(names)


@dataclass
class Reconciled:
    summary: RunSummary
    pulled: dict[str, int] = field(default_factory=dict)  # cloud -> operation records logged


def reconcile_clouds(
    rt: Runtime,
    names: Sequence[str] | None,
    actor: str,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Reconciled:
    """Reconcile ``names`` (None or empty: every configured cloud); ``progress`` hears what is being read."""
    configured = {c.name: c for c in rt.settings.clouds}
    chosen = list(names) if names else list(configured)
    unknown = [n for n in chosen if n not in configured]
    if unknown:
        raise UnknownCloudError(unknown)
    say = progress or (lambda _message: None)
    day = today_cst(rt.clock)
    calendar = WorkingCalendar()
    started = rt.clock.now()
    sources = {n: open_source(configured[n], rt.clock, store=rt.engine) for n in chosen}
    recorders = {n: s for n, s in sources.items() if isinstance(s, RecordSource)}
    with rt.engine.connect() as conn, conn.begin():
        wanted = [
            build_desired(
                conn,
                Cloud(name=c.name, kind=c.kind, vendor=c.vendor, zone=c.zone, connection=c.connection),
                day,
                calendar,
                zone_map=dict(c.zone_map),
                ignore_groups=frozenset(c.ignore_groups),
                provisioning_days=c.provisioning_working_days,
            )
            for c in (configured[n] for n in chosen)
        ]
        cursors = {n: read_cursor(conn, n, r.source) for n, r in recorders.items()}
    inventories = take_inventories(wanted, sources, progress=lambda cloud: say(f"{cloud}: listing"))
    batches: dict[str, RecordBatch] = {}
    if not dry_run:
        for name, recorder in recorders.items():
            say(f"{name}: operation records")
            batches[name] = recorder.records(cursors[name])
    say("recording")
    done = Reconciled(summary=RunSummary(None, "", []))
    with rt.engine.connect() as conn, conn.begin():
        done.summary = record_run(conn, rt.audit, wanted, inventories, started, rt.clock.now, actor, dry_run=dry_run)
        for name, batch in batches.items():
            done.pulled[name] = write_records(conn, rt.audit, name, recorders[name].source, batch)
    return done


def per_cloud(summary: RunSummary) -> list[dict[str, Any]]:
    """One line per cloud: status, API calls, drift per class, new and resolved (what the CLI's table shows)."""
    counts = summary.counts()
    return [
        {
            "cloud": result.cloud,
            "status": "ok" if result.complete else "partial",
            "api_calls": result.api_calls,
            **counts[result.cloud],
            "new": sum(1 for d in summary.new if d.cloud == result.cloud),
            "resolved": sum(1 for k in summary.resolved if k[0] == result.cloud),
            "problems": list(result.problems),
        }
        for result in summary.results
    ]
