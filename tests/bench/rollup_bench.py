"""Usage rollup benchmark: the hourly rollup of one complete hour of hypervisor samples, on SQLite and PostgreSQL.

The store is brought to the steady state the agent sees: the hour before already rolled up, the hour to roll up
complete (VMS servers x SAMPLES sweeps x METRICS metrics, with some estimates and missing tries), and the next
hour begun. Then a fresh process (so that its peak RSS is the rollup's own, imports included) times:

- ``roll_up``: the new hour's hourly rollups, in one transaction;
- the same again (nothing new: the watermark makes it a no-op);
- ``summary`` of one system (the servers of one project) over the day, CPU % weighted by vCPUs;
- the ``roll_up`` that closes a UTC+8 day: its last hour and the day's daily rollups from its 24 hours;
- ``apply_retention`` deleting one hour of raw samples.

    .venv/bin/python tests/bench/rollup_bench.py [--vms 10000] [--samples 12] [--metrics 13] [--backend both]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from child_run import run_child  # a sibling script, not a package
from sqlalchemy import create_engine, text

from controlplane.audit.chain import format_time
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.usage_rollup import roll_up

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOUR = dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC)  # the hour that is timed; 10:00-11:00 in Beijing
METRICS = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "cpu_cores",
    "vcpus",
    "memory_bytes",
    "memory_total_bytes",
    "disk_used_bytes",
    "disk_total_bytes",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
    "net_rx_bytes_per_s",
    "net_tx_bytes_per_s",
)
COLUMNS = ("time", "cloud", "scope_kind", "scope_id", "metric", "value", "source", "quality", "group_id", "host")
SERVERS_PER_PROJECT = 50

CHILD = """
import datetime as dt, json, resource, sys, time
t0 = time.perf_counter()
from sqlalchemy import text
from controlplane.audit.chain import format_time
from controlplane.config import UsageSettings
from controlplane.store.engine import make_engine
from controlplane.usage_query import Selection, Window, summary
from controlplane.usage_rollup import apply_retention, roll_up
url, until, hour = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), dt.datetime.fromisoformat(sys.argv[3])
engine = make_engine(url)
COLUMNS = "cloud, scope_kind, scope_id, metric, group_id, mean, max, min, n, n_above_80, n_missing, n_estimated"
COPY_HOUR = f"INSERT INTO usage_hourly (period, {COLUMNS}) SELECT :p, {COLUMNS} FROM usage_hourly WHERE period = :h"
out = {}
def timed(name, work):
    started = time.perf_counter()
    with engine.begin() as conn:
        result = work(conn)
    out[name] = time.perf_counter() - started
    return result
