"""From libvirt's counters to utilization, exactly as the recipe proves them (../shared/recipes/libvirt.md).

Pure functions over plain dicts (the ``getAllDomainStats`` record of one domain), so the maths is tested on recorded
real data and never needs a hypervisor:

- CPU % of the allocated vCPUs = Δ``cpu.time`` / (Δt × 1e9 × ``vcpu.current``); a negative delta or another domain
  id (the domain restarted) drops the pair — no figure rather than a wrong one. CPU wait % = Σ Δ``vcpu.N.delay`` on
  the same scale: time the vCPUs were ready but got no host CPU (an oversubscribed host; the guest counts it busy).
- Memory % = (``balloon.available`` − ``balloon.usable``) / ``balloon.available`` (the guest's MemTotal and
  MemAvailable through the virtio balloon); a reading whose ``balloon.last-update`` is older than the allowed age
  is stale (the guest stopped reporting) and gives a ``missing`` sample. Without balloon statistics only
  ``rss``/``current`` exist: an ``estimated`` figure, labelled so.
- Disk %: the guest agent's filesystems (used / total, what ``df`` says) are a measurement; without an agent the
  host-side physical/capacity of the disk images says only how much was ever written: ``estimated``, source
  ``libvirt-allocated``.
- Disk and network bytes/s: Δbytes / Δt summed over devices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controlplane.usage import Quality, UsageSample

KIB = 1024
HUNDRED = Decimal(100)
SOURCE = "libvirt"
SOURCE_AGENT = "libvirt-guest-agent"
SOURCE_ALLOCATED = "libvirt-allocated"


@dataclass(frozen=True)
class DomainReading:
    """One domain's bulk statistics, taken at ``time`` (the middle of the call) on ``host``."""

    host: str
    uuid: str
    name: str
    domain_id: int
    time: dt.datetime
    stats: Mapping[str, Any]
    group_id: str = ""


@dataclass(frozen=True)
class Filesystems:
    """The guest agent's filesystem answer for one domain (``fs.N.used-bytes`` / ``fs.N.total-bytes``)."""

    used_bytes: int
    total_bytes: int


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return min(HUNDRED, max(Decimal(0), part / whole * HUNDRED)).quantize(Decimal("0.01"))


def _seconds(a: dt.datetime, b: dt.datetime) -> Decimal:
    return Decimal(str((b - a).total_seconds()))


def _indexed_sum(stats: Mapping[str, Any], prefix: str, key: str) -> int | None:
    """Sum of ``prefix.N.key`` over ``prefix.count`` devices; None when the group was not reported."""
    count = stats.get(f"{prefix}.count")
    if count is None:
        return None
    values = [stats.get(f"{prefix}.{i}.{key}") for i in range(int(count))]
    return sum(int(v) for v in values if v is not None)


def filesystems(info: Mapping[str, Any]) -> Filesystems | None:
    """The guest agent's ``guestInfo(FILESYSTEM)`` answer summed over its filesystems. An empty answer is what a hung
    agent gives on its first call — not "no filesystems" — so it is None, like an error."""
    count = info.get("fs.count")
    if count is None:
        return None
    used = total = 0
    for i in range(int(count)):
        u, t = info.get(f"fs.{i}.used-bytes"), info.get(f"fs.{i}.total-bytes")
        if u is None or t is None:
            continue
        used += int(u)
        total += int(t)
    return Filesystems(used, total) if total > 0 else None


class _Out:
    def __init__(self, cloud: str, reading: DomainReading) -> None:
        self.cloud, self.reading = cloud, reading
        self.samples: list[UsageSample] = []

    def add(
        self,
        metric: str,
        value: Decimal | int | None,
        quality: Quality = Quality.MEASURED,
        source: str = SOURCE,
        time: dt.datetime | None = None,
    ) -> None:
        r = self.reading
        self.samples.append(
            UsageSample(
                cloud=self.cloud,
                scope_kind="server",
                scope_id=r.uuid,
                metric=metric,
                value=None if value is None else Decimal(value),
                time=time or r.time,
                source=source,
                quality=Quality.MISSING if value is None else quality,
                group_id=r.group_id,
                host=r.host,
            )
        )


def cpu(out: _Out, prev: DomainReading | None, cur: DomainReading) -> None:
    vcpus = cur.stats.get("vcpu.current")
    if vcpus:
        out.add("vcpus", int(vcpus))
    if prev is None or not vcpus:
        return
    if prev.domain_id != cur.domain_id:
        return  # restarted between the readings: the counter began again
    t0, t1 = prev.stats.get("cpu.time"), cur.stats.get("cpu.time")
    seconds = _seconds(prev.time, cur.time)
    if t0 is None or t1 is None or seconds <= 0 or int(t1) < int(t0):
        return
    cores = Decimal(int(t1) - int(t0)) / (seconds * Decimal(10**9))
    out.add("cpu_cores", cores.quantize(Decimal("0.0001")))
    out.add("cpu_percent", _pct(cores, Decimal(int(vcpus))))
    delay0, delay1 = _vcpu_delay(prev.stats, int(vcpus)), _vcpu_delay(cur.stats, int(vcpus))
    if delay0 is not None and delay1 is not None and delay1 >= delay0:
        waited = Decimal(delay1 - delay0) / (seconds * Decimal(10**9))
        out.add("cpu_wait_percent", _pct(waited, Decimal(int(vcpus))))


