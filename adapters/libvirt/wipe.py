"""The ``yunguan.disk_wipers`` entry ``libvirt``: a server's own disks overwritten on its hypervisor before the cloud
deletes the server.

Nova names a domain's UUID after the server id, so the server's domain is looked up by UUID on every hypervisor of
the cloud (the configured ones, then those the cloud lists, as the usage sweep finds them). Each disk of the domain
becomes a target; a disk that is a libvirt storage volume (``storageVolLookupByPath``) is wiped and read back by
``wipe_volume``. A disk that is not in any storage pool (a bare file, a network disk) is still listed, so it is never
skipped in silence, and its wipe is refused with the reason: libvirt cannot overwrite what no pool holds.

A domain still running is not wiped (its guest would go on writing, and would crash on a zeroed disk): the server
must be stopped first. A hypervisor that cannot be reached makes ``server_disks`` fail rather than answer "no disks":
the domain may be on that host.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import libvirt

from adapters.libvirt.collector import NOVA_NS, YUNGUAN_NS, _metadata, owner_from_metadata
from adapters.libvirt.errors import LibvirtAdapterError, describe, shown_uri
from adapters.libvirt.links import Credentials, HostLink, ensure_event_loop
from adapters.libvirt.volume_wipe import SAMPLE_COUNT, volume_size, wipe_volume
from controlplane.clock import Clock
from controlplane.config import CloudSettings, HypervisorHost, HypervisorSettings
from controlplane.termination.ports import TargetKind, WipeError, WipeOutcome, WipeTarget
from controlplane.usage_collect import plan_hosts

__all__ = ["LibvirtDiskWiper", "open_disk_wiper", "wipe_volume"]


def disk_sources(domain_xml: str) -> list[tuple[str, str]]:
    """(target dev, source) of the domain's disks (CD-ROMs and floppies left out): the file or block device path,
    ``volume:POOL/VOLUME`` of a pool volume named as such, or ``PROTOCOL:NAME`` of a network disk."""
    root = ET.fromstring(domain_xml)  # noqa: S314 - the hypervisor's own domain description
    found: list[tuple[str, str]] = []
    for disk in root.iterfind("./devices/disk"):
        if disk.get("device", "disk") != "disk":
            continue
        source = disk.find("source")
        target = disk.find("target")
        dev = target.get("dev", "") if target is not None else ""
        if source is None:
            continue  # an empty drive holds nothing
        where = source.get("file") or source.get("dev")
        if where is None and source.get("volume"):
            where = f"volume:{source.get('pool', '')}/{source.get('volume')}"
        if where is None and source.get("protocol"):
            where = f"{source.get('protocol')}:{source.get('name', '')}"
        if where:
            found.append((dev, where))
    return found


class LibvirtDiskWiper:
    """Finds and wipes the storage volumes behind servers on the cloud's hypervisors."""

    def __init__(
        self,
        cloud: str,
        hosts: list[HypervisorHost] | Callable[[], list[HypervisorHost]],
        settings: HypervisorSettings,
        clock: Clock,
        *,
        algorithm: str = "zero",
        samples: int = SAMPLE_COUNT,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        ensure_event_loop()
        self.cloud = cloud
        self.clock = clock
        self.algorithm = algorithm
        self.samples = samples
        self.rng = rng
        self._hosts = hosts
        self._settings = settings
        self._monotonic = monotonic
        self._links: dict[str, HostLink] | None = None

    @property
    def links(self) -> dict[str, HostLink]:
        if self._links is None:
            hosts = self._hosts() if callable(self._hosts) else self._hosts
            s = self._settings
            credentials = Credentials(s.username, s.passphrase_file) if s.username else None
            self._links = {
                h.name: HostLink(
                    h.name,
                    h.uri,
                    self._monotonic,
                    credentials=credentials,
                    keepalive=(s.keepalive_interval_s, s.keepalive_count),
                    backoff=(min(5.0, s.reconnect_max_s), s.reconnect_max_s),
                )
                for h in hosts
            }
        return self._links

    def _conn(self, host: str) -> Any:
        link = self.links.get(host)
        if link is None:
            raise WipeError(f"cloud {self.cloud}: hypervisor {host} is not one of its hosts")
        try:
            return link.get()
        except LibvirtAdapterError as exc:
            raise WipeError(f"cloud {self.cloud}: {exc}") from exc

    def server_disks(self, server_id: str) -> list[WipeTarget]:
        found: list[WipeTarget] = []
        for host, link in self.links.items():
            conn = self._conn(host)
            try:
                try:
                    dom = conn.lookupByUUIDString(server_id)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        continue
                    raise
                nova = _metadata(dom, NOVA_NS)
                owner = owner_from_metadata(nova, None if nova else _metadata(dom, YUNGUAN_NS))
                for dev, source in disk_sources(dom.XMLDesc(0)):
                    found.append(
                        self._disk(conn, host, server_id=server_id, group=owner.group_id or "", dev=dev, source=source)
                    )
            except libvirt.libvirtError as exc:
                link.broken(describe(exc))
                raise WipeError(
                    f"hypervisor {host} ({shown_uri(link.uri)}): disks of server {server_id}: {describe(exc)}"
                ) from exc
        return found

    def _disk(self, conn: Any, host: str, *, server_id: str, group: str, dev: str, source: str) -> WipeTarget:
        attributes = {"host": host, "server": server_id, "device": dev, "path": source}
        try:
            if source.startswith("volume:"):
                pool_name, _, vol_name = source.removeprefix("volume:").partition("/")
                vol = conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name)
            else:
                vol = conn.storageVolLookupByPath(source)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in {libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL}:
                raise
            return WipeTarget(
                cloud=self.cloud,
                kind=TargetKind.SERVER_DISK,
                id=f"{host}:{source}",
                name=dev,
                group=group,
                phase=0,
                attributes=attributes | {"pool": "", "volume": ""},
            )
        pool = vol.storagePoolLookupByVolume()
        return WipeTarget(
            cloud=self.cloud,
            kind=TargetKind.SERVER_DISK,
            id=f"{host}:{vol.key()}",
            name=vol.name(),
            group=group,
            size_bytes=volume_size(vol),
            phase=0,
            attributes=attributes | {"pool": pool.name(), "volume": vol.name()},
        )

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        a = target.attributes
        host, server = a.get("host", ""), a.get("server", "")
        if not a.get("volume"):
            raise WipeError(
                f"disk {a.get('device', '?')} of server {server} on {host} ({a.get('path', '?')}) is in no libvirt "
                "storage pool: libvirt cannot overwrite it; define a pool that holds it, or wipe it otherwise"
            )
        conn = self._conn(host)
        try:
            dom = conn.lookupByUUIDString(server) if server else None
            if dom is not None and dom.isActive():
                raise WipeError(f"server {server} is running on {host}: stop it before its disks are wiped")
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise WipeError(f"hypervisor {host}: state of server {server}: {describe(exc)}") from exc
        return wipe_volume(
            conn,
            a["pool"],
            a["volume"],
            self.clock,
            algorithm=self.algorithm,
            samples=self.samples,
            rng=self.rng,
            target=target,
        )

    def close(self) -> None:
        for link in (self._links or {}).values():
            link.close()


def open_disk_wiper(cloud: CloudSettings, clock: Clock) -> LibvirtDiskWiper:
    """The cloud's hypervisors as the usage sweep plans them (configured, then discovered), found on first use."""

    def hosts() -> list[HypervisorHost]:
        plan = plan_hosts(cloud, clock)
        if plan.problem:
            raise WipeError(f"cloud {cloud.name}: cannot list every hypervisor: {plan.problem}")
        return list(plan.hosts)

    settings = cloud.hypervisors or HypervisorSettings()
    return LibvirtDiskWiper(cloud.name, hosts, settings, clock, algorithm=settings.wipe_algorithm)