done = timed("rollup", lambda c: roll_up(c, until))
out["hours"], out["hourly_rows"] = done.hours, done.hourly_rows
again = timed("again", lambda c: roll_up(c, until))
assert again.hours == 0, again
day = Window(until - dt.timedelta(hours=12), until + dt.timedelta(hours=12))
system = Selection("bench", "server", group_ids=("p-0000",))
found = timed("summary", lambda c: summary(c, system, "cpu_percent", day))
out["summary_scopes"], out["summary_mean"] = found.scopes, found.mean
# the rest of the UTC+8 day's hours (copies of the timed one), then the rollup that closes the day
day_start = (hour + dt.timedelta(hours=8)).replace(hour=0) - dt.timedelta(hours=8)
with engine.begin() as conn:
    for i in range(24):
        period = day_start + dt.timedelta(hours=i)
        if period < hour - dt.timedelta(hours=1) or period > hour + dt.timedelta(hours=1):
            conn.execute(text(COPY_HOUR), {"p": format_time(period), "h": format_time(hour)})
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE usage_hourly"))
closed = timed("close_day", lambda c: roll_up(c, day_start + dt.timedelta(days=1, minutes=5)))
out["days"], out["daily_rows"] = closed.days, closed.daily_rows
# raw samples kept 14 days: cut so that the hour before the timed one goes
cut = hour + dt.timedelta(days=14)
removed = timed("retention", lambda c: apply_retention(c, cut, UsageSettings()))
out["retention_rows"] = removed.samples
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["total"] = time.perf_counter() - t0
print("RESULT", json.dumps(out))
"""


def rows(start: dt.datetime, vms: int, samples: int, metrics: tuple[str, ...], seed: int) -> Iterator[tuple[Any, ...]]:
    """One hour of sweeps: every 60/samples minutes, every metric of every VM; 2% estimates, 1% missing."""
    rnd = random.Random(seed)
    step = dt.timedelta(minutes=60 / samples)
    for i in range(samples):
        when = format_time(start + i * step + dt.timedelta(seconds=7))
        for vm in range(vms):
            server = f"{vm:08d}-0000-4000-8000-000000000000"
            project = f"p-{vm // SERVERS_PER_PROJECT:04d}"
            host = f"hv-{vm // 40:03d}"
            for metric in metrics:
                roll = rnd.random()
                if roll < 0.01:
                    value, quality = None, "missing"
                else:
                    value = rnd.uniform(0, 100) if metric.endswith("percent") else rnd.uniform(0, 1e10)
                    quality = "estimated" if roll < 0.03 else "measured"
                yield (when, "bench", "server", server, metric, value, "libvirt", quality, project, host)


def load(url: str, batches: Iterator[tuple[Any, ...]]) -> int:
    """Bulk-load samples: executemany on SQLite, COPY on PostgreSQL (the load is not what is measured)."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    count = 0
    try:
        if url.startswith("sqlite"):
            cursor = raw.cursor()
            cursor.execute("BEGIN")
            chunk: list[tuple[Any, ...]] = []
            sql = f"INSERT INTO usage_samples ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608 - fixed names
            for row in batches:
                chunk.append(row)
                if len(chunk) == 100_000:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk = []
            cursor.executemany(sql, chunk)
            count += len(chunk)
            cursor.execute("COMMIT")
        else:
            pg = raw.driver_connection
            assert pg is not None
            with pg.cursor() as cursor, cursor.copy(f"COPY usage_samples ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in batches:
                    copy.write_row(row)
                    count += 1
            pg.commit()
            with pg.cursor() as cursor:
                cursor.execute("ANALYZE usage_samples")
            pg.commit()
    finally:
        raw.close()
        engine.dispose()
    return count


def run(url: str, vms: int, samples: int, metrics: tuple[str, ...]) -> dict[str, Any]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    before, after = HOUR - dt.timedelta(hours=1), HOUR + dt.timedelta(hours=1)
    started = time.perf_counter()
    n = load(url, rows(before, vms, samples, metrics, 1))
    with engine.begin() as conn:
        roll_up(conn, HOUR)  # the steady state: the hour before is rolled up already
    n += load(url, rows(HOUR, vms, samples, metrics, 2))
    n += load(url, rows(after, vms, samples // 4 or 1, metrics, 3))  # the next hour has begun
    if engine.dialect.name == "postgresql":  # as autovacuum keeps them in the steady state
        with engine.begin() as conn:
            conn.execute(text("ANALYZE usage_hourly"))
            conn.execute(text("ANALYZE usage_daily"))
    engine.dispose()
    setup = time.perf_counter() - started
    until = after + dt.timedelta(minutes=15)
    return run_child(CHILD, [url, until.isoformat(), HOUR.isoformat()], "rollup") | {"loaded": n, "setup": setup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=12, help="sweeps per hour (12: every 5 minutes)")
    parser.add_argument("--metrics", type=int, default=len(METRICS), choices=range(1, len(METRICS) + 1))
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    metrics = METRICS[: args.metrics]
    per_hour = args.vms * args.samples * len(metrics)
    print(
        f"rollup_bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z: {args.vms:,} VMs x {args.samples} samples x "
        f"{len(metrics)} metrics = {per_hour:,} samples in the hour rolled up"
    )
    print(
        f"{'backend':<11} {'rollup s':>9} {'samples/s':>11} {'hourly rows':>12} {'again s':>8} {'system day s':>13}"
        f" {'close day s':>12} {'retention s':>12} {'peak RSS MB':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results: list[tuple[str, dict[str, Any]]] = []
        if args.backend in ("sqlite", "both"):
            results.append(("sqlite", run(f"sqlite:///{tmp}/bench.db", args.vms, args.samples, metrics)))
        if args.backend in ("postgresql", "both"):
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            name = f"yunguan_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
                results.append(("postgresql", run(url, args.vms, args.samples, metrics)))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        for backend, r in results:
            assert r["hourly_rows"] == r["daily_rows"] == args.vms * len(metrics), r
            print(
                f"{backend:<11} {r['rollup']:>9.2f} {per_hour / r['rollup']:>11,.0f} {r['hourly_rows']:>12,}"
                f" {r['again']:>8.3f} {r['summary']:>13.3f} {r['close_day']:>12.2f} {r['retention']:>12.2f}"
                f" {r['rss_mb']:>12.0f}"
            )
        for backend, r in results:
            print(
                f"{backend}: {r['loaded']:,} samples loaded in {r['setup']:.0f} s; daily rows {r['daily_rows']:,}; "
                f"system of {r['summary_scopes']} servers: CPU {r['summary_mean'] or float('nan'):.1f}%; "
                f"retention removed {r['retention_rows']:,} samples"
            )


if __name__ == "__main__":
    main()
