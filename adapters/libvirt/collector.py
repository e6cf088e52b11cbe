"""The hypervisor sweep: every host read in parallel, one bulk ``getAllDomainStats`` each, guest agents asked for
disk use at a lower cadence in a bounded pool, and counters turned into samples against the previous sweep.

A slow or dead host never stalls the sweep: each host has its own timeout from the moment its read starts; a host
still busy when the timeout passes is reported failed (its thread is left to finish or fail on its own, and that
host is skipped until it does), and the sweep returns with what the others gave. Each sweep says which hosts
answered, how many domains were seen and how long it took.

Domain → cloud resource: Nova names a domain's UUID after the server id and writes the owning project into the
domain's ``nova:instance`` metadata; a domain without it may carry ``yunguan:resource`` metadata (non-Nova VMs the
department still approves). A domain with neither is unknown to the cloud — itself a finding — and is reported.
Metadata never changes for a domain, so it is read once per domain and cached.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import libvirt

from adapters.libvirt.errors import HostCallError, HostTimeoutError, LibvirtAdapterError, describe, shown_uri
from adapters.libvirt.links import Credentials, HostLink, ensure_event_loop
from adapters.libvirt.rates import DomainReading, Filesystems, filesystems, samples
from controlplane.clock import Clock
from controlplane.config import HypervisorHost, HypervisorSettings
from controlplane.usage import UsageSample
from controlplane.usage_sweep import HostResult, SweepResult, UnknownDomain

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
YUNGUAN_NS = "https://yunguan.io/xmlns/libvirt/1"
STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
FLAGS = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT


@dataclass(frozen=True)
class Owner:
    """Who a domain belongs to: the cloud's group (project) id, or None for a domain the cloud does not know."""

    group_id: str | None


def owner_from_metadata(nova: str | None, ours: str | None) -> Owner:
    """The project from Nova's ``<nova:owner><nova:project uuid=…>``, else from ``<yunguan:resource group=…>``."""
    if nova:
        # libvirt hands the element back without its namespace; match by local name either way
        root = ET.fromstring(nova)  # noqa: S314 - our own hypervisor's metadata, not untrusted input
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] == "project" and element.get("uuid"):
                return Owner(element.get("uuid"))
        return Owner("")  # a Nova instance whose owner we cannot read: still the cloud's
    if ours:
        root = ET.fromstring(ours)  # noqa: S314 - ditto
        return Owner(root.get("group", ""))
    return Owner(None)


def _metadata(dom: Any, namespace: str) -> str | None:
    try:
        text: str = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, namespace, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise
    return text


@dataclass
class _HostRead:
    host: str
    readings: list[DomainReading]
    fs: dict[str, tuple[Filesystems | None, dt.datetime]]
    unknown: list[UnknownDomain]
    seconds: float


