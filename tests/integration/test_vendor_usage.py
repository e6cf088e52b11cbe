"""Vendor-reported utilization on SQLite and PostgreSQL: an import is atomic, the same figures again change nothing,
a changed figure is replaced and logged with before and after; `usage compare` puts each figure against the month's
measured rollups, flags a vendor saying 45% CPU where the hypervisors measured 8%, and says unknown where too little
was measured. Measured samples are written through the usage store and rolled up at an injected time."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner
from usage_data import at, sample

from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.cli.app import app
from controlplane.ledger.forms import LedgerFileError, read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.runtime import Runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import audit_events, vendor_reported_usage
from controlplane.usage import UsageSample, write_samples
from controlplane.usage_rollup import roll_up
from controlplane.vendor_usage.compare import Verdict, compare_month
from controlplane.vendor_usage.form import parse_report, read_report_file
from controlplane.vendor_usage.store import ReportSummary, apply_report, known_ledger, reported

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
CLOUD = "yunguan-local"
NOVEMBER = (2026, 11)
HEADER = "月份,云平台,系统编号,云主机ID,CPU平均利用率（%）,内存平均利用率（%）,存储利用率（%）,报送单位\n"


def import_ledger(engine: Engine, rt: Runtime) -> None:
    with engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.csv"), load_clouds(conn))
        apply_batch(conn, batch, rt.audit, "operator:test", rt.clock.now())


def import_report(rt: Runtime, path: Path, vendor: str | None = None) -> ReportSummary:
    with rt.engine.begin() as conn:
        batch = parse_report(read_report_file(path), known_ledger(conn), NOVEMBER, vendor)
        return apply_report(conn, batch, rt.audit, "vendor:test", rt.clock.now())


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def october(server: str, metric: str, value: float, *, days: int = 31, project: str = "spwl", **kw: Any) -> list:
    """One sample a day at noon Beijing time through October 2026 (the first ``days`` days)."""
    return [
        sample(server, metric, f"2026-10-{day:02d}T04:00:00", value, project=project, cloud=CLOUD, **kw)
        for day in range(1, days + 1)
    ]


def measured(engine: Engine) -> None:
    """GA-007's server (project spwl) at 8% CPU and 60% memory all October; its disk only estimated; a server of
    ZW-001's project measured on 3 days only."""
    samples: list[UsageSample] = [
        *october("ga-1", "cpu_percent", 8),
        *october("ga-1", "vcpus", 8),
        *october("ga-1", "memory_percent", 60),
        *october("ga-1", "memory_total_bytes", 16 * 2**30),
        *october("ga-1", "disk_percent", 30, estimated=True),
        *october("ga-1", "disk_total_bytes", 100 * 2**30, estimated=True),
        *october("zw-1", "cpu_percent", 35, days=3, project="zwfw"),
        *october("zw-1", "vcpus", 16, days=3, project="zwfw"),
    ]
    with engine.begin() as conn:
        write_samples(conn, samples)
        roll_up(conn, at("2026-11-01T00:00:00"))


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    import_ledger(runtime.engine, runtime)
    return runtime


def test_a_bad_cell_rejects_the_whole_file_and_writes_nothing(rt: Runtime, tmp_path: Path) -> None:
    """One good row and one with an unknown system: rejected whole, no figure and no operation-log event written."""
    events = count(rt.engine, audit_events)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"2026-10,{CLOUD},GA-007,,45,60,,\n2026-10,{CLOUD},NOPE,,5,,,\n", encoding="utf-8")
    with pytest.raises(LedgerFileError) as err:
        import_report(rt, bad)
    assert str(err.value) == f"{bad}: row 3, column 系统编号 / system code: unknown system 'NOPE': not in the ledger"
    assert count(rt.engine, vendor_reported_usage) == 0
    assert count(rt.engine, audit_events) == events


