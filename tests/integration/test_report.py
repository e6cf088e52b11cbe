"""`yunguan report monthly` end to end on SQLite and PostgreSQL: the demo ledger imported, a month of samples written
for a system's servers (under their project's id, the name remembered as the hypervisors report it) and for a
namespace, rolled up at an injected time; the report read back from the XLSX, HTML and CSV files, and matched by its
SHA-256 with its event in the operation log."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, insert
from typer.testing import CliRunner
from usage_data import at, sample

from controlplane.audit.log import iter_events
from controlplane.cli import context
from controlplane.cli.app import app, hoist_global_options
from controlplane.clock import FixedClock
from controlplane.config import Settings
from controlplane.runtime import Runtime, open_runtime
from controlplane.store.engine import make_engine
from controlplane.store.tables import actions as actions_t
from controlplane.store.tables import findings as findings_t
from controlplane.usage import Quality, UsageSample, remember_groups, write_samples
from controlplane.usage_rollup import roll_up

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
CLOUD = "yunguan-local"
PROJECT_ID = "7c1f0e9a4b2d4f6e8a1b2c3d4e5f6a7b"  # what Nova calls ZW-001's project; the ledger names it zwfw
GI = 2**30


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-11-02T01:30:00"))  # 09:30 on 2 November in Beijing: October is over


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


def october(server: str, metric: str, value: float, *, estimated_on: int = 0) -> list[UsageSample]:
    """One sample a day at noon Beijing time through October 2026, of ZW-001's project."""
    return [
        sample(server, metric, f"2026-10-{day:02d}T04:00:00", value, project=PROJECT_ID, cloud=CLOUD,
               estimated=day == estimated_on)
        for day in range(1, 32)
    ]  # fmt: skip


def namespace(metric: str, value: float, when: str) -> UsageSample:
    return UsageSample(
        cloud="k8s-local",
        scope_kind="namespace",
        scope_id="sbk",
        metric=metric,
        value=value,
        time=at(when),
        source="kubelet-summary",
        quality=Quality.MEASURED,
    )


def measured(engine: Engine) -> None:
    """ZW-001's two servers all October: a (4 vCPU) at 10% CPU, b (12 vCPU) at 30% with one 90% day; memory 50% of
    8 GiB and 70% of 24 GiB; disk 40% of 100 GiB (one day only estimated) and 60% of 300 GiB. Samples just outside
    October in Beijing time do not count. RS-003's namespace uses 2 of its 8 approved cores and 4 of 16 GiB."""
    samples = [
        *october("zw-a", "cpu_percent", 10),
        *october("zw-a", "vcpus", 4),
        *october("zw-a", "memory_percent", 50),
        *october("zw-a", "memory_total_bytes", 8 * GI),
        *october("zw-a", "disk_percent", 40, estimated_on=9),
        *october("zw-a", "disk_total_bytes", 100 * GI),
        *[s for s in october("zw-b", "cpu_percent", 30) if s.time.day != 14],
        sample("zw-b", "cpu_percent", "2026-10-14T04:00:00", 90, project=PROJECT_ID, cloud=CLOUD),
        *october("zw-b", "vcpus", 12),
        *october("zw-b", "memory_percent", 70),
        *october("zw-b", "memory_total_bytes", 24 * GI),
        *october("zw-b", "disk_percent", 60),
        *october("zw-b", "disk_total_bytes", 300 * GI),
        sample("zw-a", "cpu_percent", "2026-09-30T15:00:00", 99, project=PROJECT_ID, cloud=CLOUD),  # 30 Sep, 23:00
        sample("zw-a", "cpu_percent", "2026-10-31T16:00:00", 99, project=PROJECT_ID, cloud=CLOUD),  # 1 Nov, 00:00
        *(namespace("cpu_cores", 2, f"2026-10-{d:02d}T04:00:00") for d in range(1, 32)),
        *(namespace("memory_bytes", 4 * GI, f"2026-10-{d:02d}T04:00:00") for d in range(1, 32)),
    ]
    with engine.begin() as conn:
        write_samples(conn, samples)
        remember_groups(conn, CLOUD, [(PROJECT_ID, "zwfw")], at("2026-10-01T00:00:00"))
        roll_up(conn, at("2026-11-02T00:00:00"))


