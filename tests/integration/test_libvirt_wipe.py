"""The libvirt disk wipe against the real local libvirtd: a ``dir`` pool volume full of random bytes is overwritten
by ``wipePattern`` and read back through the stream API (over qemu+tls, as a remote hypervisor is reached), and the
whole file is zero afterwards; a server's domain is found by its UUID and its pool disk listed and wiped."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from adapters.libvirt.links import ensure_event_loop
from adapters.libvirt.volume_wipe import MIB, read_back
from adapters.libvirt.wipe import LibvirtDiskWiper, wipe_volume
from controlplane.clock import FixedClock
from controlplane.config import CloudSettings, HypervisorHost, HypervisorSettings
from controlplane.termination import ports
from controlplane.termination.ports import Category, Method, TargetKind, WipeError

SIZE = 16 * MIB
CLOCK = FixedClock(dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC))


@pytest.fixture
def conn(libvirtd: Path) -> Iterator[Any]:  # noqa: ARG001 - needs it running
    ensure_event_loop()
    connection = libvirt.open("qemu:///system")
    yield connection
    connection.close()


@pytest.fixture
def pool(conn: Any, tmp_path: Path) -> Iterator[Any]:
    """A ``dir`` pool of the test's own under its tmp dir, destroyed and undefined afterwards."""
    target = tmp_path / "pool"
    target.mkdir()
    name = f"yg-wipe-{uuid.uuid4().hex[:8]}"
    xml = f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>"
    defined = conn.storagePoolDefineXML(xml, 0)
    defined.create(0)
    yield defined
    for vol in defined.listAllVolumes(0):
        vol.delete(0)
    defined.destroy()
    defined.undefine()


def random_volume(conn: Any, pool: Any, name: str) -> Any:
    """A raw volume of SIZE bytes filled with random data through an upload stream."""
    xml = (
        f"<volume><name>{name}</name><capacity unit='bytes'>{SIZE}</capacity>"
        "<target><format type='raw'/></target></volume>"
    )
    vol = pool.createXML(xml, 0)
    stream = conn.newStream(0)
    vol.upload(stream, 0, SIZE, 0)
    data = os.urandom(SIZE)
    for start in range(0, SIZE, MIB):
        stream.send(data[start : start + MIB])
    stream.finish()
    assert Path(vol.path()).read_bytes() == data
    return vol


def tls_uri(pki: Path) -> str:
    return f"qemu+tls://127.0.0.1/system?pkipath={pki}"


def test_random_volume_is_zero_after_the_wipe_and_verified(conn: Any, pool: Any, libvirtd: Path) -> None:
    """wipePattern zero over TLS, then 16 random 64 KiB ranges and both end MiBs read back as zeros; the whole file is
    zero on disk; a second wipe is as good; the read-back fails on a volume that was not wiped."""
    vol = random_volume(conn, pool, "data.raw")
    with pytest.raises(WipeError, match=r"volume data.raw of pool .*not zero at offset 0"):
        read_back(conn, vol, f"volume data.raw of pool {pool.name()}", random.SystemRandom())
    remote = libvirt.open(tls_uri(libvirtd))
    try:
        outcome = wipe_volume(remote, pool.name(), "data.raw", CLOCK)
        again = wipe_volume(remote, pool.name(), "data.raw", CLOCK)
    finally:
        remote.close()
    assert (outcome.method, outcome.category, outcome.verified) == (Method.OVERWRITE_ZERO, Category.CLEAR, True)
    offsets = [(s.offset, s.length) for s in outcome.samples]
    assert (0, MIB) in offsets
    assert (SIZE - MIB, MIB) in offsets
    assert len(offsets) >= 17  # 16 random ranges (one may coincide with another) and the two ends
    assert all(s.sha256 == s.expected_sha256 for s in outcome.samples)
    assert Path(vol.path()).read_bytes() == bytes(SIZE)
    assert again.verified
    assert not again.already_gone


def test_pattern_wipe_runs_scrub_then_zeros(conn: Any, pool: Any) -> None:
    """A scrub pattern (NNSA) is written by the host's scrub, then a zero pass makes it verifiable."""
    vol = random_volume(conn, pool, "pattern.raw")
    outcome = wipe_volume(conn, pool.name(), "pattern.raw", CLOCK, algorithm="nnsa", samples=4)
    assert (outcome.method, outcome.category, outcome.verified) == (Method.OVERWRITE_PATTERN, Category.CLEAR, True)
    assert "nnsa" in outcome.detail
    assert Path(vol.path()).read_bytes() == bytes(SIZE)


def test_missing_volume_is_already_gone_and_bad_algorithm_refused(conn: Any, pool: Any) -> None:
    """A volume that does not exist is reported gone with nothing done; an unknown algorithm is named."""
    outcome = wipe_volume(conn, pool.name(), "never.raw", CLOCK)
    assert outcome.already_gone
    assert not outcome.verified
    with pytest.raises(WipeError, match="algorithm 'shred' unknown"):
        wipe_volume(conn, pool.name(), "never.raw", CLOCK, algorithm="shred")


def test_server_disks_found_by_domain_uuid_and_wiped(conn: Any, pool: Any, libvirtd: Path, tmp_path: Path) -> None:
    """A (defined, stopped) domain named by a server's UUID: its pool disk is listed with pool, volume and host, its
    plain-file disk is listed too and its wipe refused; the pool disk is wiped; a started domain's is refused."""
    vol = random_volume(conn, pool, "root.raw")
    stray = tmp_path / "stray.raw"
    stray.write_bytes(b"\1" * 4096)
    server = str(uuid.uuid4())
    project = uuid.uuid4().hex
    xml = f"""<domain type='qemu'><name>yg-wipe-{server[:8]}</name><uuid>{server}</uuid>
      <metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
        <nova:owner><nova:project uuid="{project}">sys-a</nova:project></nova:owner></nova:instance></metadata>
      <memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{vol.path()}'/>
          <target dev='vda' bus='virtio'/></disk>
        <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{stray}'/>
          <target dev='vdb' bus='virtio'/></disk>
      </devices></domain>"""
    dom = conn.defineXML(xml)
    host = HypervisorHost(name="dev", uri=tls_uri(libvirtd))
    cloud = CloudSettings(
        name="os-dev", kind="openstack", vendor="v", zone="internet", hypervisors=HypervisorSettings(hosts=(host,))
    )
    wiper = ports.open_disk_wiper(cloud, CLOCK)  # through the entry point, as termination opens it
    assert isinstance(wiper, LibvirtDiskWiper)
    try:
        assert wiper.server_disks(str(uuid.uuid4())) == []
        disks = {d.name: d for d in wiper.server_disks(server)}
        assert set(disks) == {"root.raw", "vdb"}
        root = disks["root.raw"]
        assert root.kind is TargetKind.SERVER_DISK
        assert (root.group, root.size_bytes, root.phase) == (project, SIZE, 0)
        assert root.attributes["pool"] == pool.name()
        assert (root.attributes["volume"], root.attributes["host"], root.attributes["server"]) == (
            "root.raw",
            "dev",
            server,
        )
        with pytest.raises(WipeError, match=r"vdb of server .* is in no libvirt storage pool"):
            wiper.wipe(disks["vdb"])
        outcome = wiper.wipe(root)
        assert outcome.verified
        assert outcome.target == root
        assert Path(vol.path()).read_bytes() == bytes(SIZE)
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)  # running for libvirt, no guest CPU spent
        try:
            with pytest.raises(WipeError, match="is running on dev: stop it"):
                wiper.wipe(root)
        finally:
            dom.destroy()
    finally:
        wiper.close()
        dom.undefine()
