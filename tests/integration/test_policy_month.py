"""A month evaluated from the store on SQLite and PostgreSQL: samples written and rolled up for October 2026 (UTC+8),
a ledger imported, then ``evaluate_month``: an idle system is a finding, a busy one clear, one with no data unknown,
one not yet 3 months stable not evaluated; per server, one quiet since July is idle more than 3 months (Bozhou 26);
and ``yunguan policy evaluate`` prints the same without writing anything."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner
from usage_data import CLOUD, sample, write

from controlplane.cli import context
from controlplane.cli.app import app, hoist_global_options
from controlplane.clock import FixedClock
from controlplane.config import Settings
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.policy.facts import Facts, Month
from controlplane.policy.gather import evaluate_month, facts_from_store
from controlplane.policy.model import Evaluation, Verdict
from controlplane.policy.packs import load_pack
from controlplane.runtime import Runtime, open_runtime
from controlplane.store import tables
from controlplane.usage import UsageSample, remember_groups
from controlplane.usage_query import every_system_selections, system_selections
from controlplane.usage_rollup import roll_up

OCTOBER = Month(2026, 10)
AFTER = dt.datetime(2026, 11, 2, 4, 0, tzinfo=dt.UTC)
GIB = 1024**3


def ledger_row(system: str, project: str, stable_since: str) -> dict[str, Any]:
    return {
        "unit": "市大数据中心",
        "system": f"评估 {system}",
        "system code": system,
        "MLPS level": 2,
        "zone": "extranet",
        "mode": "shared",
        "cloud": CLOUD,
        "vCPU": 8,
        "memory GiB": 16,
        "storage GiB": 200,
        "instances": 2,
        "approval number": f"遂政数〔2026〕{system}号",
        "approval date": "2026-01-10",
        "effective from": "2026-01-15",
        "kind": "standard",
        "stable since": stable_since,
        "OpenStack projects": project,
    }


def import_ledger(rt: Runtime, tmp_path: Path) -> None:
    rows = [
        ledger_row("IDLE-1", "p-idle", "2026-01-01"),
        ledger_row("BUSY-1", "p-busy", "2026-01-01"),
        ledger_row("NODATA-1", "p-none", "2026-01-01"),
        ledger_row("NEW-1", "p-new", "2026-08-15"),
    ]
    clouds = [{"name": CLOUD, "kind": "openstack", "vendor": "本地测试云", "zone": "extranet", "connection": "x"}]
    path = tmp_path / "ledger.yaml"
    path.write_text(yaml.safe_dump({"clouds": clouds, "rows": rows}, allow_unicode=True), encoding="utf-8")
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(path), load_clouds(conn))
        apply_batch(conn, batch, rt.audit, "operator:test", rt.clock.now())


def hourly(server: str, project: str, first: dt.date, last: dt.date, **values: float) -> list[UsageSample]:
    """One sample of each metric every hour of the UTC+8 days ``first`` to ``last``."""
    found: list[UsageSample] = []
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)
    hours = ((last - first).days + 1) * 24
    for h in range(hours):
        when = (start + dt.timedelta(hours=h, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
        found += [sample(server, metric, when, value, project=project) for metric, value in values.items()]
    return found


def daily(server: str, project: str, first: dt.date, last: dt.date, **values: float) -> list[UsageSample]:
    """One sample of each metric a day (noon UTC+8)."""
    found: list[UsageSample] = []
    day = first
    while day <= last:
        when = f"{day.isoformat()}T04:00:00"
        found += [sample(server, metric, when, value, project=project) for metric, value in values.items()]
        day += dt.timedelta(days=1)
    return found


@pytest.fixture
def store(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The ledger, and October's samples rolled up: IDLE-1 at 3% CPU, BUSY-1 at 50%, NEW-1 idle but new."""
    import_ledger(runtime, tmp_path)
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    size = {"vcpus": 4, "memory_total_bytes": 8 * GIB, "disk_total_bytes": 100 * GIB}
    idle = {"cpu_percent": 3.0, "memory_percent": 12.0, "disk_percent": 20.0, "disk_used_bytes": 20 * GIB, **size}
    busy = {"cpu_percent": 50.0, "memory_percent": 60.0, "disk_percent": 70.0, "disk_used_bytes": 70 * GIB, **size}
    write(
        runtime.engine,
        *hourly("vm-idle-a", "p-idle", first, last, **idle),
        *hourly("vm-idle-b", "p-idle", first, last, **idle),
        *hourly("vm-busy", "p-busy", first, last, **busy),
        *hourly("vm-new", "p-new", first, last, **idle),
    )
    with runtime.engine.begin() as conn:
        roll_up(conn, AFTER)
    return runtime