def test_reimport_is_a_noop_and_a_change_is_logged_with_before_and_after(rt: Runtime, tmp_path: Path) -> None:
    """The demo report twice: the second time nothing changes; a new CPU figure for GA-007 replaces the old one,
    and the operation log says what it was and what it became, its chain intact."""
    first = import_report(rt, EXAMPLES / "vendor-usage-demo.csv")
    assert (first.created, first.changed, first.unchanged) == (16, 0, 0)
    events = count(rt.engine, audit_events)
    again = import_report(rt, EXAMPLES / "vendor-usage-demo.csv")
    assert (again.created, again.changed, again.unchanged) == (0, 0, 16)
    assert count(rt.engine, audit_events) == events
    change = tmp_path / "change.csv"
    change.write_text(HEADER + f"2026-10,{CLOUD},GA-007,,50%,60,72,本地测试云\n", encoding="utf-8")
    changed = import_report(rt, change)
    assert (changed.created, changed.changed, changed.unchanged) == (0, 1, 2)
    with rt.engine.connect() as conn:
        figures = {(f.system, f.metric): f.percent for f in reported(conn, "2026-10")}
        last = list(iter_events(conn))[-1]
        report = verify(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn))
    assert figures["GA-007", "cpu_mean"] == Decimal(50)
    assert count(rt.engine, vendor_reported_usage) == 16
    assert last.action == "vendor_usage.report"
    assert last.target == "system:GA-007/cloud:yunguan-local/month:2026-10/vendor:本地测试云"
    assert (json.loads(last.before), json.loads(last.after)) == ({"cpu_mean": "45"}, {"cpu_mean": "50"})
    assert report.ok


def test_compare_flags_a_vendor_far_from_the_measurement_and_says_unknown_without_enough(rt: Runtime) -> None:
    """GA-007: the vendor says 45% CPU, the hypervisors measured 8% all month: differs by 37 points. Its memory
    agrees; its storage was only estimated (unknown). ZW-001's server was measured on 3 days of 31 (unknown);
    GA-012 and RS-003 have no samples (unknown). Only a real difference is flagged."""
    import_report(rt, EXAMPLES / "vendor-usage-demo.csv")
    measured(rt.engine)
    with rt.engine.connect() as conn:
        rows = compare_month(conn, 2026, 10, Decimal(10), Decimal("0.5"))
    by = {(c.figure.system, c.figure.metric): c for c in rows}
    cpu = by["GA-007", "cpu_mean"]
    assert (cpu.figure.percent, cpu.measured, cpu.difference, cpu.verdict) == (45, 8, 37, Verdict.DIFFERS)
    assert (cpu.samples, cpu.estimated, cpu.days, cpu.month_days) == (31, 0, 31, 31)
    assert (by["GA-007", "memory_mean"].verdict, by["GA-007", "memory_mean"].difference) == (Verdict.AGREES, 0)
    assert by["GA-007", "cpu_peak"].verdict is Verdict.DIFFERS  # 90 reported, 8 at most measured
    assert (by["GA-007", "storage"].verdict, by["GA-007", "storage"].why) == (Verdict.UNKNOWN, "estimates")
    assert (by["ZW-001", "cpu_mean"].verdict, by["ZW-001", "cpu_mean"].why) == (Verdict.UNKNOWN, "coverage")
    assert by["ZW-001", "cpu_mean"].measured == 35  # shown, but not judged
    assert (by["GA-012", "cpu_mean"].verdict, by["GA-012", "cpu_mean"].why) == (Verdict.UNKNOWN, "no-samples")
    assert by["RS-003", "cpu_mean"].verdict is Verdict.UNKNOWN
    flagged = {k for k, c in by.items() if c.verdict is Verdict.DIFFERS}
    assert flagged == {("GA-007", "cpu_mean"), ("GA-007", "cpu_peak"), ("GA-007", "memory_peak")}
    with rt.engine.connect() as conn:
        wide = compare_month(conn, 2026, 10, Decimal(40), Decimal("0.5"))
        loose = compare_month(conn, 2026, 10, Decimal(10), Decimal("0.05"))
    assert {(c.figure.system, c.figure.metric) for c in wide if c.verdict is Verdict.DIFFERS} == {
        ("GA-007", "cpu_peak")
    }
    assert next(c for c in loose if c.figure.system == "ZW-001" and c.figure.metric == "cpu_mean").verdict is (
        Verdict.AGREES
    )


