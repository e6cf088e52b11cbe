"""The seam between termination and the clouds: what a system's footprint holds that must be wiped or reclaimed, and
the wipers adapters register to do it (``yunguan.wipers``, one per cloud kind; ``yunguan.disk_wipers`` for the
hypervisor side that overwrites a server's own disks before the cloud deletes it).

Categories follow NIST SP 800-88 Rev. 1 and are recorded honestly: an overwrite read back is ``clear``; deleting an
encrypted volume together with its key is ``purge`` (crypto-erase); a physical destruction or degauss with a
certificate is ``destroy``; a deletion whose clearing we cannot see (the backend's own clear setting, as the vendor
attests it) is ``attested``, the lowest assurance; deleting an object that holds no user data of its own (a server
record whose disks were wiped first, a namespace whose claims are gone) is ``none``.

Every wiper call is idempotent: ``wipe`` on a target already gone returns an outcome saying so and touches nothing,
and ``gone`` reads the cloud back so a crash between "intent logged" and "result logged" is finished without acting
a second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import Field

from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.domain import Frozen


class TargetKind(StrEnum):
    SERVER = "server"
    SERVER_STOP = "server-stop"  # a server stopped through its cloud so its disks can be wiped (hypervisor side)
    SERVER_DISK = "server-disk"  # a libvirt storage volume backing a server (hypervisor side)
    VOLUME = "volume"
    SNAPSHOT = "snapshot"  # volume snapshot
    IMAGE = "image"  # images owned by the project (server snapshots land here)
    BACKUP = "backup"
    PVC = "pvc"
    PERSISTENT_VOLUME = "persistent-volume"
    NAMESPACE = "namespace"
    EQUIPMENT = "equipment"


class Category(StrEnum):
    """NIST SP 800-88 sanitization category actually achieved."""

    CLEAR = "clear"
    PURGE = "purge"
    DESTROY = "destroy"
    ATTESTED = "attested"  # the vendor's word only: lower assurance, recorded as such
    NONE = "none"  # no user data of its own (deleted after its data was wiped)


class Method(StrEnum):
    OVERWRITE_ZERO = "overwrite-zero"
    OVERWRITE_PATTERN = "overwrite-pattern"  # libvirt wipePattern with scrub's patterns (NNSA, DoD, ...)
    CRYPTO_ERASE = "crypto-erase"  # encrypted volume deleted with its key
    BACKEND_CLEAR = "backend-clear"  # the storage backend's own clear setting (e.g. Cinder volume_clear), attested
    WIPE_JOB = "wipe-job"  # a Kubernetes Job overwrote the claim and read samples back
    STOP = "stop"  # a server stopped (no data changed): its disks are wiped next, then it is deleted
    DELETE = "delete"  # plain deletion of an object without data of its own
    DEGAUSS = "degauss"  # hosted equipment: the vendor's degauss or destruction certificate, operator-confirmed
    DESTRUCTION = "destruction"


class WipeTarget(Frozen):
    cloud: str
    kind: TargetKind
    id: str = Field(description="cloud id (server/volume/image id, 'namespace/claim', PV name, equipment serial)")
    name: str = ""
    group: str = Field(default="", description="the footprint item it belongs to: project id, namespace, serial")
    size_bytes: int = Field(default=0, ge=0)
    phase: int = Field(
        default=0,
        description="order inside one cloud: lower first (e.g. servers' disks 0, servers 1, snapshots 2, "
        "volumes 3, images/backups 4, PVC wipe 0, PVC 1, PV 2, namespace 3)",
    )
    attributes: dict[str, str] = Field(default_factory=dict, description="e.g. encrypted, volume_type, pool, host")


class Sample(Frozen):
    """One read-back verification sample: the bytes at ``offset`` hashed after the wipe."""

    offset: int = Field(ge=0)
    length: int = Field(ge=1)
    sha256: str
    expected_sha256: str


class WipeOutcome(Frozen):
    target: WipeTarget
    method: Method
    category: Category
    started: dt.datetime
    ended: dt.datetime
    verified: bool = Field(description="read-back samples all matched (False where no read-back is possible)")
    samples: tuple[Sample, ...] = ()
    already_gone: bool = False
    detail: str = ""


class FootprintListing(Frozen):
    """What the cloud holds for the given groups. ``complete`` False (a listing failed or timed out) means the plan
    must not be trusted: termination refuses to run on it and says why."""

    targets: tuple[WipeTarget, ...]
    complete: bool
    reason: str = ""
    resolved: dict[str, str] = Field(
        default_factory=dict,
        description="footprint ref as asked -> the group id its targets carry, where they differ (an OpenStack "
        "project asked by name, its targets' group its id); termination accepts a target only when its group is "
        "an asked ref or the id one resolved to",
    )


@runtime_checkable
class Wiper(Protocol):
    def footprint(self, groups: Sequence[str]) -> FootprintListing:
        """Everything the cloud holds in these projects/namespaces, ordered by phase."""
        ...

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        """Sanitize and remove the target. Already gone: an outcome with ``already_gone`` and nothing touched.
        Raises ``WipeError`` when the cloud refuses or verification fails."""
        ...

    def gone(self, target: WipeTarget) -> bool:
        """Read back: the target no longer exists (``server-stop``: the server is stopped or gone)."""
        ...


@runtime_checkable
class DiskWiper(Protocol):
    def server_disks(self, server_id: str) -> list[WipeTarget]:
        """The hypervisor storage volumes backing the server (its libvirt domain's disks), empty where the domain is
        on no configured hypervisor."""
        ...

    def wipe(self, target: WipeTarget) -> WipeOutcome: ...


class WipeError(Exception):
    """A wipe refused or not verified; the message names the target and the cloud's answer."""


WIPERS = "yunguan.wipers"
DISK_WIPERS = "yunguan.disk_wipers"


def open_wiper(cloud: CloudSettings, clock: Clock) -> Wiper:
    found = [ep for ep in entry_points(group=WIPERS) if ep.name == cloud.kind.value]
    if not found:
        raise WipeError(f"cloud {cloud.name!r}: no wiper is installed for kind {cloud.kind.value!r}")
    wiper: Wiper = found[0].load()(cloud, clock)
    return wiper


def open_disk_wiper(cloud: CloudSettings, clock: Clock) -> DiskWiper | None:
    """The hypervisor disk wiper for a cloud with ``hypervisors`` configured, else None."""
    if cloud.hypervisors is None:
        return None
    found = [ep for ep in entry_points(group=DISK_WIPERS) if ep.name == "libvirt"]
    if not found:
        raise WipeError(f"cloud {cloud.name!r}: no disk wiper is installed for its libvirt hypervisors")
    wiper: DiskWiper = found[0].load()(cloud, clock)
    return wiper