def by(evaluations: list[Evaluation], system: str, rule: str) -> Evaluation:
    return next(e for e in evaluations if e.system == system and e.rule_id == rule)


def test_a_month_from_the_store_idle_busy_no_data_and_new(store: Runtime) -> None:
    """Suining: the idle system's CPU and memory are low (with the month's samples as evidence), the busy one is
    clear, the one without samples unknown, the one stable since 2026-08-15 not evaluated (monitored from
    2026-11-16)."""
    with store.engine.connect() as conn:
        found = evaluate_month(conn, load_pack("suining"), "2026-10", FixedClock(AFTER))
    idle_cpu = by(found, "IDLE-1", "suining-14-low-cpu")
    assert (idle_cpu.verdict, idle_cpu.cloud, idle_cpu.scope_kind, idle_cpu.period) == (
        Verdict.FINDING,
        CLOUD,
        "system",
        "2026-10",
    )
    (evidence,) = idle_cpu.evidence
    assert (evidence.value, evidence.threshold, evidence.samples, evidence.estimated) == (3.0, 10.0, 1488, 0)
    assert evidence.window_start == OCTOBER.window.start and evidence.window_end == OCTOBER.window.end
    assert by(found, "IDLE-1", "suining-14-low-memory").verdict is Verdict.FINDING
    assert by(found, "IDLE-1", "suining-14-low-storage").verdict is Verdict.FINDING  # 20% < 40%
    assert by(found, "BUSY-1", "suining-14-low-cpu").verdict is Verdict.CLEAR
    assert by(found, "BUSY-1", "suining-14-high-cpu").verdict is Verdict.CLEAR  # 50% is not above 60%
    nodata = by(found, "NODATA-1", "suining-14-low-cpu")
    assert (nodata.verdict, nodata.reason) == (Verdict.UNKNOWN, "no samples of cpu_percent in 2026-10")
    assert not [e for e in found if e.system == "NEW-1"]


def test_facts_record_what_was_gathered(store: Runtime) -> None:
    """The facts name the approvals in force, the stable-since dates and every window's counts: a replayable record."""
    with store.engine.connect() as conn:
        facts = facts_from_store(conn, load_pack("suining"), OCTOBER, FixedClock(AFTER))
    systems = {s.key: s for s in facts.systems}
    assert sorted(systems) == ["BUSY-1", "IDLE-1", "NEW-1", "NODATA-1"]
    idle = systems["IDLE-1"]
    assert (idle.stable_since, idle.onboarded, idle.approvals) == (
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 15),
        ("遂政数〔2026〕IDLE-1号",),
    )
    (scope,) = idle.scopes
    cpu = scope.windows["2026-10"].metrics["cpu_percent"]
    assert (cpu.mean, cpu.samples, cpu.days, cpu.scopes, cpu.unweighted) == (3.0, 1488, 31, 2, 0)


def test_a_month_not_over_is_refused(store: Runtime) -> None:
    """On 2026-10-31 October is not over (UTC+8): its figures would still change."""
    with store.engine.connect() as conn, pytest.raises(ValueError, match="2026-10 is not over yet"):
        facts_from_store(conn, load_pack("suining"), OCTOBER, FixedClock(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC)))


def bozhou_october(runtime: Runtime, tmp_path: Path, *samples: UsageSample) -> tuple[list[Evaluation], Facts]:
    """The ledger and these samples rolled up, then October evaluated by the Bozhou pack, and the facts gathered."""
    import_ledger(runtime, tmp_path)
    write(runtime.engine, *samples)
    with runtime.engine.begin() as conn:
        roll_up(conn, AFTER)
    with runtime.engine.connect() as conn:
        found = evaluate_month(conn, load_pack("bozhou"), OCTOBER, FixedClock(AFTER))
        return found, facts_from_store(conn, load_pack("bozhou"), OCTOBER, FixedClock(AFTER))