def finding(number: int, system: str, state: str, *, opened: str, since: str, deadline: str | None) -> dict:  # type: ignore[type-arg]
    """A findings row as the lifecycle keeps it (only what the report reads matters here)."""
    return {
        "id": number,
        "key": f"suining/suining-14-low-cpu/{system}/{CLOUD}/{number}",
        "pack": "suining",
        "rule_id": "suining-14-low-cpu",
        "citation": "Suining art. 14",
        "system": system,
        "cloud": CLOUD,
        "scope_kind": "system",
        "scope_id": system,
        "outcome": "downsize",
        "state": state,
        "cycle": 1,
        "opened": at(opened),
        "state_since": at(since),
        "updated": at(since),
        "period": "2026-09",
        "window_start": at("2026-08-31T16:00:00"),
        "window_end": at("2026-09-30T16:00:00"),
        "evidence": "[]",
        "reason": "",
        "last_verdict": "finding",
        "deadline": dt.date.fromisoformat(deadline) if deadline else None,
        "notified": "[]",
    }


def recorded(engine: Engine) -> None:
    """Findings: GA-007's, reminded in October and still open; GA-012's, resolved in September (not October's);
    ZW-001's, resolved in October (listed, resolved); one opened in November (not October's). Actions: a resize of
    GA-007's server done in October; one finished in September."""
    with engine.begin() as conn:
        conn.execute(
            insert(findings_t),
            [
                finding(
                    1,
                    "GA-007",
                    "reminded",
                    opened="2026-10-03T02:00:00",
                    since="2026-10-03T02:00:00",
                    deadline="2026-11-04",
                ),
                finding(
                    2, "GA-012", "resolved", opened="2026-08-03T02:00:00", since="2026-09-20T02:00:00", deadline=None
                ),
                finding(
                    3, "ZW-001", "resolved", opened="2026-09-03T02:00:00", since="2026-10-20T02:00:00", deadline=None
                ),
                finding(
                    4,
                    "ZW-001",
                    "open",
                    opened="2026-11-01T02:00:00",
                    since="2026-11-01T02:00:00",
                    deadline="2026-12-02",
                ),
            ],
        )
        conn.execute(
            insert(actions_t),
            [
                {"id": 1, "key": "a-1", "finding_id": 1, "rule_id": "suining-14-low-cpu", "cloud": CLOUD,
                 "kind": "resize-server", "target": "ga-1", "spec": "{}", "detail": "{}", "state": "done",
                 "attempts": 1, "created": "2026-10-25T02:00:00.000000Z", "updated": "2026-10-25T02:05:00.000000Z"},
                {"id": 2, "key": "a-2", "finding_id": 2, "rule_id": "suining-14-low-cpu", "cloud": CLOUD,
                 "kind": "set-project-quota", "target": "jtxh", "spec": "{}", "detail": "{}", "state": "done",
                 "attempts": 1, "created": "2026-09-01T02:00:00.000000Z", "updated": "2026-09-02T02:00:00.000000Z"},
            ],
        )  # fmt: skip


