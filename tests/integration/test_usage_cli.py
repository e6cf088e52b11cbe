"""`yunguan usage show` and `yunguan usage rollup` through the real CLI on both stores: a system's servers on
OpenStack against the approval, one server, a Kubernetes namespace as before, and figures over days from the rollups,
which outlive the raw samples. The clock is injected; samples are written at chosen times."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner
from usage_data import at, sample, write

from controlplane.cli import context
from controlplane.cli.app import app, hoist_global_options
from controlplane.clock import FixedClock
from controlplane.config import Settings
from controlplane.runtime import Runtime, open_runtime
from controlplane.store.engine import make_engine
from controlplane.usage import Quality, UsageSample

GI = 2**30


def ledger_row(system: str, cloud: str, **extra: Any) -> dict[str, Any]:
    return {
        "unit": "市大数据中心",
        "system": f"用量 {system}",
        "system code": system,
        "MLPS level": 2,
        "zone": "extranet",
        "mode": "shared",
        "cloud": cloud,
        "vCPU": 16,
        "memory GiB": 32,
        "storage GiB": 200,
        "instances": 2,
        "approval number": f"遂政数〔2026〕{system}号",
        "approval date": "2026-01-10",
        "effective from": "2026-01-15",
        "kind": "standard",
        "stable since": "2026-02-01",
        **extra,
    }


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-11-20T04:10:00"))


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FixedClock, engine: Engine):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    clouds = [
        {"name": "os-use", "kind": "openstack", "vendor": "本地测试云", "zone": "extranet", "connection": "x"},
        {"name": "k8s-use", "kind": "kubernetes", "vendor": "本地测试云", "zone": "extranet", "connection": "x"},
    ]
    config = tmp_path / "yunguan.yaml"
    config.write_text(yaml.safe_dump({"clouds": clouds, "database": {"url": db_url}}), encoding="utf-8")
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))

    def fixed(settings: Settings, check_schema: bool = True) -> Runtime:
        return open_runtime(settings, clock=clock, check_schema=check_schema)

    monkeypatch.setattr(context, "open_runtime", fixed)
    rows = [
        ledger_row("OS-USE", "os-use", **{"OpenStack projects": "p-1"}),
        ledger_row("K-USE2", "k8s-use", namespaces="ns-a", vCPU=4),
    ]
    ledger = tmp_path / "ledger.yaml"
    ledger.write_text(yaml.safe_dump({"rows": rows}, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, hoist_global_options(["--lang", "en", *args]), catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(ledger)).exit_code == 0
    servers: list[UsageSample] = []
    for when in ("02:00", "02:30", "03:00", "03:30"):
        time = f"2026-11-20T{when}:00"
        servers += [
            sample("a", "cpu_percent", time, 10),
            sample("a", "vcpus", time, 2),
            sample("a", "memory_bytes", time, 1.5 * GI),
            sample("b", "cpu_percent", time, 50),
            sample("b", "vcpus", time, 6),
            sample("b", "memory_bytes", time, 4.5 * GI),
            sample("b", "disk_percent", time, 70, estimated=True),
            sample("x", "cpu_percent", time, 99, project="p-other"),
        ]
    servers.append(sample("b", "cpu_percent", "2026-11-20T03:45:00", None))
    namespace = [
        UsageSample(
            cloud="k8s-use",
            scope_kind="namespace",
            scope_id="ns-a",
            metric=metric,
            value=value,
            time=at(f"2026-11-20T0{h}:00:00"),
            source="kubelet-summary",
            quality=Quality.MEASURED,
        )
        for h in (2, 3)
        for metric, value in (("cpu_cores", 0.5), ("memory_bytes", GI))
    ]
    write(engine, *servers, *namespace)
    yield run
    engine.dispose()


def as_json(done: Any) -> dict[str, dict[str, Any]]:
    assert done.exit_code == 0, done.stdout + done.stderr
    return {r["metric"]: r for r in json.loads(done.stdout)}


def test_latest_use_of_a_system_on_openstack_against_its_approval(cli) -> None:  # type: ignore[no-untyped-def]
    """The system's two servers (not the other project's): 8 of 16 approved vCPUs, 6 of 32 GiB memory, CPU 40% weighted
    by size (2 vCPU at 10%, 6 at 50%), disk use an estimate and said so."""
    rows = as_json(cli("usage", "show", "OS-USE", "-o", "json"))
    assert (rows["vcpus"]["used"], rows["vcpus"]["approved"], rows["vcpus"]["percent"]) == ("8", "16", "50.0")
    assert (rows["memory_bytes"]["used"], rows["memory_bytes"]["approved"]) == ("6", "32")
    assert rows["cpu_percent"]["percent"] == "40.0"
    assert (rows["disk_percent"]["percent"], rows["disk_percent"]["quality"]) == ("70.0", "estimated")
    assert rows["cpu_percent"]["measured_at"] == "2026-11-20T03:30:00+00:00"  # the missing try at 03:45 is no figure
    one = as_json(cli("usage", "show", "a", "-o", "json"))
    assert (one["cpu_percent"]["percent"], one["vcpus"]["used"], one["vcpus"]["approved"]) == ("10.0", "2", "")


def test_days_from_the_rollups_survive_the_raw_samples(cli, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    """`usage rollup` rolls up the complete hours; `usage show --from --to` then gives each metric's mean, max,
    samples, estimates and missing tries over the days (from the hours while the day runs, from the day once it is
    over); 15 days later the raw samples are gone and the figures stay."""
    rolled = cli("usage", "rollup")
    assert rolled.exit_code == 0, rolled.stderr
    assert "rolled up: hours 2 (20 rows), days (UTC+8) 0 (0 rows)" in rolled.stderr  # 20 November is not over
    days = ("--from", "2026-11-20", "--to", "2026-11-21")
    rows = as_json(cli("usage", "show", "OS-USE", *days, "-o", "json"))
    cpu = rows["cpu_percent"]
    assert (cpu["unit"], cpu["mean"], cpu["max"], cpu["samples"], cpu["missing"], cpu["scopes"]) == (
        "%",
        40.0,
        50.0,
        8,
        1,
        2,
    )
    assert (rows["memory_bytes"]["unit"], rows["memory_bytes"]["mean"]) == ("GiB", 6.0)
    assert (rows["disk_percent"]["samples"], rows["disk_percent"]["estimated"]) == (4, 4)
    clock.advance(dt.timedelta(days=15))
    later = cli("usage", "rollup")
    assert "days (UTC+8) 1 (10 rows)" in later.stderr
    assert "removed past their retention: 37 samples, 0 hourly rows, 0 daily rows" in later.stderr
    assert as_json(cli("usage", "show", "OS-USE", *days, "-o", "json")) == rows  # now from the daily rollups
    single = cli("usage", "show", "a", "--from", "2026-11-20", "--to", "2026-11-21", "-o", "csv")
    table = list(csv.DictReader(io.StringIO(single.stdout)))
    assert {r["metric"]: (r["mean"], r["samples"], r["scopes"]) for r in table}["cpu_percent"] == ("10.0", "4", "1")


def test_chinese_labels_and_china_standard_time_days(cli) -> None:  # type: ignore[no-untyped-def]
    """In Chinese the window's table has Chinese headers and says the days are Beijing time; the last day shown is
    the day before --to."""
    cli("usage", "rollup")
    done = cli("--lang", "zh", "usage", "show", "OS-USE", "--from", "2026-11-20", "--to", "2026-11-22")
    assert done.exit_code == 0
    assert "平均" in done.stdout and "峰值" in done.stdout and "样本数" in done.stdout
    assert "2026-11-20 至 2026-11-21，北京时间" in done.stdout


def test_kubernetes_namespace_as_before_and_over_days(cli) -> None:  # type: ignore[no-untyped-def]
    """A namespace still shows its latest use against its system's approval (0.5 of 4 cores), and its days."""
    rows = as_json(cli("usage", "show", "ns-a", "-o", "json"))
    assert (rows["cpu_cores"]["used"], rows["cpu_cores"]["approved"], rows["cpu_cores"]["percent"]) == (
        "0.5",
        "4",
        "12.5",
    )
    cli("usage", "rollup")
    days = as_json(cli("usage", "show", "K-USE2", "--from", "2026-11-20", "-o", "json"))
    assert (days["cpu_cores"]["unit"], days["cpu_cores"]["mean"], days["cpu_cores"]["samples"]) == ("cores", 0.5, 2)


def test_nothing_to_show_exits_2_with_the_next_step(cli) -> None:  # type: ignore[no-untyped-def]
    """Days with no rollups, an unknown target, or --to alone: exit 2 and say what to do."""
    cli("usage", "rollup")
    empty = cli("usage", "show", "OS-USE", "--from", "2026-10-01", "--to", "2026-10-02")
    assert empty.exit_code == 2
    assert "run yunguan usage rollup first" in empty.stderr
    unknown = cli("usage", "show", "no-such-server")
    assert unknown.exit_code == 2
    assert "no usage samples of no-such-server" in unknown.stderr
    alone = cli("usage", "show", "OS-USE", "--to", "2026-10-02")
    assert (alone.exit_code, alone.stderr.strip()) == (2, "--to needs --from")