def test_servers_idle_more_than_three_months(runtime: Runtime, tmp_path: Path) -> None:
    """Bozhou 26(二)2 per server: one writing until 2026-07-30 and only running since is idle more than 3 months by
    2026-10-31; one writing every day is not; the measurements reach the month's end."""
    july, end = dt.date(2026, 7, 1), dt.date(2026, 10, 31)
    found, _ = bozhou_october(
        runtime,
        tmp_path,
        *daily("vm-quiet", "p-idle", july, dt.date(2026, 7, 29), cpu_percent=5, disk_write_bytes_per_s=50_000),
        *daily("vm-quiet", "p-idle", dt.date(2026, 7, 30), end, cpu_percent=1, disk_write_bytes_per_s=10),
        *daily("vm-quiet", "p-idle", july, end, net_rx_bytes_per_s=100, net_tx_bytes_per_s=100),
        *daily("vm-busy", "p-busy", july, end, cpu_percent=40, disk_write_bytes_per_s=80_000),
    )
    quiet = [e for e in found if e.rule_id == "bozhou-26-reduce-idle" and e.scope_id == "vm-quiet"]
    busy = [e for e in found if e.rule_id == "bozhou-26-reduce-idle" and e.scope_id == "vm-busy"]
    assert [(e.verdict, e.scope_kind, e.system) for e in quiet] == [(Verdict.FINDING, "server", "IDLE-1")]
    assert quiet[0].reason == "no writes or network since 2026-07-30: 94 days > 92"
    assert [e.verdict for e in busy] == [Verdict.CLEAR]


def test_system_without_business_data_for_a_month_adds_its_servers_up(runtime: Runtime, tmp_path: Path) -> None:
    """Bozhou 26(二)3 per system: two servers each writing under the pack's 1 KiB/s but together above it until
    2026-09-20, together under it since, leave the system without business data since 2026-09-21 (41 days, at least a
    month); the busy system is clear; neither server alone was ever active."""
    start, end = dt.date(2026, 8, 1), dt.date(2026, 10, 31)
    found, facts = bozhou_october(
        runtime,
        tmp_path,
        *daily("vm-a", "p-idle", start, dt.date(2026, 9, 20), disk_write_bytes_per_s=600),
        *daily("vm-b", "p-idle", start, dt.date(2026, 9, 20), disk_write_bytes_per_s=600),
        *daily("vm-a", "p-idle", dt.date(2026, 9, 21), end, disk_write_bytes_per_s=300),
        *daily("vm-b", "p-idle", dt.date(2026, 9, 21), end, disk_write_bytes_per_s=300),
        *daily("vm-busy", "p-busy", start, end, disk_write_bytes_per_s=2_000),
    )
    systems = {e.system: e for e in found if e.rule_id == "bozhou-26-reduce-no-business-data"}
    assert {k: (e.verdict, e.scope_kind, e.reason) for k, e in systems.items() if k in ("IDLE-1", "BUSY-1")} == {
        "IDLE-1": (Verdict.FINDING, "system", "no writes or network since 2026-09-21: 41 days >= 30"),
        "BUSY-1": (Verdict.CLEAR, "system", "no writes or network since 2026-11-01: 0 days not >= 30"),
    }
    servers = {x.id: x.activity for system in facts.systems for x in system.scopes if x.kind == "server"}
    assert {k: a.last_active if a else "-" for k, a in servers.items() if k in ("vm-a", "vm-b")} == {
        "vm-a": None,
        "vm-b": None,
    }


