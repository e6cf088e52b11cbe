"""Operation-log benchmark: append 100,000 events and verify them, on SQLite and on PostgreSQL.

Prints events/s for appends in batches (one transaction per 1,000 events, as an import or an inventory sync writes),
for single-event transactions (as one API call writes), and for verification of the whole chain with checkpoints.
Targets on a 2-core machine: append >= 5,000 events/s and verify >= 100,000 events/s on SQLite.

    .venv/bin/python tests/bench/audit_bench.py [--events 100000] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from controlplane.audit.log import Entry, iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.clock import SystemClock
from controlplane.config import load_settings
from controlplane.runtime import open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def entry(i: int) -> Entry:
    return Entry(
        actor="agent:reconcile",
        action="allocation.revise",
        target=f"system:SYS-{i % 500:04d}/cloud:yunguan-local",
        before={"vcpu": "16", "memory_bytes": 34359738368, "storage_bytes": 429496729600, "instances": 4},
        after={
            "vcpu": "24",
            "memory_bytes": 51539607552,
            "storage_bytes": 644245094400,
            "instances": 6,
            "单位": "市公安局",
        },
        request_id=f"req-{i:08d}",
    )


def run(url: str, state: Path, events: int, singles: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    settings = load_settings(None, state_dir=state, database={"url": url})
    rt = open_runtime(settings, clock=SystemClock())
    batch = 1000
    started = time.perf_counter()
    for start in range(0, events, batch):
        with rt.engine.begin() as conn:
            rt.audit.append_many(conn, [entry(i) for i in range(start, min(start + batch, events))])
    batched = events / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(singles):
        with rt.engine.begin() as conn:
            rt.audit.append(conn, entry(events + i))
    single = singles / (time.perf_counter() - started)
    started = time.perf_counter()
    with rt.engine.connect() as conn:
        report = verify(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn))
    verify_rate = report.events / (time.perf_counter() - started)
    assert report.ok, report.problems[:3]
    rt.close()
    return {"batched": batched, "single": single, "verify": verify_rate, "events": report.events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--singles", type=int, default=2_000, help="single-event transactions to time")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"audit_bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z, {args.events} events")
    print(f"{'backend':<11} {'append batched/s':>17} {'append 1-per-tx/s':>18} {'verify/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            r = run(f"sqlite:///{tmp}/bench.db", Path(tmp) / "s", args.events, args.singles)
            print(f"{'sqlite':<11} {r['batched']:>17,.0f} {r['single']:>18,.0f} {r['verify']:>10,.0f}")
        if args.backend in ("postgresql", "both"):
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            name = f"yunguan_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                r = run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", Path(tmp) / "p", args.events, args.singles)
                print(f"{'postgresql':<11} {r['batched']:>17,.0f} {r['single']:>18,.0f} {r['verify']:>10,.0f}")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
