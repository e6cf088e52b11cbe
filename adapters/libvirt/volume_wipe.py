"""Overwrite one libvirt storage volume and prove it by reading it back.

``virStorageVol.wipePattern`` does the overwrite on the host: zeros (libvirt writes them itself), or one of scrub's
patterns (NNSA, DoD, BSI, Gutmann, ...: libvirt runs Debian's ``scrub``, which must be installed on the host). A
pattern leaves bytes nobody can predict, so a pattern wipe is followed by a zero pass: then every wipe, whatever its
algorithm, can be verified the same way.

The verification reads ranges back through the stream API (``vol.download``): the first and the last MiB and
``count`` ranges of 64 KiB at random offsets, each hashed and compared with the hash of as many zero bytes. Offsets
come from an injected random source (the system's by default, so nobody can predict which ranges are read). A
mismatch is a ``WipeError`` naming the volume and the offset; the outcome carries every sample for the certificate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

import libvirt

from adapters.libvirt.errors import describe
from controlplane.clock import Clock
from controlplane.termination.ports import Category, Method, Sample, TargetKind, WipeError, WipeOutcome, WipeTarget

MIB = 1024 * 1024
SAMPLE_BYTES = 64 * 1024
SAMPLE_COUNT = 16

ALGORITHMS: Mapping[str, int] = {
    "zero": libvirt.VIR_STORAGE_VOL_WIPE_ALG_ZERO,
    "nnsa": libvirt.VIR_STORAGE_VOL_WIPE_ALG_NNSA,
    "dod": libvirt.VIR_STORAGE_VOL_WIPE_ALG_DOD,
    "bsi": libvirt.VIR_STORAGE_VOL_WIPE_ALG_BSI,
    "gutmann": libvirt.VIR_STORAGE_VOL_WIPE_ALG_GUTMANN,
    "schneier": libvirt.VIR_STORAGE_VOL_WIPE_ALG_SCHNEIER,
    "pfitzner7": libvirt.VIR_STORAGE_VOL_WIPE_ALG_PFITZNER7,
    "pfitzner33": libvirt.VIR_STORAGE_VOL_WIPE_ALG_PFITZNER33,
    "random": libvirt.VIR_STORAGE_VOL_WIPE_ALG_RANDOM,
}


def sample_ranges(
    size: int, rng: random.Random, *, count: int = SAMPLE_COUNT, length: int = SAMPLE_BYTES, edge: int = MIB
) -> list[tuple[int, int]]:
    """(offset, length) ranges to read back from a volume of ``size`` bytes: the first and the last ``edge`` bytes,
    then ``count`` ranges of ``length`` at random offsets, sorted and without duplicates."""
    if size <= 0:
        return []
    head = min(edge, size)
    ranges = {(0, head), (size - head, head)}
    span = min(length, size)
    for _ in range(count):
        ranges.add((rng.randrange(0, size - span + 1), span))
    return sorted(ranges)


def zero_sha256(length: int) -> str:
    digest = hashlib.sha256()
    chunk = bytes(min(length, MIB))
    left = length
    while left > 0:
        digest.update(chunk[: min(left, len(chunk))])
        left -= len(chunk)
    return digest.hexdigest()


def read_sha256(conn: Any, vol: Any, offset: int, length: int) -> str:
    """SHA-256 of ``length`` bytes of the volume from ``offset``, streamed from the host (never held whole)."""
    digest = hashlib.sha256()
    got = 0

    def sink(_stream: Any, data: bytes, _opaque: object) -> int:
        nonlocal got
        digest.update(data)
        got += len(data)
        return len(data)

    stream = conn.newStream(0)
    vol.download(stream, offset, length, 0)
    stream.recvAll(sink, None)
    stream.finish()
    if got != length:
        raise WipeError(f"volume {vol.path()}: read {got} of {length} bytes at offset {offset}")
    return digest.hexdigest()


def volume_size(vol: Any) -> int:
    """The bytes the file or device really holds (physical), which is what the stream reads; else the capacity."""
    try:
        _kind, capacity, physical = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)
    except libvirt.libvirtError:
        _kind, capacity, physical = vol.info()
        return int(capacity)
    return int(physical or capacity)


def read_back(conn: Any, vol: Any, name: str, rng: random.Random, *, count: int = SAMPLE_COUNT) -> tuple[Sample, ...]:
    """Hash the sampled ranges of the volume; a range that is not all zeros is a ``WipeError`` naming the offset."""
    size = volume_size(vol)
    found = tuple(
        Sample(
            offset=offset,
            length=length,
            sha256=read_sha256(conn, vol, offset, length),
            expected_sha256=zero_sha256(length),
        )
        for offset, length in sample_ranges(size, rng, count=count)
    )
    wrong = [s.offset for s in found if s.sha256 != s.expected_sha256]
    if wrong:
        shown = ", ".join(str(o) for o in wrong[:5]) + (" …" if len(wrong) > 5 else "")
        raise WipeError(f"{name} ({vol.path()}): not zero at offset {shown} ({len(wrong)} of {len(found)} ranges)")
    return found


def wipe_volume(
    conn: Any,
    pool_name: str,
    vol_name: str,
    clock: Clock,
    *,
    algorithm: str = "zero",
    samples: int = SAMPLE_COUNT,
    rng: random.Random | None = None,
    target: WipeTarget | None = None,
) -> WipeOutcome:
    """Overwrite the volume ``vol_name`` of pool ``pool_name`` (zeros, or a scrub pattern then zeros) and verify
    sampled ranges read back as zeros. A volume that no longer exists: an ``already_gone`` outcome, nothing done."""
    if algorithm not in ALGORITHMS:
        raise WipeError(f"wipe algorithm {algorithm!r} unknown: one of {', '.join(ALGORITHMS)}")
    method = Method.OVERWRITE_ZERO if algorithm == "zero" else Method.OVERWRITE_PATTERN
    started = clock.now()
    try:
        vol = conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in {libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL}:
            gone = target or WipeTarget(cloud="", kind=TargetKind.SERVER_DISK, id=f"{pool_name}/{vol_name}")
            return WipeOutcome(
                target=gone,
                method=method,
                category=Category.NONE,
                started=started,
                ended=clock.now(),
                verified=False,
                already_gone=True,
                detail=f"volume {vol_name} of pool {pool_name} no longer exists: nothing overwritten",
            )
        raise WipeError(f"volume {vol_name} of pool {pool_name}: lookup failed: {describe(exc)}") from exc
    name = f"volume {vol_name} of pool {pool_name}"
    try:
        path = vol.path()
        if target is None:
            target = WipeTarget(
                cloud="",
                kind=TargetKind.SERVER_DISK,
                id=vol.key(),
                name=vol_name,
                size_bytes=volume_size(vol),
                attributes={"pool": pool_name, "path": path},
            )
        if algorithm != "zero":
            vol.wipePattern(ALGORITHMS[algorithm], 0)
        vol.wipePattern(libvirt.VIR_STORAGE_VOL_WIPE_ALG_ZERO, 0)
        found = read_back(conn, vol, name, rng or random.SystemRandom(), count=samples)
    except libvirt.libvirtError as exc:
        raise WipeError(f"{name}: wipe ({algorithm}) failed: {describe(exc)}") from exc
    detail = f"{len(found)} sampled ranges (first and last MiB, {samples} random) read back as zeros"
    if algorithm != "zero":
        detail = f"scrub {algorithm} pattern, then a zero pass; {detail}"
    return WipeOutcome(
        target=target,
        method=method,
        category=Category.CLEAR,
        started=started,
        ended=clock.now(),
        verified=True,
        samples=found,
        detail=detail,
    )