def test_a_figure_for_one_server_is_compared_with_that_server(rt: Runtime, tmp_path: Path) -> None:
    """A row with a server id is that server's figure, measured from its own samples only."""
    measured(rt.engine)
    path = tmp_path / "server.csv"
    path.write_text(HEADER + f"2026-10,{CLOUD},GA-007,ga-1,9,,,\n2026-10,{CLOUD},GA-007,ga-2,9,,,\n", encoding="utf-8")
    import_report(rt, path, vendor="某监管服务商")
    with rt.engine.connect() as conn:
        rows = {c.figure.server: c for c in compare_month(conn, 2026, 10, Decimal(10), Decimal("0.5"))}
    assert (rows["ga-1"].measured, rows["ga-1"].verdict, rows["ga-1"].figure.vendor) == (
        8,
        Verdict.AGREES,
        "某监管服务商",
    )
    assert (rows["ga-2"].verdict, rows["ga-2"].why) == (Verdict.UNKNOWN, "no-samples")


# -- the CLI, end to end -----------------------------------------------------------------------------------------


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`yunguan` in-process against a config pointing at this test's database, with the demo ledger imported."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.csv")).exit_code == 0
    return run


def test_cli_import_then_compare(cli, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Import the demo report (dry run first), re-import (unchanged), a broken file (exit 3, each error named, nothing
    written); compare October: exit 1 with the flagged row in JSON, exit 0 with a margin that covers it, words in
    Chinese for the table, and a usage error for a bad month."""
    demo = str(EXAMPLES / "vendor-usage-demo.csv")
    dry = cli("--lang", "en", "usage", "import-reported", demo, "--dry-run")
    assert dry.exit_code == 0 and "dry run" in dry.stderr
    assert (
        "no vendor-reported figures for 2026-10" in cli("--lang", "en", "usage", "compare", "--month", "2026-10").stderr
    )
    first = cli("--lang", "en", "usage", "import-reported", demo)
    assert first.exit_code == 0 and "figures added" in first.stdout and "16" in first.stdout
    again = cli("--lang", "en", "usage", "import-reported", demo, "--vendor", "本地测试云")
    assert again.exit_code == 0 and "16" in again.stdout.split("figures unchanged")[1]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + f"2026-10,{CLOUD},GA-007,,145,abc,,\n", encoding="utf-8")
    rejected = cli("--lang", "en", "usage", "import-reported", str(bad))
    assert rejected.exit_code == 3
    assert "rejected whole, 2 error(s), nothing written" in rejected.stderr
    assert f"{bad}: row 2, column CPU平均利用率（%） / CPU mean %: '145' is outside 0-100%" in rejected.stderr
    assert f"{bad}: row 2, column 内存平均利用率（%） / memory mean %: not a percentage: 'abc'" in rejected.stderr

    engine = make_engine(db_url)
    migrate.require_head(engine)
    measured(engine)
    engine.dispose()
    result = cli("--lang", "en", "usage", "compare", "--month", "2026-10", "-o", "json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    cpu = next(r for r in rows if r["system"] == "GA-007" and r["metric"] == "cpu_mean")
    assert {k: cpu[k] for k in ("reported", "measured", "difference", "samples", "quality", "verdict")} == {
        "reported": 45.0,
        "measured": 8.0,
        "difference": 37.0,
        "samples": 31,
        "quality": "measured",
        "verdict": "differs",
    }
    unknown = next(r for r in rows if r["system"] == "GA-012" and r["metric"] == "cpu_mean")
    assert (unknown["verdict"], unknown["measured"], unknown["why"]) == ("unknown", None, "no-samples")
    assert "3 reported figure(s) differ from the measured by more than 10 points" in result.stderr
    assert cli("usage", "compare", "--month", "2026-10", "--margin", "90", "-o", "csv").exit_code == 0
    table = cli("--lang", "zh", "usage", "compare", "-m", "2026年10月")
    assert table.exit_code == 1
    assert "不符" in table.stdout and "估算不能代替实测" in table.stdout and "CPU平均利用率" in table.stdout
    wrong = cli("--lang", "en", "usage", "compare", "--month", "October")
    assert wrong.exit_code == 2 and "not a month: October" in wrong.stderr


def test_dates_are_counted_in_beijing(rt: Runtime, tmp_path: Path) -> None:
    """A report for the month now running is refused: it is not over in China Standard Time."""
    path = tmp_path / "now.csv"
    path.write_text(HEADER + f"2026-11,{CLOUD},GA-007,,5,,,\n", encoding="utf-8")
    assert rt.clock.now() < dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with pytest.raises(LedgerFileError, match="2026-11 is not over yet"):
        import_report(rt, path)