def test_servers_quiet_since_long_before_the_month(runtime: Runtime, tmp_path: Path) -> None:
    """Bozhou 26(二)2 per server, from a year of daily figures: one writing until 2025-12-14 and quiet since, one
    stopped on 2026-02-10, are idle since those very days; these and the one active every day are measured since
    2025-11-01. A server moved into the system's project is judged on its days in its former project too."""
    start, end = dt.date(2025, 11, 1), dt.date(2026, 10, 31)
    found, facts = bozhou_october(
        runtime,
        tmp_path,
        *daily("vm-quiet", "p-idle", start, dt.date(2025, 12, 14), disk_write_bytes_per_s=50_000),
        *daily("vm-quiet", "p-idle", dt.date(2025, 12, 15), end, disk_write_bytes_per_s=10),
        *daily("vm-quiet", "p-idle", start, end, net_rx_bytes_per_s=100, net_tx_bytes_per_s=100),
        *daily("vm-stopped", "p-idle", start, dt.date(2026, 2, 10), disk_write_bytes_per_s=50_000),
        *daily("vm-busy", "p-busy", start, end, disk_write_bytes_per_s=80_000),
        # in a project outside the ledger: busy until February, quiet in March; then moved into IDLE-1's project
        *daily("vm-moved", "p-elsewhere", start, dt.date(2026, 2, 28), disk_write_bytes_per_s=50_000),
        *daily("vm-moved", "p-elsewhere", dt.date(2026, 3, 1), dt.date(2026, 3, 31), disk_write_bytes_per_s=10),
        *daily("vm-moved", "p-idle", dt.date(2026, 4, 1), end, disk_write_bytes_per_s=10),
    )
    idle = {e.scope_id: e for e in found if e.rule_id == "bozhou-26-reduce-idle"}
    assert {s: (e.verdict, e.reason) for s, e in idle.items()} == {
        "vm-quiet": (Verdict.FINDING, "no writes or network since 2025-12-15: 321 days > 90"),
        "vm-stopped": (Verdict.FINDING, "no writes or network since 2026-02-11: 263 days > 89"),
        "vm-busy": (Verdict.CLEAR, "no writes or network since 2026-11-01: 0 days not > 92"),
        "vm-moved": (Verdict.FINDING, "no writes or network since 2026-03-01: 245 days > 89"),
    }
    assert {e.system for e in found if e.scope_id == "vm-moved"} == {"IDLE-1"}  # listed where it is now
    scopes = {x.id: x.activity for system in facts.systems for x in system.scopes if x.kind == "server"}
    quiet, stopped, busy = scopes["vm-quiet"], scopes["vm-stopped"], scopes["vm-busy"]
    assert quiet is not None and stopped is not None and busy is not None
    assert (busy.last_seen, busy.last_active, busy.activity_from) == (end, end, start)
    assert (quiet.last_seen, quiet.last_active, quiet.activity_from) == (end, dt.date(2025, 12, 14), start)
    assert (stopped.last_seen, stopped.last_active, stopped.activity_from) == (dt.date(2026, 2, 10),) * 2 + (start,)


def test_policy_evaluate_prints_the_month_and_writes_nothing(
    store: Runtime, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`yunguan policy evaluate --month 2026-10 -o json` on the configured pack: the same verdicts, exit 1 for the
    findings, no row added anywhere; a month not over is a usage error."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        yaml.safe_dump({"database": {"url": settings.database_url()}, "policy": {"pack": "suining"}}), encoding="utf-8"
    )
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    clock = FixedClock(AFTER)
    monkeypatch.setattr(context, "open_runtime", lambda s, check_schema=True: open_runtime(s, clock, check_schema))

    def counts() -> dict[str, int]:
        with store.engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in tables.metadata.sorted_tables
            }

    before = counts()
    runner = CliRunner()
    done = runner.invoke(
        app, hoist_global_options(["--lang", "en", "policy", "evaluate", "--month", "2026-10", "-o", "json"])
    )
    assert done.exit_code == 1, done.stdout + done.stderr
    rows = json.loads(done.stdout)
    verdicts = {(r["system"], r["rule"]): r["verdict"] for r in rows}
    assert verdicts["IDLE-1", "suining-14-low-cpu"] == "finding"
    assert verdicts["BUSY-1", "suining-14-low-cpu"] == "clear"
    assert verdicts["NODATA-1", "suining-14-low-cpu"] == "unknown"
    assert "not evaluated: NEW-1 (*): not monitored before 2026-11-16" in done.stderr
    assert rows[0]["evidence"][0]["samples"] > 0
    assert counts() == before
    clock.set(dt.datetime(2026, 10, 20, tzinfo=dt.UTC))
    early = runner.invoke(app, hoist_global_options(["--lang", "en", "policy", "evaluate", "--month", "2026-10"]))
    assert early.exit_code == 2 and "2026-10 is not over yet" in early.stderr


def test_every_systems_selections_at_once_are_each_systems_own(runtime: Runtime, tmp_path: Path) -> None:
    """What the monthly evaluation reads of all systems at once is what each system is made of asked alone: its
    projects, and the project ids the hypervisors reported under a footprint's project name."""
    import_ledger(runtime, tmp_path)
    with runtime.engine.begin() as conn:
        seen = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        remember_groups(conn, CLOUD, [("0f3a-idle", "p-idle"), ("77c1-busy", "p-busy"), ("9e9e", "elsewhere")], seen)
    with runtime.engine.connect() as conn:
        together = every_system_selections(conn)
        keys = conn.execute(select(tables.systems.c.key)).scalars().all()
        assert together == {key: system_selections(conn, key) for key in keys}
    assert [s.group_ids for s in together["IDLE-1"]] == [("0f3a-idle", "p-idle")]
