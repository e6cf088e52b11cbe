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
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    """Who a domain belongs to: the cloud's group (project) id, or None for a domain the cloud does not know; and
    the group's name where the metadata says it."""

    group_id: str | None
    name: str = ""


def owner_from_metadata(nova: str | None, ours: str | None) -> Owner:
    """The project from Nova's ``<nova:owner><nova:project uuid=…>``, else from ``<yunguan:resource group=…>``."""
    if nova:
        # libvirt hands the element back without its namespace; match by local name either way
        root = ET.fromstring(nova)  # noqa: S314 - our own hypervisor's metadata, not untrusted input
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] == "project" and element.get("uuid"):
                return Owner(element.get("uuid"), (element.text or "").strip())
        return Owner("")  # a Nova instance whose owner we cannot read: still the cloud's
    if ours:
        root = ET.fromstring(ours)  # noqa: S314 - ditto
        return Owner(root.get("group", ""), root.get("name", ""))
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
    groups: dict[str, str]


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
        # hosts are read on daemon threads, at most ``workers`` at once: a host that hangs for good keeps its thread
        # but neither its slot (given back at its timeout) nor the process (daemon threads do not block exit)
        self._slots = threading.Semaphore(settings.workers)
        self._agents = ThreadPoolExecutor(max_workers=settings.agent_workers, thread_name_prefix="guest-agent")
        self._owners: dict[tuple[str, str], Owner] = {}
        self._previous: dict[str, DomainReading] = {}
        self._busy: set[str] = set()
        self._started: dict[str, float] = {}
        self._released: set[str] = set()
        self._lock = threading.Lock()
        self._agent_timeout_set: set[tuple[str, str]] = set()
        self._no_agent: set[tuple[str, str]] = set()

    # -- one host ---------------------------------------------------------------------------------------------------

    def _owner(self, host: str, dom: Any) -> Owner:
        key = (host, dom.UUIDString())
        with self._lock:
            known = self._owners.get(key)
        if known is None:
            nova = _metadata(dom, NOVA_NS)
            known = owner_from_metadata(nova, None if nova else _metadata(dom, YUNGUAN_NS))
            with self._lock:
                self._owners[key] = known
        return known

    def _filesystems(self, host: str, dom: Any) -> tuple[Filesystems | None, dt.datetime]:
        key = (host, dom.UUIDString())
        if key in self._no_agent:
            return None, self.clock.now()
        try:
            if key not in self._agent_timeout_set:
                dom.agentSetResponseTimeout(self.settings.agent_timeout_s, 0)
                self._agent_timeout_set.add(key)
            info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                self._no_agent.add(key)  # the driver has no guest agent at all: do not ask again
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
            groups: dict[str, str] = {}
            doms: list[Any] = []
            for dom, stats in records:
                uuid = dom.UUIDString()
                owner = self._owner(name, dom)
                if owner.group_id is None:
                    unknown.append(UnknownDomain(host=name, uuid=uuid, name=dom.name()))
                elif owner.group_id and owner.name:
                    groups[owner.group_id] = owner.name
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
        return _HostRead(name, readings, fs, unknown, self._monotonic() - started, groups)

    # -- the sweep ---------------------------------------------------------------------------------------------------

    def sweep(self, *, ask_agents: bool, progress: Callable[[str, bool], None] | None = None) -> SweepResult:
        started_at = self.clock.now()
        results: dict[str, HostResult] = {}
        reads: list[_HostRead] = []
        timeout = self.settings.host_timeout_s
        answers: queue.Queue[tuple[str, _HostRead | LibvirtAdapterError]] = queue.Queue()

        def finish(name: str, result: HostResult) -> None:
            results[name] = result
            if progress is not None:
                progress(name, result.ok)

        running: set[str] = set()
        for name in self.links:
            if name in self._busy:
                finish(name, HostResult(name, ok=False, error=f"hypervisor {name}: still busy from an earlier sweep"))
                continue
            self._busy.add(name)
            running.add(name)
            threading.Thread(
                target=self._work, args=(name, ask_agents, answers), name=f"sweep-{name}", daemon=True
            ).start()
        while running:
            try:
                name, answer = answers.get(timeout=0.05)
            except queue.Empty:
                pass
            else:
                if name in running:
                    running.discard(name)
                    if isinstance(answer, LibvirtAdapterError):
                        finish(name, HostResult(name, ok=False, error=str(answer)))
                    else:
                        reads.append(answer)
                        seconds = round(answer.seconds, 3)
                        finish(name, HostResult(name, ok=True, domains=len(answer.readings), duration_s=seconds))
            now = self._monotonic()
            for name in list(running):
                began = self._started.get(name)  # a host's clock starts when it gets a slot, not while it waits
                if began is not None and now - began > timeout:
                    running.discard(name)
                    self._give_back(name)
                    error = HostTimeoutError(f"hypervisor {name}: no answer within {timeout:g} s")
                    finish(name, HostResult(name, ok=False, duration_s=round(now - began, 3), error=str(error)))
        out: list[UsageSample] = []
        unknown: list[UnknownDomain] = []
        groups: dict[str, str] = {}
        limit = dt.timedelta(seconds=self.settings.balloon_max_age_s)
        for read in reads:
            unknown.extend(read.unknown)
            groups.update(read.groups)
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
            groups=tuple(sorted(groups.items())),
        )

    def _give_back(self, name: str) -> None:
        """Return a host's worker slot once: at its timeout (by the sweep) or when its thread ends, whichever first."""
        with self._lock:
            if name in self._released:
                return
            self._released.add(name)
        self._slots.release()

    def _work(
        self, name: str, ask_agents: bool, answers: queue.Queue[tuple[str, _HostRead | LibvirtAdapterError]]
    ) -> None:
        self._slots.acquire()
        with self._lock:
            self._released.discard(name)
        self._started[name] = self._monotonic()
        try:
            answers.put((name, self._read_host(name, ask_agents)))
        except LibvirtAdapterError as exc:
            answers.put((name, exc))
        except (ValueError, ET.ParseError) as exc:  # an answer we do not understand fails the host, not the sweep
            answers.put((name, HostCallError(f"hypervisor {name}: unreadable answer: {str(exc)[:200]}")))
        finally:
            self._started.pop(name, None)
            self._give_back(name)
            self._busy.discard(name)

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self._agents.shutdown(wait=False, cancel_futures=True)
