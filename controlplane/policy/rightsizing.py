"""Rightsizing: the target a downsize finding should shrink to, computed from the window's measured figures.

For a server: among the cloud's flavors, those whose root disk is not smaller (Nova cannot shrink a disk on
resize), not below the configured floor and smaller than today's, keep the ones on which the window's peak would
stay under the target utilization; of those, the largest whose mean would clear the pack's low threshold (so the
server is not flagged again next month), else the smallest that keeps the peak safe. No candidate: no plan, and the
reason says why. For a namespace or project quota: the same arithmetic on cores and bytes, rounded up to whole
cores and GiB.

Pure: the figures and flavors come in, a plan comes out; nothing here reads a cloud or a store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from controlplane.domain import Quantities
from controlplane.policy.actuation import Flavor

GIB = 1024**3


@dataclass(frozen=True)
class Measured:
    """The window's figures for the scope: percentages of its current size (None: not measured)."""

    cpu_mean: float | None
    cpu_peak: float | None
    memory_mean: float | None
    memory_peak: float | None


@dataclass(frozen=True)
class Targets:
    peak_percent: float = 80.0  # the window's peak must stay under this on the new size
    low_mean_percent: float = 10.0  # the pack's low threshold the new mean should clear
    floor_vcpus: int = 1
    floor_memory_bytes: int = 512 * 1024**2


@dataclass(frozen=True)
class FlavorPlan:
    current: Flavor
    target: Flavor | None
    reason: str
    new_cpu_peak: float | None = None
    new_cpu_mean: float | None = None


def _scaled(percent: float | None, old: float, new: float) -> float | None:
    return None if percent is None else percent * old / new


def choose_flavor(current: Flavor, flavors: list[Flavor], measured: Measured, targets: Targets) -> FlavorPlan:
    if measured.cpu_peak is None or measured.memory_peak is None:
        return FlavorPlan(current, None, "no measured peak for CPU and memory: nothing is sized on a guess")
    safe: list[tuple[Flavor, float, float | None]] = []
    for flavor in flavors:
        smaller = (flavor.vcpus, flavor.memory_bytes) < (current.vcpus, current.memory_bytes) and (
            flavor.vcpus <= current.vcpus and flavor.memory_bytes <= current.memory_bytes
        )
        if not smaller or flavor.disk_bytes < current.disk_bytes:
            continue
        if flavor.vcpus < targets.floor_vcpus or flavor.memory_bytes < targets.floor_memory_bytes:
            continue
        cpu_peak = _scaled(measured.cpu_peak, current.vcpus, flavor.vcpus)
        mem_peak = _scaled(measured.memory_peak, current.memory_bytes, flavor.memory_bytes)
        if cpu_peak is None or mem_peak is None or max(cpu_peak, mem_peak) >= targets.peak_percent:
            continue
        safe.append((flavor, cpu_peak, _scaled(measured.cpu_mean, current.vcpus, flavor.vcpus)))
    safe.sort(key=lambda s: s[0].name)  # equal sizes: the first name, so the same cloud always gives the same plan
    if not safe:
        return FlavorPlan(current, None, "no smaller flavor keeps the peak under the target (or the floor/disk)")
    clearing = [s for s in safe if s[2] is not None and s[2] >= targets.low_mean_percent]
    if clearing:
        flavor, peak, mean = max(clearing, key=lambda s: (s[0].vcpus, s[0].memory_bytes))
        why = "largest smaller flavor on which the mean clears the low threshold and the peak stays safe"
    else:
        flavor, peak, mean = min(safe, key=lambda s: (s[0].vcpus, s[0].memory_bytes))
        why = "smallest flavor that keeps the peak safe (no flavor lifts the mean over the low threshold)"
    return FlavorPlan(current, flavor, why, round(peak, 2), None if mean is None else round(mean, 2))


def choose_quota(current: Quantities, measured: Measured, targets: Targets) -> Quantities | None:
    """A namespace's or project's quota shrunk so the peak of its current use stays under the target; None when it
    cannot be sized (no measured peak) or would not shrink."""
    if measured.cpu_peak is None or measured.memory_peak is None or current.vcpu <= 0 or current.memory_bytes <= 0:
        return None
    cores_peak = float(current.vcpu) * measured.cpu_peak / 100
    bytes_peak = current.memory_bytes * measured.memory_peak / 100
    vcpu = max(targets.floor_vcpus, math.ceil(cores_peak * 100 / targets.peak_percent))
    memory = max(targets.floor_memory_bytes, math.ceil(bytes_peak * 100 / targets.peak_percent / GIB) * GIB)
    vcpu = min(vcpu, math.ceil(current.vcpu))
    memory = min(memory, current.memory_bytes)
    if vcpu >= current.vcpu and memory >= current.memory_bytes:
        return None
    return current.model_copy(update={"vcpu": Decimal(vcpu), "memory_bytes": memory})


def monthly_saving_fen(before: Flavor, after: Flavor, prices: dict[str, int]) -> int | None:
    """Saving per month at catalogue prices (fen): by flavor name when priced, else per vCPU and GiB of memory."""
    if before.name in prices and after.name in prices:
        return prices[before.name] - prices[after.name]
    per_vcpu, per_gib = prices.get("vcpu"), prices.get("memory_gib")
    if per_vcpu is None or per_gib is None:
        return None
    cores = before.vcpus - after.vcpus
    gib = (before.memory_bytes - after.memory_bytes) / GIB
    return round(cores * per_vcpu + gib * per_gib)
