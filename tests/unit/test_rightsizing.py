"""Rightsizing a downsize finding: the flavor (or quota) a server (or namespace) shrinks to, from measured figures."""

from __future__ import annotations

from decimal import Decimal

from controlplane.domain import Quantities
from controlplane.policy.actuation import Flavor
from controlplane.policy.rightsizing import Measured, Targets, choose_flavor, choose_quota, monthly_saving_fen

GIB = 1024**3
FLAVORS = [
    Flavor(name="m1.tiny", vcpus=1, memory_bytes=512 * 1024**2, disk_bytes=1 * GIB),
    Flavor(name="m1.small", vcpus=1, memory_bytes=2 * GIB, disk_bytes=20 * GIB),
    Flavor(name="m1.medium", vcpus=2, memory_bytes=4 * GIB, disk_bytes=40 * GIB),
    Flavor(name="m1.large", vcpus=4, memory_bytes=8 * GIB, disk_bytes=80 * GIB),
    Flavor(name="m1.xlarge", vcpus=8, memory_bytes=16 * GIB, disk_bytes=160 * GIB),
    Flavor(name="big-disk.small", vcpus=1, memory_bytes=2 * GIB, disk_bytes=200 * GIB),
]
XLARGE = FLAVORS[4]
M8 = Flavor(name="c8m16", vcpus=8, memory_bytes=16 * GIB, disk_bytes=20 * GIB)  # today's size, 20 GiB root disk


def test_an_idle_server_shrinks_to_the_largest_flavor_where_its_mean_clears_the_low_threshold() -> None:
    """8 vCPU at 3% mean, 12% peak: on 2 vCPU the mean is 12% (clears 10%) and the peak 48% (under 80%); on 4 the
    mean would stay under 10%; on 1 the peak would be 96%. The plan is m1.medium."""
    plan = choose_flavor(M8, FLAVORS, Measured(3, 12, 5, 10), Targets())
    assert plan.target is not None and plan.target.name == "m1.medium"
    assert (plan.new_cpu_mean, plan.new_cpu_peak) == (12.0, 48.0)


def test_the_peak_decides_when_no_flavor_lifts_the_mean() -> None:
    """0.5% mean on 8 vCPU: no smaller flavor brings the mean to 10%, so the smallest on which the peaks stay under
    80%: memory peaks at 1.6 GiB, 80% of m1.small's 2 GiB (not under), so m1.medium."""
    plan = choose_flavor(M8, FLAVORS, Measured(0.5, 5, 5, 10), Targets())
    assert plan.target is not None and plan.target.name == "m1.medium"


def test_never_a_flavor_with_a_smaller_root_disk() -> None:
    """Nova cannot shrink a root disk on resize: from 160 GiB only the 200 GiB-disk flavor is a candidate."""
    plan = choose_flavor(XLARGE, FLAVORS, Measured(0.5, 5, 2, 4), Targets())
    assert plan.target is not None and plan.target.name == "big-disk.small"


def test_no_plan_without_a_measured_peak_or_a_safe_flavor() -> None:
    """Unknown peak: no plan (nothing sized on a guess); a peak of 90% on 8 vCPU: no smaller flavor is safe."""
    assert choose_flavor(XLARGE, FLAVORS, Measured(3, None, 20, 30), Targets()).target is None
    assert choose_flavor(M8, FLAVORS, Measured(30, 90, 20, 30), Targets()).target is None


def test_the_floor_is_never_crossed() -> None:
    """A floor of 4 vCPU keeps an idle 8-vCPU server at m1.large at least."""
    plan = choose_flavor(M8, FLAVORS, Measured(0.5, 5, 5, 10), Targets(floor_vcpus=4))
    assert plan.target is not None and plan.target.name == "m1.large"


def test_a_quota_shrinks_to_its_peak_over_the_target() -> None:
    """16 cores at 10% peak = 1.6 cores → 2 cores at 80%; 64 GiB at 25% = 16 GiB → 20 GiB; storage unchanged."""
    current = Quantities(vcpu=Decimal(16), memory_bytes=64 * GIB, storage_bytes=500 * GIB)
    target = choose_quota(current, Measured(4, 10, 20, 25), Targets())
    assert target == Quantities(vcpu=Decimal(2), memory_bytes=20 * GIB, storage_bytes=500 * GIB)
    assert choose_quota(current, Measured(50, 95, 80, 90), Targets()) is None


def test_monthly_saving_at_catalogue_prices() -> None:
    """By flavor name when both are priced, else per vCPU and GiB: 6 vCPU x 5000 + 12 GiB x 2000 fen."""
    medium = FLAVORS[2]
    assert monthly_saving_fen(XLARGE, medium, {"m1.xlarge": 80000, "m1.medium": 20000}) == 60000
    assert monthly_saving_fen(XLARGE, medium, {"vcpu": 5000, "memory_gib": 2000}) == 54000
    assert monthly_saving_fen(XLARGE, medium, {}) is None
