"""The collector against one real TCG guest (``deploy/dev/libvirt.sh guest-start``) over qemu+tls: what the hypervisor
says the guest uses must match what the guest itself reports on its console (its /proc/stat, /proc/meminfo and the
same statfs the guest agent uses), within stated tolerances:

- disk %: 1 point (the agent and the guest read the same statfs);
- memory %: 5 points (the balloon's figures and the guest's are read up to one 5 s stats period apart);
- CPU %: the host counts the CPU time QEMU really got (``cpu_percent``); the guest's own clock also counts the time
  its vCPU waited for a host core (TCG on a busy 2-core machine: ~29% vCPU delay measured), which it cannot see as
  steal and which the host reports as ``cpu_wait_percent``. So the guest's busy % lies between use and use + wait,
  within 5 points either side (the guest's and the host's windows are up to one 5 s period apart).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.libvirt.collector import LibvirtCollector
from controlplane.cli.app import app
from controlplane.clock import SystemClock
from controlplane.config import HypervisorHost, HypervisorSettings
from controlplane.usage import Quality, UsageSample

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "dev" / "libvirt.sh"
PROJECT = "6a1f3c2e-9b4d-4e8a-b7c5-0d2e4f6a8b10"  # the Nova project the dev guest's metadata names


@pytest.fixture(scope="module")
def guest(libvirtd: Path) -> Iterator[dict[str, str]]:  # noqa: ARG001 - the libvirtd the guest runs on
    """The dev guest, started once for this module and stopped after it (under TCG its duty loop keeps burning a
    good part of a core, which would slow whatever runs after)."""
    done = subprocess.run([str(SCRIPT), "guest-start"], capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"the test guest did not start: {done.stderr[-800:]}")
    try:
        yield dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("YUNGUAN_LIBVIRT_GUEST_"))
    finally:
        subprocess.run([str(SCRIPT), "guest-stop"], capture_output=True, check=False, timeout=120)


def stats(console: Path) -> list[dict[str, float]]:
    """The guest's own STAT lines, oldest first."""
    lines = console.read_text(errors="replace").splitlines()
    return [
        {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
        for line in lines
        if line.startswith("STAT ")
    ]


def wait_for_stat_lines(console: Path, after: int, more: int, limit_s: float = 60) -> list[dict[str, float]]:
    """Block until the guest has printed ``more`` STAT lines past seq ``after`` (it prints one every 5 s)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        lines = stats(console)
        if lines and lines[-1]["seq"] >= after + more:
            return lines
        time.sleep(0.5)  # a real guest runs on its own clock; this only polls its console
    pytest.fail(f"the guest printed no new STAT line for {limit_s} s: see {console}")


def one(samples: tuple[UsageSample, ...], uuid: str, metric: str) -> UsageSample:
    (found,) = [s for s in samples if s.scope_id == uuid and s.metric == metric]
    return found


def pct(sample: UsageSample) -> float:
    assert sample.value is not None, f"{sample.metric} missing"
    return float(sample.value)


def test_hypervisor_figures_match_the_guests_own(libvirtd: Path, guest: dict[str, str]) -> None:
    """CPU, memory and disk % read from libvirt (bulk stats, balloon, guest agent) agree with the guest's own view,
    every figure is a measurement, and the domain maps to its Nova project."""
    uuid, console = guest["YUNGUAN_LIBVIRT_GUEST_UUID"], Path(guest["YUNGUAN_LIBVIRT_GUEST_CONSOLE"])
    host = HypervisorHost(name="dev", uri=f"qemu+tls://127.0.0.1/system?pkipath={libvirtd}")
    settings = HypervisorSettings(balloon_max_age_s=15, agent_timeout_s=5, host_timeout_s=60)
    collector = LibvirtCollector("os-dev", [host], settings, SystemClock())
    try:
        start = wait_for_stat_lines(console, after=0, more=1)
        first = collector.sweep(ask_agents=False)
        guest_first = stats(console)[-1]
        wait_for_stat_lines(console, after=int(guest_first["seq"]), more=2)
        second = collector.sweep(ask_agents=True)
        guest_second = stats(console)[-1]
    finally:
        collector.close()
    assert start and first.complete and second.complete
    assert uuid not in {d.uuid for d in second.unknown_domains}
    cpu = one(second.samples, uuid, "cpu_percent")
    memory = one(second.samples, uuid, "memory_percent")
    disk = one(second.samples, uuid, "disk_percent")
    assert {cpu.quality, memory.quality, disk.quality} == {Quality.MEASURED}
    assert (disk.source, cpu.group_id) == ("libvirt-guest-agent", PROJECT)
    assert one(second.samples, uuid, "vcpus").value == 2

    busy = guest_second["cpu_busy_ticks"] - guest_first["cpu_busy_ticks"]
    total = guest_second["cpu_total_ticks"] - guest_first["cpu_total_ticks"]
    guest_cpu = busy / total * 100
    guest_memory = (guest_second["mem_total_kib"] - guest_second["mem_available_kib"]) / guest_second["mem_total_kib"]
    guest_disk = guest_second["df_used_bytes"] / guest_second["df_total_bytes"] * 100
    figures = f"host cpu {pct(cpu)} guest {guest_cpu:.1f}; memory {pct(memory)} / {guest_memory * 100:.1f}; disk"
    figures += f" {pct(disk)} / {guest_disk:.1f}"
    assert abs(pct(disk) - guest_disk) <= 1, figures
    assert abs(pct(memory) - guest_memory * 100) <= 5, figures
    wait = one(second.samples, uuid, "cpu_wait_percent")
    figures += f"; cpu wait {pct(wait)}"
    assert pct(cpu) - 5 <= guest_cpu <= pct(cpu) + pct(wait) + 5, figures
    print(figures)
    assert pct(cpu) > 5, figures  # the guest's duty loop is running: not an idle reading
    window = second.started - first.started
    assert dt.timedelta(seconds=5) < window < dt.timedelta(seconds=60)
    writes = one(second.samples, uuid, "disk_write_bytes_per_s")
    assert writes.value is not None and writes.value > 0  # the guest churns its disk every period


@pytest.mark.usefixtures("guest")
def test_collect_then_show_a_system_whose_ledger_names_its_project(  # type: ignore[no-untyped-def]
    libvirtd: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's path: the ledger names the system's OpenStack project by name (as forms do), `usage collect`
    sweeps the real guest's hypervisor, and `usage show SYSTEM` finds the guest's figures through the project's id
    that Nova's metadata gave with its name."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        f"database:\n  url: {db_url}\nclouds:\n  - name: os-dev\n    kind: openstack\n    vendor: v\n"
        f"    zone: extranet\n    hypervisors:\n      balloon_max_age_s: 15\n      agent_timeout_s: 5\n      hosts:\n"
        f"        - {{name: dev, uri: 'qemu+tls://127.0.0.1/system?pkipath={libvirtd}'}}\n",
        encoding="utf-8",
    )
    ledger = tmp_path / "ledger.yaml"
    ledger.write_text(
        "rows:\n  - {unit: 市大数据局, system: 开发测试, system code: DEV-1, MLPS level: 2, zone: extranet,\n"
        "     mode: shared, cloud: os-dev, vCPU: 2, memory GiB: 1, storage GiB: 1, instances: 1,\n"
        "     approval number: 测〔2026〕1号, approval date: 2026-01-05, kind: standard,\n"
        "     OpenStack projects: yunguan-dev}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", "--config", str(config), *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(ledger)).exit_code == 0
    done = run("usage", "collect", "os-dev", "--interval", "6")
    assert done.exit_code == 0, done.stderr
    assert "1/1 hypervisors answered" in done.stderr
    shown = run("usage", "show", "DEV-1", "-o", "json")
    assert shown.exit_code == 0, shown.stderr
    rows = {r["metric"]: r for r in json.loads(shown.stdout)}
    assert {"cpu_percent", "memory_percent", "disk_percent"} <= set(rows)
    assert float(rows["disk_percent"]["percent"]) == pytest.approx(40.0, abs=1)  # the guest fills 40% of its disk
    assert rows["disk_percent"]["source"] == "libvirt-guest-agent"
    assert rows["cpu_cores"]["approved"] == "2"  # against the approval in force
