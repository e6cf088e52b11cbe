"""The OpenStack wiper against the real local OpenStack: a project's servers, volumes (one attached), volume snapshot,
images (its own, a hidden one, a server snapshot) are its footprint, exactly, and nothing of a project created
alongside; wiping them in phase order empties the project and leaves the other untouched; a failing listing gives
an incomplete footprint, never a partial plan."""

from __future__ import annotations

import io
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.openstack.inventory import connect
from adapters.openstack.wipe import OpenStackWiper
from controlplane.clock import SystemClock
from controlplane.config import CloudSettings
from controlplane.termination import ports
from controlplane.termination.ports import Category, FootprintListing, Method, TargetKind, WipeError, WipeTarget

CLOUD = "yunguan-local"


@dataclass
class Project:
    id: str
    name: str
    conn: Any
    made: dict[tuple[TargetKind, str], str] = field(default_factory=dict)  # (kind, id) -> name


@pytest.fixture(scope="module")
def admin(openstack_clouds: Path) -> Iterator[Any]:
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(openstack_clouds)
    conn = connect(CLOUD, connect_retries=3)  # the cleanup outlives keep-alive connections the services close
    yield conn
    conn.close()


def new_project(admin: Any, label: str) -> Project:
    """A fresh project of this run, with the admin user given the admin role in it (to create its resources)."""
    idn = admin.identity
    domain = idn.find_domain("default")
    name = f"it-wipe-{label}-{uuid.uuid4().hex[:6]}"
    project = idn.create_project(name=name, domain_id=domain.id, description="wiper integration test")
    idn.assign_project_role_to_user(project, idn.find_user("admin", domain_id=domain.id), idn.find_role("admin"))
    scoped = admin.connect_as_project({"id": project.id, "name": name, "domain_id": domain.id})
    return Project(project.id, name, scoped)


def image(p: Project, name: str, *, hidden: bool = False) -> Any:
    made = p.conn.image.create_image(
        name,
        data=io.BytesIO(b"\0" * 1024),
        disk_format="raw",
        container_format="bare",
        visibility="private",
        wait=True,
        timeout=120,
    )
    if hidden:
        made = p.conn.image.update_image(made, is_hidden=True)
    p.made[(TargetKind.IMAGE, made.id)] = name
    return made


def server(p: Project, name: str, image_id: str, flavor_id: str) -> Any:
    made = p.conn.compute.create_server(name=name, flavor_id=flavor_id, image_id=image_id, networks="none")
    made = p.conn.compute.wait_for_server(made, status="ACTIVE", failures=["ERROR"], interval=1, wait=300)
    p.made[(TargetKind.SERVER, made.id)] = name
    return made


def volume(p: Project, name: str, **extra: Any) -> Any:
    made = p.conn.block_storage.create_volume(name=name, size=1, **extra)
    p.made[(TargetKind.VOLUME, made.id)] = name
    return p.conn.block_storage.wait_for_status(made, status="available", failures=["error"], interval=1, wait=120)


def flavor(admin: Any) -> Any:
    return admin.compute.find_flavor("it.wipe") or admin.compute.create_flavor(
        name="it.wipe", vcpus=1, ram=512, disk=1, is_public=True
    )


def cleanup(admin: Any, p: Project) -> None:
    """Whatever the test left (it should leave nothing of the wiped project), then the project."""
    for s in admin.compute.servers(all_projects=True, project_id=p.id):
        admin.compute.delete_server(s.id, force=True)
        admin.compute.wait_for_delete(s, wait=120)
    for snap in admin.block_storage.snapshots(all_projects=True, project_id=p.id):
        admin.block_storage.delete_snapshot(snap.id)
        admin.block_storage.wait_for_delete(snap, wait=120)
    for v in admin.block_storage.volumes(all_projects=True, project_id=p.id):
        admin.block_storage.delete_volume(v.id, force=True)
        admin.block_storage.wait_for_delete(v, wait=120)
    for hidden in (False, True):
        for i in admin.image.images(owner=p.id, is_hidden=hidden):
            admin.image.delete_image(i.id)
    admin.identity.delete_project(p.id)


