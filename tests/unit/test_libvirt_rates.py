"""The counter → utilization maths of the libvirt collector, on two bulk snapshots recorded from a real TCG guest
(../shared/fixtures/libvirt): the guest ran ~25% of its 2 vCPUs, held 48 MiB in a tmpfs and wrote its disk."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.libvirt.rates import DomainReading, filesystems, samples
from controlplane.usage import Quality, UsageSample

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "libvirt"
AGE = dt.timedelta(seconds=30)


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "qemu-tcg-snapshots.json").read_text())
    return data


def reading(snapshot: dict[str, Any], domain_id: int = 7, **changes: Any) -> DomainReading:
    dom = snapshot["domains"][0]
    stats = {**dom["stats"], **changes}
    when = dt.datetime.fromtimestamp(snapshot["wall_time"], dt.UTC)
    return DomainReading("h1", dom["uuid"], dom["name"], domain_id, when, stats, group_id="p1")


def by_metric(found: list[UsageSample]) -> dict[str, UsageSample]:
    return {s.metric: s for s in found}


def value(s: UsageSample) -> Decimal:
    assert s.value is not None
    return s.value


def test_cpu_memory_and_io_rates_from_two_real_snapshots() -> None:
    """The recorded pair gives the recipe's figures: CPU 26.7% of 2 vCPUs, memory 41.5%, disk ~105 kB/s each way."""
    first, second = recorded()["snapshots"]
    got = by_metric(samples("os", reading(first), reading(second), balloon_max_age=AGE))
    assert value(got["cpu_percent"]) == Decimal("26.70")
    assert value(got["cpu_cores"]) == Decimal("0.5339")
    assert value(got["cpu_wait_percent"]) == Decimal("2.03")  # Σ Δvcpu.N.delay on the same scale
    assert got["vcpus"].value == 2
    assert value(got["memory_percent"]) == Decimal("41.51")
    assert got["memory_total_bytes"].value == 210612 * 1024
    assert abs(value(got["disk_read_bytes_per_s"]) - Decimal("104778.77")) < 1
    assert abs(value(got["disk_write_bytes_per_s"]) - Decimal("106006.64")) < 1
    assert got["net_rx_bytes_per_s"].value == 0
    assert abs(value(got["net_tx_bytes_per_s"]) - Decimal("325.36")) < 1
    assert {s.quality for s in got.values()} == {Quality.MEASURED}
    assert {(s.scope_kind, s.scope_id, s.group_id, s.host) for s in got.values()} == {
        ("server", "b355084d-ca6d-488f-8dab-c7bed687eeb3", "p1", "h1")
    }
    assert "disk_percent" not in got  # disk use only on sweeps that ask the guest agent


def test_first_reading_gives_no_rates_only_levels() -> None:
    """With no earlier reading there is no CPU or I/O rate — never a made-up one — but memory is a level."""
    got = by_metric(samples("os", None, reading(recorded()["snapshots"][1]), balloon_max_age=AGE))
    assert "cpu_percent" not in got and "disk_read_bytes_per_s" not in got
    assert value(got["memory_percent"]) == Decimal("41.51")


def test_restart_between_readings_drops_the_pair() -> None:
    """A new domain id (the guest restarted) or a counter that went backwards gives no CPU figure."""
    first, second = recorded()["snapshots"]
    restarted = samples("os", reading(first, domain_id=7), reading(second, domain_id=8), balloon_max_age=AGE)
    assert "cpu_percent" not in by_metric(restarted)
    backwards = samples("os", reading(second), reading(first), balloon_max_age=AGE)
    assert "cpu_percent" not in by_metric(backwards)


def test_stale_balloon_is_missing_not_a_frozen_figure() -> None:
    """A balloon last updated long before the reading (guest stopped reporting) gives memory 'missing'."""
    second = recorded()["snapshots"][1]
    stale = reading(second, **{"balloon.last-update": second["wall_time"] - 120})
    got = by_metric(samples("os", None, stale, balloon_max_age=AGE))
    assert got["memory_percent"].quality is Quality.MISSING
    assert got["memory_percent"].value is None


def test_without_balloon_statistics_memory_is_an_estimate() -> None:
    """No balloon driver: only rss/current, labelled estimated and capped at 100% (rss can exceed current)."""
    stats = {k: v for k, v in recorded()["snapshots"][1]["domains"][0]["stats"].items() if not k.startswith("balloon")}
    dom = DomainReading("h1", "u", "n", 1, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), stats)
    got = by_metric(samples("os", None, dom, balloon_max_age=AGE))
    assert got["memory_percent"].quality is Quality.MISSING
    with_rss = DomainReading("h1", "u", "n", 1, dom.time, {**stats, "balloon.current": 262144, "balloon.rss": 293152})
    est = by_metric(samples("os", None, with_rss, balloon_max_age=AGE))
    assert est["memory_percent"].quality is Quality.ESTIMATED
    assert est["memory_percent"].value == 100


def test_disk_use_from_the_guest_agent_is_measured() -> None:
    """The agent's filesystems (what df says) give a measured disk %: 26,228,736 of 223,465,472 bytes."""
    data = recorded()
    fs = filesystems(data["per_domain"]["lvproto-tcg"]["guestInfo_filesystem"])
    assert fs is not None
    got = by_metric(samples("os", None, reading(data["snapshots"][1]), balloon_max_age=AGE, fs=fs, fs_asked=True))
    assert value(got["disk_percent"]) == Decimal("11.74")
    assert got["disk_percent"].quality is Quality.MEASURED
    assert got["disk_percent"].source == "libvirt-guest-agent"


@pytest.mark.parametrize("answer", [{}, {"fs.count": 0}])
def test_hung_or_empty_agent_falls_back_to_an_allocated_estimate(answer: dict[str, Any]) -> None:
    """A hung agent's {} is not 'no filesystems': disk use falls back to the image's written share, labelled so."""
    assert filesystems(answer) is None
    got = by_metric(
        samples("os", None, reading(recorded()["snapshots"][1]), balloon_max_age=AGE, fs=None, fs_asked=True)
    )
    assert got["disk_percent"].quality is Quality.ESTIMATED
    assert got["disk_percent"].source == "libvirt-allocated"
    assert value(got["disk_percent"]) == Decimal("10.38")  # physical 27,860,992 of capacity 268,435,456
