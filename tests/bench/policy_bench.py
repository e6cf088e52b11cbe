"""Policy evaluation benchmark: a month of 10,000 servers' hourly rollups, evaluated by the Suining pack (system
rules over the calendar month) and the Bozhou pack (per-server rules over Monday-Sunday weeks), on SQLite and
PostgreSQL.

The store is filled directly (not timed, its time printed apart): a ledger of SERVERS/20 systems imported the normal
way (one OpenStack project each, stable since 2026-01-01), and ``usage_hourly`` rows written in one transaction (COPY
on PostgreSQL, one executemany on SQLite), hour after hour as the rollup job writes them, for October 2026 (UTC+8:
744 hours) and every server. By default one metric, ``memory_percent`` (what Bozhou's per-server rules read: weekly
mean, peak and hours above 80%): 10,000 x 744 rows less the servers without data, the issue's "about 7.4 million".
``--metrics all`` writes the seven metrics the packs' threshold rules read (``cpu_percent``, ``memory_percent``,
``disk_percent``, the capacities ``vcpus``, ``memory_total_bytes``, ``disk_total_bytes`` they are weighted by, and
``disk_used_bytes``), 744 x 7 rows a server: without them Suining's system rules are all "unknown" (their SQL runs
all the same). Systems come in kinds so that every verdict occurs: idle (low CPU, memory and storage), moderate,
busy (high memory with peaks above 80%, full small disks), without any measurement, and unreliable (host-side
estimates, or measured only from the 21st).

Then each pack is evaluated, each time ``evaluate_month(conn, pack, "2026-10")`` alone timed in a fresh process
whose peak RSS (imports included) is reported:

- ``hourly``: only the hourly rollups exist, so every figure comes from them (the issue's case);
- ``daily``: after ``roll_up`` has closed the month's days into ``usage_daily`` (the agent's steady state: whole
  days are answered from the daily rollups, a server's hours above 80% from their hour counts) and with daily
  write/network figures since July, so the idle rules (Bozhou 26(二)2 and 3) have activity to judge.

    .venv/bin/python tests/bench/policy_bench.py [--servers 10000] [--backend sqlite|postgresql|both]
        [--metrics memory_percent|all|M1,M2] [--states hourly,daily] [--packs suining,bozhou] [--keep] [--profile N]

``--keep`` builds the databases once under fixed names (``/var/tmp/yunguan-policy-bench/SERVERS-METRICS.db``,
PostgreSQL database ``yunguan_policy_bench_SERVERS-METRICS``) and reuses them on the next run; ``--profile N`` prints
the N most expensive functions (cProfile, cumulative) of each timed run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from child_run import run_child  # a sibling script, not a package
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from controlplane.audit.chain import format_time
from controlplane.clock import CST, FixedClock
from controlplane.config import load_settings
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds
from controlplane.runtime import open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import usage_daily, usage_hourly
from controlplane.usage_rollup import roll_up, summarise_days

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KEEP_DIR = Path("/var/tmp/yunguan-policy-bench")  # noqa: S108 - a benchmark's own scratch place
CLOUD = "bench"
MONTH = "2026-10"
START = dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)  # 2026-10-01 00:00 UTC+8
HOURS = 744  # October: 31 days
AFTER = dt.datetime(2026, 11, 2, 4, tzinfo=dt.UTC)  # the clock: November 2nd, noon in Beijing
ACTIVITY_FROM = dt.date(2026, 7, 1)  # daily write/network figures since (UTC+8)
PER_SYSTEM = 20
GIB = 1024**3
METRICS = (
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "vcpus",
    "memory_total_bytes",
    "disk_total_bytes",
    "disk_used_bytes",
)
ACTIVITY = ("disk_write_bytes_per_s", "net_rx_bytes_per_s", "net_tx_bytes_per_s")
# system index % 10 -> its kind; idle 0-2, moderate 3-6 (3-4 with storage under 60% and more than 1 TiB free), busy 7
KINDS = ("idle", "idle", "idle-since-july", "moderate-disk", "moderate-disk", "moderate", "moderate", "busy")
NO_DATA, UNRELIABLE = 8, 9  # no measurement at all; estimates (even servers) or measured only from the 21st (odd)
LATE_HOUR = 20 * 24


def systems(servers: int) -> int:
    return max(1, servers // PER_SYSTEM)


def system_key(i: int) -> str:
    return f"PB-{i:04d}"


def import_ledger(url: str, servers: int, state: Path) -> None:
    """The ledger the normal way: one row per system, its project as footprint, 20 instances."""
    rows = [
        {
            "unit": f"评测单位 {i % 40:02d}",
            "system": f"评测系统 {i:04d}",
            "system code": system_key(i),
            "MLPS level": 2,
            "zone": "extranet",
            "mode": "shared",
            "cloud": CLOUD,
            "vCPU": 4 * PER_SYSTEM,
            "memory GiB": 16 * PER_SYSTEM,
            "storage GiB": 200 * PER_SYSTEM,
            "instances": PER_SYSTEM,
            "approval number": f"评测〔2026〕{i}号",
            "approval date": "2026-01-10",
            "effective from": "2026-01-15",
            "kind": "standard",
            "stable since": "2026-01-01",
            "OpenStack projects": f"bench-p-{i:04d}",
        }
        for i in range(systems(servers))
    ]
    clouds = [{"name": CLOUD, "kind": "openstack", "vendor": "评测云", "zone": "extranet", "connection": CLOUD}]
    path = state / "ledger.yaml"
    path.write_text(yaml.safe_dump({"clouds": clouds, "rows": rows}, allow_unicode=True), encoding="utf-8")
    settings = load_settings(None, state_dir=state, database={"url": url})
    rt = open_runtime(settings, clock=FixedClock(dt.datetime(2026, 1, 20, tzinfo=dt.UTC)))
    try:
        with rt.engine.begin() as conn:
            batch = parse_ledger(read_ledger_file(path), load_clouds(conn))
            apply_batch(conn, batch, rt.audit, "operator:bench", rt.clock.now())
    finally:
        rt.close()


@dataclass(frozen=True)
class Server:
    s: int  # its index
    scope_id: str
    group_id: str
    kind: int  # its system's index % 10
    vcpus: int
    memory: int  # bytes
    disk: int  # bytes
    first_hour: int  # measured from this hour of October
    est: bool  # its percent figures are host-side estimates


def servers_of(count: int) -> list[Server]:
    found = []
    for s in range(count):
        system = s // PER_SYSTEM
        kind = system % 10
        vcpus = (2, 4, 8)[s % 3]
        found.append(
            Server(
                s=s,
                scope_id=str(uuid.UUID(int=(0x5EED << 96) + s)),
                group_id=f"bench-p-{system:04d}",
                kind=kind,
                vcpus=vcpus,
                memory=vcpus * 4 * GIB,
                disk=(100 if kind == 7 else 200) * GIB,
                first_hour=LATE_HOUR if kind == UNRELIABLE and s % 2 else 0,
                est=kind == UNRELIABLE and s % 2 == 0,
            )
        )
    return found


def expected_hourly(servers: int, metrics: tuple[str, ...]) -> int:
    """The hourly rows the load makes: every hour from a server's first, every metric, but no-data systems'."""
    return sum((HOURS - x.first_hour) * len(metrics) for x in servers_of(servers) if x.kind != NO_DATA)


def percents(x: Server, w: int) -> dict[str, float]:
    """A server's CPU, memory and disk percent in an hour; ``w`` (0-9) moves them from hour to hour. Idle kinds are
    low, busy ones high, kinds 3 and 4 use under 60% of their storage with more than 1 TiB free."""
    if x.kind < 3:
        return {"cpu_percent": 2 + w * 0.3, "memory_percent": 10 + w, "disk_percent": 20 + w * 0.5}
    if x.kind == 7:
        return {"cpu_percent": 62 + w, "memory_percent": 80 + w, "disk_percent": 85 + w * 0.2}
    disk = 50 + w * 0.5 if x.kind in (3, 4) else 62 + w * 0.5
    return {"cpu_percent": 20 + w * 2, "memory_percent": 45 + w * 2, "disk_percent": disk}


def hour_rows(servers: list[Server], metrics: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
    """Every hour of October, every server's rows, in the order the rollup job writes them. A moderate server's
    memory peaks above 80% about one hour in 331; one try in 53 is missing."""
    for h in range(HOURS):
        period = format_time(START + dt.timedelta(hours=h))
        for x in servers:
            if x.kind == NO_DATA or x.first_hour > h:
                continue
            w = (h * 7 + x.s * 11) % 10
            n = 11 if (h + x.s) % 53 == 0 else 12
            pct = percents(x, w)
            figures = {
                **pct,
                "vcpus": x.vcpus,
                "memory_total_bytes": x.memory,
                "disk_total_bytes": x.disk,
                "disk_used_bytes": x.disk * pct["disk_percent"] / 100,
            }
            for metric in metrics:
                mean = figures[metric]
                if not metric.endswith("percent"):
                    yield (CLOUD, "server", x.scope_id, metric, period, x.group_id, mean, mean, mean, n, 0, 12 - n, 0)
                    continue
                if metric == "memory_percent" and x.kind not in (0, 1, 2, 7) and (h + x.s * 7) % 331 == 0:
                    up = 92 - mean
                else:
                    up = {"memory_percent": 15 if x.kind < 3 else 8, "cpu_percent": 10}.get(metric, 1)
                above = 9 if mean > 80 else 3 if mean + up > 80 else 0
                est = n if x.est else 0
                yield (
                    CLOUD,
                    "server",
                    x.scope_id,
                    metric,
                    period,
                    x.group_id,
                    mean,
                    mean + up,
                    mean - 1,
                    n,
                    above,
                    12 - n,
                    est,
                )


def activity_rows(servers: list[Server]) -> Iterator[tuple[Any, ...]]:
    """Daily write and network figures (UTC+8 days) since July: quiet servers write 10 B/s and receive and send 20 B/s
    each (a system of 20 stays under the pack's 1 KiB/s); the idle-since-july kind was busy until 2026-07-20; servers
    measured only from October 21st from then."""
    day = ACTIVITY_FROM
    while day < dt.date(2026, 11, 1):
        period = format_time(dt.datetime.combine(day, dt.time(), tzinfo=CST).astimezone(dt.UTC))
        late = day < dt.date(2026, 10, 21)
        for x in servers:
            if x.kind == NO_DATA or (x.first_hour and late):
                continue
            busy = x.kind > 2 or (x.kind == 2 and day <= dt.date(2026, 7, 20))
            for metric in ACTIVITY:
                v = 50_000 if busy else 20 if metric.startswith("net") else 10
                yield (CLOUD, "server", x.scope_id, metric, period, x.group_id, v, v, v, 288, 0, 0, 0)
        day += dt.timedelta(days=1)


COLUMNS = ("cloud", "scope_kind", "scope_id", "metric", "period", "group_id", "mean", "max", "min", "n",
           "n_above_80", "n_missing", "n_estimated")  # fmt: skip


def write(conn: Connection, table: Table, rows: Iterator[tuple[Any, ...]]) -> int:
    """Rows into a rollup table the fast way: COPY on PostgreSQL, one executemany on SQLite."""
    dbapi: Any = conn.connection.driver_connection
    written = 0
    if conn.dialect.name == "postgresql":
        with dbapi.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
        return written

    def counted() -> Iterator[tuple[Any, ...]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    insert = f"INSERT INTO {table.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608 - our own table and columns
    dbapi.executemany(insert, counted())
    return written


# the hourly table's indexes, rebuilt after the bulk load (as in the migration)
HOURLY_INDEXES = (
    "CREATE INDEX ix_usage_hourly_period ON usage_hourly (period)",
    "CREATE INDEX ix_usage_hourly_group ON usage_hourly (cloud, group_id, metric, period)",
)


def loader(url: str) -> Engine:
    """An engine for the bulk load; on SQLite without a journal and with a page cache that holds the primary key
    index: the rows go in hour after hour, so every hour adds to every server's part of it."""
    if not url.startswith("sqlite"):
        return make_engine(url)
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        for pragma in ("journal_mode=DELETE", "journal_mode=OFF", "synchronous=OFF", "cache_size=-4000000"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    return engine


def load_hourly(url: str, servers: int, metrics: tuple[str, ...]) -> int:
    """Every hour of October in one transaction. The secondary indexes (and on PostgreSQL the primary key) are built
    after the load, as a bulk load does."""
    engine = loader(url)
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
                conn.execute(text("ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_pkey"))
            conn.execute(text("DROP INDEX ix_usage_hourly_period"))
            conn.execute(text("DROP INDEX ix_usage_hourly_group"))
            started = time.perf_counter()
            rows = write(conn, usage_hourly, hour_rows(servers_of(servers), metrics))
            print(f"  {rows:,} rows written: {time.perf_counter() - started:.0f} s", flush=True)
            if postgres:
                conn.execute(
                    text(
                        "ALTER TABLE usage_hourly ADD CONSTRAINT usage_hourly_pkey"
                        " PRIMARY KEY (cloud, scope_kind, scope_id, metric, period)"
                    )
                )
            for statement in HOURLY_INDEXES:
                conn.execute(text(statement))
            print(f"  indexes built: {time.perf_counter() - started:.0f} s", flush=True)
        if postgres:  # as autovacuum leaves it in the steady state
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE usage_hourly"))
    finally:
        engine.dispose()
    return rows


def close_days(engine: Engine, servers: int) -> int:
    """The daily rollups of October from the hourly ones, by the rollup job's own code, then daily write and network
    figures since July (and the days' summaries of them, as the rollup writes them). Returns the daily rows."""
    with engine.begin() as conn:
        done = roll_up(conn, AFTER)
        write(conn, usage_daily, activity_rows(servers_of(servers)))
        # the days' summaries again, with the write and network figures written after the rollup
        first = dt.datetime.combine(ACTIVITY_FROM, dt.time(), tzinfo=CST).astimezone(dt.UTC)
        summarise_days(conn, first, AFTER)
        rows = int(conn.execute(select(func.count()).select_from(usage_daily)).scalar_one())
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE usage_daily, usage_days, usage_group_days"))
    print(f"  {done.days} days rolled up ({done.daily_rows:,} rows), {rows:,} daily rows in all", flush=True)
    return rows


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


CHILD = """
import cProfile, io, json, pstats, sys, time
t0 = time.perf_counter()
import datetime as dt
from controlplane.clock import FixedClock
from controlplane.policy.gather import evaluate_month
from controlplane.policy.packs import load_pack
from controlplane.store.engine import make_engine
url, pack_name, month, now, top = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
engine = make_engine(url)
pack = load_pack(pack_name)
clock = FixedClock(dt.datetime.fromisoformat(now))
profile = cProfile.Profile() if top else None
with engine.connect() as conn:
    started = time.perf_counter()
    if profile:
        profile.enable()
    found = evaluate_month(conn, pack, month, clock)
    if profile:
        profile.disable()
    wall = time.perf_counter() - started
# VmHWM: this process image's own peak (ru_maxrss would carry over the parent's from before exec)
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
out = {"wall": wall, "evaluations": len(found), "rss_mb": hwm / 1024}
for e in found:
    out[e.verdict.value] = out.get(e.verdict.value, 0) + 1
out["systems"] = len({e.system for e in found})
out["rules"] = {}
for e in found:
    out["rules"].setdefault(e.rule_id, {}).setdefault(e.verdict.value, 0)
    out["rules"][e.rule_id][e.verdict.value] += 1
if profile:
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(top)
    out["profile"] = text.getvalue()
out["process"] = time.perf_counter() - t0
print("RESULT", json.dumps(out))
"""


def evaluate(url: str, pack: str, top: int) -> dict[str, Any]:
    return run_child(CHILD, [url, pack, MONTH, AFTER.isoformat(), str(top)], "evaluation")


@contextmanager
def database(backend: str, size: str, keep: bool, tmp: Path) -> Iterator[tuple[str, bool]]:
    """The database URL, and whether it already holds the data (kept from an earlier run)."""
    if backend == "sqlite":
        path = KEEP_DIR / f"{size}.db" if keep else tmp / "bench.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{path}", path.exists()
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"yunguan_policy_bench_{size}" if keep else f"yunguan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", exists
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(backend: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with database(backend, f"{args.servers}-{len(args.metrics)}", args.keep, tmp) as (url, existed):
        engine = make_engine(url)
        try:
            if existed:
                migrate.upgrade(engine)  # a kept store gains the migrations added since it was built
            hourly = count(engine, usage_hourly) if existed else 0
            if hourly != expected_hourly(args.servers, args.metrics):
                if existed:
                    raise SystemExit(f"{url}: an incomplete earlier load ({hourly:,} hourly rows): delete it")
                started = time.perf_counter()
                print(f"{backend}: building the store ({args.servers:,} servers)", flush=True)
                migrate.upgrade(engine)
                state = tmp / f"state-{backend}"
                state.mkdir(exist_ok=True)
                import_ledger(url, args.servers, state)
                engine.dispose()
                hourly = load_hourly(url, args.servers, args.metrics)
                print(f"{backend}: {hourly:,} hourly rows in {time.perf_counter() - started:.0f} s", flush=True)
            for wanted in args.states:
                daily = count(engine, usage_daily)
                if wanted == "hourly" and daily:
                    with engine.begin() as conn:  # back to the hourly rollups alone
                        conn.execute(usage_daily.delete())
                    daily = 0
                if wanted == "daily" and not daily:
                    started = time.perf_counter()
                    daily = close_days(engine, args.servers)
                    print(f"{backend}: daily rollups in {time.perf_counter() - started:.0f} s", flush=True)
                for pack in args.packs:
                    got = evaluate(url, pack, args.profile)
                    got |= {"backend": backend, "state": wanted, "pack": pack, "hourly": hourly, "daily": daily}
                    results.append(got)
                    show(got)
        finally:
            engine.dispose()
    return results


def show(r: dict[str, Any]) -> None:
    print(
        f"  {r['backend']:<10} {r['state']:<6} {r['pack']:<8} {r['wall']:>8.2f} s {r['evaluations']:>9,} evaluations"
        f" {r.get('finding', 0):>7,} findings {r.get('clear', 0):>7,} clear {r.get('unknown', 0):>7,} unknown"
        f" {r['rss_mb']:>6.0f} MB",
        flush=True,
    )
    for rule, verdicts in sorted(r["rules"].items()):
        print(f"      {rule:<36} {json.dumps(verdicts, sort_keys=True)}")
    if "profile" in r:
        print(r["profile"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--states", default="hourly,daily", help="hourly, daily or both (in that order)")
    parser.add_argument("--packs", default="suining,bozhou")
    parser.add_argument(
        "--metrics",
        default="memory_percent",
        help=f"the metrics with hourly rollups, or all ({','.join(METRICS)}); the default makes the issue's size",
    )
    parser.add_argument("--keep", action="store_true", help=f"build once, keep and reuse ({KEEP_DIR}, PostgreSQL)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    args = parser.parse_args()
    args.states = [s for s in ("hourly", "daily") if s in args.states.split(",")]
    args.packs = [p for p in args.packs.split(",") if p]
    args.metrics = METRICS if args.metrics == "all" else tuple(m for m in METRICS if m in args.metrics.split(","))
    if not args.metrics:
        parser.error(f"--metrics: none of {', '.join(METRICS)}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"policy_bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z: {args.servers:,} servers in "
        f"{systems(args.servers):,} systems, {MONTH} (UTC+8, {HOURS} hours) x {len(args.metrics)} metrics = "
        f"{expected_hourly(args.servers, args.metrics):,} hourly rows"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results = [r for backend in backends for r in run(backend, args, Path(tmp))]
    print(
        f"\n{'backend':<11} {'rollups':<7} {'pack':<8} {'wall s':>7} {'evaluations':>12} {'findings':>9}"
        f" {'unknown':>8} {'peak RSS MB':>12}"
    )
    for r in results:
        print(
            f"{r['backend']:<11} {r['state']:<7} {r['pack']:<8} {r['wall']:>7.2f} {r['evaluations']:>12,}"
            f" {r.get('finding', 0):>9,} {r.get('unknown', 0):>8,} {r['rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
