"""One collection of a cloud's hypervisors: find the hosts (config, then discovery from the cloud's own hypervisor
list), sweep them through the registered collector, and hand back the sweep for the store.

Rates (CPU, disk and network per second) need two readings of the same counters. The agent keeps its collector
between sweeps; a one-shot CLI collection takes a baseline sweep first and the real one ``interval_s`` later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controlplane.clock import Clock
from controlplane.config import CloudSettings, HypervisorHost
from controlplane.reconcile.sources import open_source
from controlplane.usage_sweep import HostSource, SweepResult, hosts_of, open_collector


@dataclass(frozen=True)
class HostPlan:
    hosts: tuple[HypervisorHost, ...]
    problem: str = ""  # discovery could not list every host


def plan_hosts(cloud: CloudSettings, clock: Clock, only: tuple[str, ...] = ()) -> HostPlan:
    """The hosts to sweep: configured ones, then discovered ones; ``only`` keeps the named hosts."""
    settings = cloud.hypervisors
    if settings is None:
        return HostPlan(())
    discovered: list[tuple[str, str]] = []
    problem = ""
    if settings.discover:
        source = open_source(cloud, clock)
        if isinstance(source, HostSource):
            listed, problem = source.hypervisors()
            discovered = [(h.name, h.host_ip) for h in listed]
        else:
            problem = f"cloud {cloud.name}: its kind ({cloud.kind.value}) cannot list hypervisors"
    hosts = hosts_of(cloud, discovered)
    if only:
        hosts = [h for h in hosts if h.name in only]
    return HostPlan(tuple(hosts), problem)


def sweep_once(
    cloud: CloudSettings,
    hosts: tuple[HypervisorHost, ...],
    clock: Clock,
    *,
    interval_s: float,
    sleep: Callable[[float], None],
    progress: Callable[[str, bool], None] | None = None,
) -> SweepResult:
    """A baseline sweep, ``interval_s`` of waiting, then the sweep that counts (guest agents asked for disk use)."""
    collector = open_collector(cloud, list(hosts), clock)
    try:
        if interval_s > 0:
            collector.sweep(ask_agents=False)
            sleep(interval_s)
        return collector.sweep(ask_agents=True, progress=progress)
    finally:
        collector.close()
