"""What one sweep of the hypervisors brought: the samples, how each host answered, and the domains a host runs that
the cloud does not know (a VM nobody approved is itself a finding). Kept apart from the samples so the sweep's own
health (hosts ok/failed, duration) is recorded whatever the samples say."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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

    @property
    def complete(self) -> bool:
        return all(h.ok for h in self.hosts)
