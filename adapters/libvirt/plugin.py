"""Registration: the ``yunguan.collectors`` entry point ``libvirt`` (a cloud's hypervisors, read for usage)."""

from __future__ import annotations

from adapters.libvirt.collector import LibvirtCollector
from controlplane.clock import Clock
from controlplane.config import CloudSettings, HypervisorHost, HypervisorSettings


def open_collector(cloud: CloudSettings, hosts: list[HypervisorHost], clock: Clock) -> LibvirtCollector:
    return LibvirtCollector(cloud.name, hosts, cloud.hypervisors or HypervisorSettings(), clock)