# the figures the samples above make: b's CPU mean over its 31 days, each server weighted by its vCPUs
B_CPU = (30 * 30 + 90) / 31
ZW_CPU = (4 * 10 + 12 * B_CPU) / 16
ZW_MEMORY = (8 * 50 + 24 * 70) / 32  # 65
ZW_DISK = (100 * 40 + 300 * 60) / 400  # 55


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FixedClock, engine: Engine):  # type: ignore[no-untyped-def]
    """`yunguan` in-process with the example config on this test's database and the injected clock; the demo ledger
    (YAML, then the CSV's other units) and the demo vendor report imported, October measured and rolled up."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))

    def fixed(settings: Settings, check_schema: bool = True) -> Runtime:
        return open_runtime(settings, clock=clock, check_schema=check_schema)

    monkeypatch.setattr(context, "open_runtime", fixed)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, hoist_global_options(list(args)), catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.yaml")).exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.csv")).exit_code == 0
    assert run("usage", "import-reported", str(EXAMPLES / "vendor-usage-demo.csv")).exit_code == 0
    measured(engine)
    recorded(engine)
    yield run
    engine.dispose()


def rows(ws: Any) -> list[dict[str, Any]]:
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], r, strict=True)) for r in values[1:] if r[0] is not None]


def last_event(engine: Engine) -> Any:
    with engine.connect() as conn:
        return list(iter_events(conn))[-1]


def test_monthly_xlsx_has_the_allocation_in_force_and_the_measured_month(cli, engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ZW-001's standard approval is in force on 31 October (its temporary expansion ended 4 September); its CPU is
    its servers' mean weighted by vCPUs, the peak the 90% day; disk is estimated (one estimated sample) and said so;
    GA-007 has no samples: unknown. RS-003's namespace is a quarter of its approval. The vendor's 52% memory against
    65% measured differs. The file's SHA-256 is the one the operation log recorded."""
    out = tmp_path / "october.xlsx"
    done = cli("--lang", "en", "report", "monthly", "2026-10", "--format", "xlsx", "--out", str(out))
    assert done.exit_code == 0, done.stdout + done.stderr
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest in done.stderr
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0] == "Summary"

    allocation = {(r["system code"], r["cloud"]): r for r in rows(wb["Allocation"])}
    zw = allocation["ZW-001", CLOUD]
    assert (zw["approval number"], zw["kind"], zw["vCPU"], zw["memory GiB"], zw["storage GiB"], zw["instances"]) == (
        "遂政数〔2026〕12号",
        "standard",
        16,
        32,
        400,
        4,
    )
    rs4 = allocation["RS-004", "hosting-zone"]
    assert (rs4["rack units"], rs4["power W"], rs4["bandwidth Mbps"], rs4["devices"]) == (8, 3200, 200, 2)
    assert {u for u, _ in allocation} >= {"ZW-001", "GA-007", "GA-012", "RS-003", "RS-004"}

    use = {(r["system code"], r["cloud"], r["resource"]): r for r in rows(wb["Measured use"])}
    cpu = use["ZW-001", CLOUD, "CPU"]
    assert cpu["mean"] == pytest.approx(ZW_CPU / 100)
    assert (cpu["peak"], cpu["peak at"], cpu["samples"], cpu["days with samples"]) == (0.9, "zw-b", 62, 31)
    assert (cpu["quality"], cpu["of"]) == ("measured", "servers' capacity")
    assert cpu["peak hour (UTC+8)"] == dt.datetime(2026, 10, 14, 12, 0)  # noqa: DTZ001 - Excel keeps Beijing time
    memory = use["ZW-001", CLOUD, "memory"]
    assert (memory["mean"], memory["quality"]) == (pytest.approx(ZW_MEMORY / 100), "measured")
    disk = use["ZW-001", CLOUD, "disk"]
    assert (disk["mean"], disk["quality"], disk["estimated"]) == (pytest.approx(ZW_DISK / 100), "estimated", 1)
    assert disk["note"] == "1 of 62 samples are estimates"
    ga = use["GA-007", CLOUD, "CPU"]
    assert (ga["mean"], ga["samples"], ga["quality"], ga["note"]) == (None, 0, "unknown", "no samples in the month")
    k8s = use["RS-003", "k8s-local", "CPU"]
    assert (k8s["mean"], k8s["of"], k8s["quality"]) == (0.25, "approval", "measured")
    assert use["RS-004", "hosting-zone", "CPU"]["note"] == "nothing on this cloud to measure"

    vendor = {(r["system code"], r["metric"]): r for r in rows(wb["Reported vs measured"])}
    assert (vendor["ZW-001", "memory mean"]["verdict"], vendor["ZW-001", "memory mean"]["difference (points)"]) == (
        "DIFFERS",
        -13,
    )
    assert vendor["ZW-001", "CPU mean"]["verdict"] == "agrees"
    assert vendor["GA-007", "CPU mean"]["verdict"] == "unknown"

    findings = {r["id"]: r for r in rows(wb["Findings"])}
    assert sorted(findings) == [1, 3]
    assert (findings[1]["unit"], findings[1]["state"], findings[1]["outcome"], findings[1]["citation"]) == (
        "市公安局",
        "reminded",
        "downsize",
        "Suining art. 14",
    )
    assert findings[1]["deadline"] == dt.datetime(2026, 11, 4)  # noqa: DTZ001 - Excel keeps naive dates
    assert findings[3]["state"] == "resolved"
    actions = rows(wb["Actions"])
    assert [(a["id"], a["finding"], a["system code"], a["action"], a["state"]) for a in actions] == [
        (1, 1, "GA-007", "resize server", "done")
    ]
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r[0]}
    assert (summary["findings"], summary["actions"]) == ("2 (reminded 1, resolved 1)", 1)

    event = last_event(engine)
    after = json.loads(event.after)
    assert (event.action, event.target, event.actor) == ("report.generate", "report:monthly/2026-10", event.actor)
    assert after == {
        "month": "2026-10",
        "format": "xlsx",
        "lang": "en",
        "file": "october.xlsx",
        "bytes": len(data),
        "sha256": digest,
    }