class LibvirtCollector:
    """Sweeps a cloud's hypervisors. Keeps the links and the previous readings between sweeps (rates need them)."""

    def __init__(
        self,
        cloud: str,
        hosts: list[HypervisorHost],
        settings: HypervisorSettings,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        ensure_event_loop()
        self.cloud = cloud
        self.settings = settings
        self.clock = clock
        self._monotonic = monotonic
        credentials = Credentials(settings.username, settings.passphrase_file) if settings.username else None
        self.links = {
            h.name: HostLink(
                h.name,
                h.uri,
                monotonic,
                credentials=credentials,
                keepalive=(settings.keepalive_interval_s, settings.keepalive_count),
                backoff=(min(5.0, settings.reconnect_max_s), settings.reconnect_max_s),
            )
            for h in hosts
        }
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="sweep")
        self._agents = ThreadPoolExecutor(max_workers=settings.agent_workers, thread_name_prefix="guest-agent")
        self._owners: dict[tuple[str, str], Owner] = {}
        self._previous: dict[str, DomainReading] = {}
        self._busy: dict[str, Future[_HostRead]] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._agent_timeout_set: set[tuple[str, str]] = set()

    # -- one host ---------------------------------------------------------------------------------------------------

    def _owner(self, host: str, dom: Any) -> Owner:
        key = (host, dom.UUIDString())
        with self._lock:
            known = self._owners.get(key)
        if known is None:
            known = owner_from_metadata(_metadata(dom, NOVA_NS), _metadata(dom, YUNGUAN_NS))
            with self._lock:
                self._owners[key] = known
        return known

    def _filesystems(self, host: str, dom: Any) -> tuple[Filesystems | None, dt.datetime]:
        key = (host, dom.UUIDString())
        try:
            if key not in self._agent_timeout_set:
                dom.agentSetResponseTimeout(self.settings.agent_timeout_s, 0)
                self._agent_timeout_set.add(key)
            info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM, 0)
        except libvirt.libvirtError:
            # no agent, agent unresponsive (86), domain paused (55): no measurement this time
            return None, self.clock.now()
        return filesystems(info or {}), self.clock.now()

    def _read_host(self, name: str, ask_agents: bool) -> _HostRead:
        link = self.links[name]
        started = self._monotonic()
        conn = link.get()
        try:
            t0 = self.clock.now()
            records = conn.getAllDomainStats(STATS, FLAGS)
            t1 = self.clock.now()
            when = t0 + (t1 - t0) / 2  # a sample is timed at the middle of the call
            readings: list[DomainReading] = []
            unknown: list[UnknownDomain] = []
            doms: list[Any] = []
            for dom, stats in records:
                uuid = dom.UUIDString()
                owner = self._owner(name, dom)
                if owner.group_id is None:
                    unknown.append(UnknownDomain(host=name, uuid=uuid, name=dom.name()))
                readings.append(
                    DomainReading(name, uuid, dom.name(), dom.ID(), when, stats, group_id=owner.group_id or "")
                )
                doms.append(dom)
        except libvirt.libvirtError as exc:
            link.broken(describe(exc))
            raise HostCallError(f"hypervisor {name} ({shown_uri(link.uri)}): domain stats: {describe(exc)}") from exc
        fs: dict[str, tuple[Filesystems | None, dt.datetime]] = {}
        if ask_agents and doms:
            asked = {d.UUIDString(): self._agents.submit(self._filesystems, name, d) for d in doms}
            fs = {uuid: future.result() for uuid, future in asked.items()}
        return _HostRead(name, readings, fs, unknown, self._monotonic() - started)

    # -- the sweep ---------------------------------------------------------------------------------------------------

    def sweep(self, *, ask_agents: bool, progress: Callable[[str, bool], None] | None = None) -> SweepResult:
        started_at = self.clock.now()
        results: dict[str, HostResult] = {}
        reads: list[_HostRead] = []
        running: dict[Future[_HostRead], str] = {}
        timeout = self.settings.host_timeout_s

        def finish(name: str, result: HostResult) -> None:
            results[name] = result
            if progress is not None:
                progress(name, result.ok)

        for name in self.links:
            earlier = self._busy.get(name)
            if earlier is not None and not earlier.done():
                finish(name, HostResult(name, ok=False, error=f"hypervisor {name}: still busy from an earlier sweep"))
                continue
            future = self._pool.submit(self._timed, name, ask_agents)
            self._busy[name] = future
            running[future] = name
        while running:
            done, _ = wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    read = future.result()
                except LibvirtAdapterError as exc:
                    finish(name, HostResult(name, ok=False, error=str(exc)))
                    continue
                reads.append(read)
                finish(name, HostResult(name, ok=True, domains=len(read.readings), duration_s=round(read.seconds, 3)))
            now = self._monotonic()
            for future, name in list(running.items()):
                began = self._started.get(name)  # a host's clock starts when a worker takes it, not in the queue
                if began is not None and now - began > timeout:
                    running.pop(future)
                    error = HostTimeoutError(f"hypervisor {name}: no answer within {timeout:g} s")
                    finish(name, HostResult(name, ok=False, duration_s=round(now - began, 3), error=str(error)))
        out: list[UsageSample] = []
        unknown: list[UnknownDomain] = []
        limit = dt.timedelta(seconds=self.settings.balloon_max_age_s)
        for read in reads:
            unknown.extend(read.unknown)
            for reading in read.readings:
                fs, fs_time = read.fs.get(reading.uuid, (None, reading.time))
                out.extend(
                    samples(
                        self.cloud,
                        self._previous.get(reading.uuid),
                        reading,
                        balloon_max_age=limit,
                        fs=fs,
                        fs_asked=ask_agents,
                        fs_time=fs_time,
                    )
                )
                self._previous[reading.uuid] = reading
        return SweepResult(
            cloud=self.cloud,
            started=started_at,
            finished=self.clock.now(),
            samples=tuple(out),
            hosts=tuple(results[name] for name in self.links if name in results),
            unknown_domains=tuple(unknown),
        )

    def _timed(self, name: str, ask_agents: bool) -> _HostRead:
        self._started[name] = self._monotonic()
        try:
            return self._read_host(name, ask_agents)
        except (ValueError, ET.ParseError) as exc:  # an answer we do not understand fails the host, not the sweep
            raise HostCallError(f"hypervisor {name}: unreadable answer: {str(exc)[:200]}") from exc
        finally:
            self._started.pop(name, None)

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._agents.shutdown(wait=False, cancel_futures=True)
