"""What one sweep of the hypervisors brought: the samples, how each host answered, and the domains a host runs that
the cloud does not know (a VM nobody approved is itself a finding). Kept apart from the samples so the sweep's own
health (hosts ok/failed, duration) is recorded whatever the samples say."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from controlplane.clock import Clock
from controlplane.config import CloudSettings, HypervisorHost
from controlplane.reconcile.observed import ObservedHost
from controlplane.usage import UsageSample


@dataclass(frozen=True)
class HostResult:
    host: str
    ok: bool
    domains: int = 0
    duration_s: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class UnknownDomain:
    """A domain on a host that is not a server of the cloud (no Nova metadata and no mapping by its metadata)."""

    host: str
    uuid: str
    name: str


@dataclass(frozen=True)
class SweepResult:
    cloud: str
    started: dt.datetime
    finished: dt.datetime
    samples: tuple[UsageSample, ...]
    hosts: tuple[HostResult, ...]
    unknown_domains: tuple[UnknownDomain, ...] = field(default=())
    groups: tuple[tuple[str, str], ...] = field(default=())  # (group id, name) the hosts reported: Nova projects

    @property
    def complete(self) -> bool:
        return all(h.ok for h in self.hosts)


@runtime_checkable
class HypervisorCollector(Protocol):
    """A cloud's hypervisors, swept for usage: each call is one sweep (rates against the previous one)."""

    def sweep(self, *, ask_agents: bool, progress: Callable[[str, bool], None] | None = None) -> SweepResult: ...

    def close(self) -> None: ...


COLLECTORS = "yunguan.collectors"


class NoCollectorError(Exception):
    """No installed collector reads hypervisors."""


def open_collector(cloud: CloudSettings, hosts: list[HypervisorHost], clock: Clock) -> HypervisorCollector:
    """The registered hypervisor collector (``yunguan.collectors`` entry point ``libvirt``) for these hosts."""
    found = [ep for ep in entry_points(group=COLLECTORS) if ep.name == "libvirt"]
    if not found:
        raise NoCollectorError(f"cloud {cloud.name!r}: no hypervisor collector is installed (libvirt)")
    collector: HypervisorCollector = found[0].load()(cloud, hosts, clock)
    return collector


def hosts_of(cloud: CloudSettings, discovered: list[tuple[str, str]]) -> list[HypervisorHost]:
    """The configured hosts, then each discovered (name, ip) not configured by name, with the URI template filled."""
    settings = cloud.hypervisors
    if settings is None:
        return []
    hosts = list(settings.hosts)
    named = {h.name for h in hosts}
    for name, ip in discovered:
        if name not in named:
            uri = settings.uri_template.format(name=name, host_ip=ip or name)
            hosts.append(HypervisorHost(name=name, uri=uri))
            named.add(name)
    return hosts


@runtime_checkable
class HostSource(Protocol):
    """A cloud that can list its hypervisors (OpenStack): where discovery finds the hosts to sweep."""

    def hypervisors(self) -> tuple[list[ObservedHost], str]:
        """The hosts, and why not all of them ("" when the listing was complete)."""
        ...