def test_monthly_html_and_csv_in_chinese(cli, engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The HTML page names the systems in Chinese with its own SVG chart and nothing fetched; the CSV is one row per
    system and cloud with the same figures; each file is logged with its own SHA-256; the default file name."""
    page = cli("--lang", "zh", "report", "monthly", "2026-10", "--format", "html")
    assert page.exit_code == 0, page.stderr
    html = (tmp_path / "yunguan-report-2026-10.html").read_bytes()
    text = html.decode("utf-8")
    assert "2026-10 政务云资源使用情况月报" in text and "政务服务网" in text and "<svg" in text
    assert "http" not in text and "<script" not in text
    assert json.loads(last_event(engine).after)["sha256"] == hashlib.sha256(html).hexdigest()

    flat = tmp_path / "october.csv"
    assert cli("--lang", "zh", "report", "monthly", "2026年10月", "-f", "csv", "--out", str(flat)).exit_code == 0
    table = list(csv.DictReader(io.StringIO(flat.read_text(encoding="utf-8-sig"))))
    zw = next(r for r in table if r["系统编号"] == "ZW-001")
    assert (zw["vCPU（核）"], zw["内存（GiB）"], zw["CPU 平均利用率"], zw["CPU 数据质量"]) == (
        "16",
        "32",
        f"{ZW_CPU:.1f}",
        "实测",
    )
    assert (zw["存储 数据质量"], zw["报送 内存平均利用率"], zw["报送不符"]) == (
        "含估算",
        "52.0",
        "2",
    )  # memory and CPU peak
    event = json.loads(last_event(engine).after)
    assert (event["format"], event["lang"], event["sha256"]) == (
        "csv",
        "zh",
        hashlib.sha256(flat.read_bytes()).hexdigest(),
    )


def test_a_month_not_over_or_not_a_month_is_refused(cli, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """November is not over in Beijing on 2 November: refused, nothing written or logged; a bad month is a usage
    error."""
    before = last_event(engine).seq
    running = cli("--lang", "en", "report", "monthly", "2026-11")
    assert running.exit_code == 2 and "2026-11 is not over yet" in running.stderr
    wrong = cli("--lang", "en", "report", "monthly", "October")
    assert wrong.exit_code == 2 and "not a month: October" in wrong.stderr
    assert last_event(engine).seq == before


def test_an_unwritable_file_logs_nothing(cli, engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A report that cannot be written is not in the operation log."""
    before = last_event(engine).seq
    done = cli("--lang", "en", "report", "monthly", "2026-10", "--out", str(tmp_path / "missing" / "r.xlsx"))
    assert done.exit_code == 2 and "r.xlsx" in done.stderr
    assert last_event(engine).seq == before