def _vcpu_delay(stats: Mapping[str, Any], vcpus: int) -> int | None:
    """Σ ``vcpu.N.delay``: time the guest's vCPUs were ready to run but waited for a host CPU (the host is
    oversubscribed; the guest counts that time as its own, the host does not)."""
    values = [stats.get(f"vcpu.{i}.delay") for i in range(vcpus)]
    if any(v is None for v in values):
        return None
    return sum(int(v) for v in values if v is not None)


def memory(out: _Out, cur: DomainReading, max_age: dt.timedelta) -> None:
    s = cur.stats
    available, usable = s.get("balloon.available"), s.get("balloon.usable")
    if available is not None and usable is not None and int(available) > 0:
        updated = s.get("balloon.last-update")
        fresh = updated is not None and cur.time - dt.datetime.fromtimestamp(int(updated), dt.UTC) <= max_age
        total = int(available) * KIB
        out.add("memory_total_bytes", total)
        if not fresh:  # the guest stopped reporting (no driver, no stats period, hung): a frozen figure is no figure
            out.add("memory_percent", None)
            out.add("memory_bytes", None)
            return
        used = (int(available) - int(usable)) * KIB
        out.add("memory_bytes", used)
        out.add("memory_percent", _pct(Decimal(used), Decimal(total)))
        return
    current, rss = s.get("balloon.current"), s.get("balloon.rss")
    if current and rss is not None:  # host-side only: what QEMU holds, not what the guest uses
        out.add("memory_total_bytes", int(current) * KIB, Quality.ESTIMATED)
        out.add("memory_bytes", min(int(rss), int(current)) * KIB, Quality.ESTIMATED)
        out.add("memory_percent", _pct(Decimal(int(rss)), Decimal(int(current))), Quality.ESTIMATED)
    else:
        out.add("memory_percent", None)


def throughput(out: _Out, prev: DomainReading | None, cur: DomainReading) -> None:
    if prev is None or prev.domain_id != cur.domain_id:
        return
    seconds = _seconds(prev.time, cur.time)
    if seconds <= 0:
        return
    for metric, prefix, key in (
        ("disk_read_bytes_per_s", "block", "rd.bytes"),
        ("disk_write_bytes_per_s", "block", "wr.bytes"),
        ("net_rx_bytes_per_s", "net", "rx.bytes"),
        ("net_tx_bytes_per_s", "net", "tx.bytes"),
    ):
        a, b = _indexed_sum(prev.stats, prefix, key), _indexed_sum(cur.stats, prefix, key)
        if a is None or b is None or b < a or prev.stats.get(f"{prefix}.count") != cur.stats.get(f"{prefix}.count"):
            continue  # a device came or went, or a counter reset: no honest rate for this pair
        out.add(metric, (Decimal(b - a) / seconds).quantize(Decimal("0.01")))


def disk(out: _Out, cur: DomainReading, fs: Filesystems | None, fs_time: dt.datetime | None) -> None:
    """Disk use: the guest agent's figure when it answered, else the images' allocated share, labelled estimated."""
    if fs is not None:
        out.add("disk_used_bytes", fs.used_bytes, source=SOURCE_AGENT, time=fs_time)
        out.add("disk_total_bytes", fs.total_bytes, source=SOURCE_AGENT, time=fs_time)
        out.add(
            "disk_percent", _pct(Decimal(fs.used_bytes), Decimal(fs.total_bytes)), source=SOURCE_AGENT, time=fs_time
        )
        return
    s = cur.stats
    capacity = _indexed_sum(s, "block", "capacity")
    written = _indexed_sum(s, "block", "physical")
    if written is None or not any(f"block.{i}.physical" in s for i in range(int(s.get("block.count", 0)))):
        written = _indexed_sum(s, "block", "allocation")
    if not capacity or written is None:
        out.add("disk_percent", None, source=SOURCE_ALLOCATED)
        return
    out.add("disk_used_bytes", written, Quality.ESTIMATED, SOURCE_ALLOCATED)
    out.add("disk_total_bytes", capacity, Quality.ESTIMATED, SOURCE_ALLOCATED)
    out.add("disk_percent", _pct(Decimal(written), Decimal(capacity)), Quality.ESTIMATED, SOURCE_ALLOCATED)


def samples(
    cloud: str,
    prev: DomainReading | None,
    cur: DomainReading,
    *,
    balloon_max_age: dt.timedelta,
    fs: Filesystems | None = None,
    fs_asked: bool = False,
    fs_time: dt.datetime | None = None,
) -> list[UsageSample]:
    """Every sample one reading gives (rates need the previous reading of the same domain). Disk use is sampled only
    on sweeps that asked the guest agent (``fs_asked``), at the agent's lower cadence."""
    out = _Out(cloud, cur)
    cpu(out, prev, cur)
    memory(out, cur, balloon_max_age)
    throughput(out, prev, cur)
    if fs_asked:
        disk(out, cur, fs, fs_time or cur.time)
    return out.samples
