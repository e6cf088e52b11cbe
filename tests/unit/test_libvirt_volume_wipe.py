"""The pure parts of the libvirt disk wipe: which ranges are read back, what zeros hash to, which disks a domain
has."""

from __future__ import annotations

import hashlib
import random
from typing import get_args

import pytest
from pydantic import ValidationError

from adapters.libvirt.volume_wipe import ALGORITHMS, MIB, sample_ranges, zero_sha256
from adapters.libvirt.wipe import disk_sources
from controlplane.config import HypervisorSettings


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - repeatable offsets on purpose; production uses SystemRandom


def test_ranges_cover_both_ends_and_random_middles() -> None:
    """The first and last MiB are always read, plus the asked number of 64 KiB ranges inside the volume."""
    size = 16 * MIB
    ranges = sample_ranges(size, seeded(7), count=16)
    assert (0, MIB) in ranges
    assert (size - MIB, MIB) in ranges
    middles = [r for r in ranges if r[1] == 64 * 1024]
    assert len(middles) == 16
    assert all(offset >= 0 and offset + length <= size for offset, length in ranges)
    assert ranges == sorted(ranges)


def test_ranges_of_a_small_volume_stay_inside_it() -> None:
    """A volume smaller than a MiB is read whole at both ends, and no range passes its end."""
    ranges = sample_ranges(1000, seeded(1), count=4)
    assert (0, 1000) in ranges
    assert all(offset + length <= 1000 for offset, length in ranges)
    assert sample_ranges(0, seeded(1)) == []


def test_ranges_follow_the_injected_random_source() -> None:
    """The same seed gives the same offsets, another seed others (so production offsets are unpredictable)."""
    assert sample_ranges(64 * MIB, seeded(3)) == sample_ranges(64 * MIB, seeded(3))
    assert sample_ranges(64 * MIB, seeded(3)) != sample_ranges(64 * MIB, seeded(4))


def test_zero_hash_matches_hashlib_over_zero_bytes() -> None:
    """The expected hash is that of as many zero bytes, also across the MiB chunking."""
    for length in (1, 64 * 1024, MIB, MIB + 5, 3 * MIB):
        assert zero_sha256(length) == hashlib.sha256(bytes(length)).hexdigest()


DOMAIN = """<domain type='qemu'><uuid>u</uuid><devices>
  <disk type='file' device='disk'><source file='/pool/a.qcow2'/><target dev='vda'/></disk>
  <disk type='block' device='disk'><source dev='/dev/vg/b'/><target dev='vdb'/></disk>
  <disk type='network' device='disk'><source protocol='rbd' name='vms/c'/><target dev='vdc'/></disk>
  <disk type='volume' device='disk'><source pool='p' volume='d'/><target dev='vdd'/></disk>
  <disk type='file' device='cdrom'><source file='/iso/config.iso'/><target dev='hda'/></disk>
  <disk type='file' device='disk'><target dev='vde'/></disk>
</devices></domain>"""


def test_disk_sources_lists_every_data_disk_and_no_cdrom() -> None:
    """Files, block devices, network and pool volumes are listed by their target; CD-ROMs and empty drives not."""
    assert disk_sources(DOMAIN) == [
        ("vda", "/pool/a.qcow2"),
        ("vdb", "/dev/vg/b"),
        ("vdc", "rbd:vms/c"),
        ("vdd", "volume:p/d"),
    ]


def test_configurable_algorithms_are_the_ones_the_adapter_knows() -> None:
    """hypervisors.wipe_algorithm accepts exactly the adapter's algorithms; another is refused naming the field."""
    field = HypervisorSettings.model_fields["wipe_algorithm"]
    assert set(get_args(field.annotation)) == set(ALGORITHMS)
    assert HypervisorSettings().wipe_algorithm == "zero"
    assert HypervisorSettings(wipe_algorithm="nnsa").wipe_algorithm == "nnsa"
    with pytest.raises(ValidationError, match="wipe_algorithm"):
        HypervisorSettings(wipe_algorithm="shred")  # type: ignore[arg-type]