@pytest.fixture(scope="module")
def world(admin: Any) -> Iterator[tuple[Project, Project]]:
    """Project A with two servers (one with a volume attached), a plain volume with a snapshot, its own image, a
    hidden image and a server snapshot; project B alongside with a server, a volume and an image."""
    size = flavor(admin)
    a, b = new_project(admin, "a"), new_project(admin, "b")
    try:
        boot = image(a, "a-boot")
        image(a, "a-hidden", hidden=True)
        a1 = server(a, "a-1", boot.id, size.id)
        a2 = server(a, "a-2", boot.id, size.id)
        plain = volume(a, "a-plain")
        attached = volume(a, "a-attached")
        a.conn.compute.create_volume_attachment(a1, volume_id=attached.id)
        a.conn.block_storage.wait_for_status(attached, status="in-use", failures=["error"], interval=1, wait=120)
        snap = a.conn.block_storage.create_snapshot(volume_id=plain.id, name="a-snap")
        a.conn.block_storage.wait_for_status(snap, status="available", failures=["error"], interval=1, wait=120)
        a.made[(TargetKind.SNAPSHOT, snap.id)] = "a-snap"
        # the fake driver never uploads a server snapshot: the image stays queued, which is still data to reclaim
        shot = a.conn.compute.create_server_image(a2, "a-2-snapshot", wait=False)
        shot_id = shot if isinstance(shot, str) else shot.id
        a.made[(TargetKind.IMAGE, shot_id)] = "a-2-snapshot"
        server(b, "b-1", image(b, "b-boot").id, size.id)
        volume(b, "b-vol")
        yield a, b
    finally:
        cleanup(admin, a)
        cleanup(admin, b)


@pytest.fixture
def wiper() -> OpenStackWiper:
    # waiting on a real cloud: the real clock and sleep are the injected ones here, bounded by the timeout
    return OpenStackWiper(CLOUD, SystemClock(), sleep=time.sleep, timeout_s=180, poll_s=1)


def test_footprint_is_exactly_the_project_then_wiped_in_phase_order(
    world: tuple[Project, Project], wiper: OpenStackWiper, admin: Any
) -> None:
    """Footprint by id and by name lists exactly A's resources, in phase order, none of B's; an attached volume is
    detached and deleted while its server still runs; wiping the rest in order empties A, each deletion reads back
    gone and repeats as already gone; B keeps everything."""
    a, b = world
    listing = wiper.footprint([a.id])
    assert listing.complete, listing.reason
    assert {(t.kind, t.id): t.name for t in listing.targets} == a.made
    by_project_name = wiper.footprint([a.name, a.id])
    assert by_project_name.targets == listing.targets  # asked by name and id: each resource once
    assert (listing.resolved, by_project_name.resolved) == ({}, {a.name: a.id})
    phases = [t.phase for t in listing.targets]
    assert phases == sorted(phases)
    assert {t.kind: t.phase for t in listing.targets} == {
        TargetKind.SERVER: 1,
        TargetKind.SNAPSHOT: 2,
        TargetKind.VOLUME: 3,
        TargetKind.IMAGE: 4,
    }
    assert all(t.group == a.id and t.cloud == CLOUD for t in listing.targets)
    by_name = {t.name: t for t in listing.targets}
    assert by_name["a-attached"].attributes["attached_to"] == next(
        sid for (kind, sid), name in a.made.items() if (kind, name) == (TargetKind.SERVER, "a-1")
    )
    assert by_name["a-plain"].attributes["encrypted"] == "false"
    assert by_name["a-plain"].size_bytes == 1024**3
    b_listing = wiper.footprint([b.id])
    assert {t.name for t in b_listing.targets} == {"b-1", "b-vol", "b-boot"}

    attached = wiper.wipe(by_name["a-attached"])  # out of phase order on purpose: detach from a running server
    assert not attached.already_gone
    assert wiper.gone(by_name["a-attached"])
    assert admin.compute.get_server(by_name["a-1"].id).status == "ACTIVE"

    for target in listing.targets:
        if target.kind is TargetKind.SERVER:  # where the hypervisor's disks are wiped, the server is stopped first
            stop = target.model_copy(update={"kind": TargetKind.SERVER_STOP})
            assert not wiper.gone(stop)
            stopped = wiper.wipe(stop)
            assert (stopped.method, stopped.category, stopped.detail) == (
                Method.STOP,
                Category.NONE,
                "server stopped so its disks can be wiped",
            )
            assert admin.compute.get_server(target.id).status == "SHUTOFF" and wiper.gone(stop)
            assert wiper.wipe(stop).detail == "server was already stopped or gone"
        outcome = wiper.wipe(target)
        assert wiper.gone(target), target
        if target.name == "a-attached":
            assert outcome.already_gone
            continue
        assert not outcome.already_gone, target
        assert outcome.verified is False  # nothing can be read back through the cloud: honest
        if target.kind is TargetKind.SERVER:
            assert (outcome.method, outcome.category) == (Method.DELETE, Category.NONE)
        else:
            assert (outcome.method, outcome.category) == (Method.BACKEND_CLEAR, Category.ATTESTED)
            assert "as attested by the vendor" in outcome.detail
        assert wiper.wipe(target).already_gone  # idempotent: nothing sent the second time
    after = wiper.footprint([a.id])
    assert (after.complete, after.targets) == (True, ())
    assert wiper.footprint([b.id]).targets == b_listing.targets


def test_encrypted_volume_deletion_is_recorded_by_its_key(admin: Any, wiper: OpenStackWiper) -> None:
    """A volume of an encrypted type is listed as encrypted with its key id; deleted, it is a crypto-erase (purge)
    when its key is its own, and only attested under the key manager's one fixed, never deleted key."""
    vtype = admin.block_storage.find_type("it-wipe-luks")
    if vtype is None:
        vtype = admin.block_storage.create_type(name="it-wipe-luks")
        admin.block_storage.create_type_encryption(
            vtype, provider="luks", control_location="front-end", cipher="aes-xts-plain64", key_size=256
        )
    p = new_project(admin, "enc")
    try:
        try:
            made = volume(p, "enc-vol", volume_type=vtype.id)
        except Exception as exc:  # noqa: BLE001 - the message says what to do about the cloud's setup
            pytest.fail(
                f"Cinder cannot create an encrypted volume ({exc}): restart the local OpenStack so the [key_manager] "
                "section of deploy/dev/openstack/etc/cinder.conf.in applies"
            )
        (target,) = wiper.footprint([p.id]).targets
        assert target.attributes["encrypted"] == "true"
        key_id = target.attributes.get("encryption_key_id", "")  # Cinder hides ConfKeyManager's fixed key id
        outcome = wiper.wipe(target)
        assert wiper.gone(target)
        if key_id:
            assert (outcome.method, outcome.category) == (Method.CRYPTO_ERASE, Category.PURGE)
            assert key_id in outcome.detail
        else:  # ConfKeyManager: one shared key, never deleted
            assert (outcome.method, outcome.category) == (Method.BACKEND_CLEAR, Category.ATTESTED)
            assert "00000000-0000-0000-0000-000000000000" in outcome.detail
            assert "never deleted" in outcome.detail
        assert made.id == target.id
    finally:
        cleanup(admin, p)


def test_a_failing_listing_gives_an_incomplete_footprint(
    admin: Any,  # noqa: ARG001 - the real cloud is up, so the failures below are the test's own
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wiper: OpenStackWiper,
) -> None:
    """An unknown project name, or a cloud at a closed loopback port, gives complete=False with the reason and no
    targets; reading a target back from that cloud is an error, not "gone". No groups at all: nothing, complete."""
    unknown = wiper.footprint([f"it-wipe-nobody-{uuid.uuid4().hex[:6]}"])
    assert (unknown.complete, unknown.targets) == (False, ())
    assert "no such project" in unknown.reason
    assert wiper.footprint([]) == FootprintListing(targets=(), complete=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clouds = tmp_path / "clouds-closed.yaml"
    clouds.write_text(
        f"clouds:\n  {CLOUD}:\n    auth:\n      auth_url: http://127.0.0.1:{port}/v3\n      username: u\n"
        "      password: p\n      project_name: p\n      user_domain_name: Default\n"
        "      project_domain_name: Default\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    settings = CloudSettings(name="os-dead", kind="openstack", vendor="v", zone="internet", connection=CLOUD)
    dead = ports.open_wiper(settings, SystemClock())  # through the entry point, as termination opens it
    assert isinstance(dead, ports.Wiper)
    listing = dead.footprint([uuid.uuid4().hex])
    assert (listing.complete, listing.targets) == (False, ())
    assert f"127.0.0.1:{port}" in listing.reason or "Connect" in listing.reason, listing.reason
    with pytest.raises(WipeError, match="read server"):
        dead.gone(WipeTarget(cloud=CLOUD, kind=TargetKind.SERVER, id=str(uuid.uuid4())))
