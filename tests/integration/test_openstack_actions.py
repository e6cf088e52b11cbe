"""The adapter's actions against the real local OpenStack: each really changes Nova/Cinder, checks it, and does
nothing the second time."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.openstack.actions import OpenStackActions
from adapters.openstack.inventory import connect
from controlplane.clock import SystemClock
from controlplane.domain import Quantities

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


@pytest.fixture(scope="module")
def conn(openstack_clouds: Path, openstack_seed: Any) -> Iterator[Any]:
    openstack_seed(REPO / "deploy" / "dev" / "openstack" / "scenario-actions.yaml")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(openstack_clouds)
    connection = connect("yunguan-local", connect_retries=2)  # the test's own setup calls: a reset is retried
    yield connection
    connection.close()


def find_server(conn: Any, name: str) -> Any:
    return next(conn.compute.servers(all_projects=True, name=f"^{name}$"))


@pytest.fixture
def actions(conn: Any) -> OpenStackActions:
    # waiting on a real cloud: the real clock and sleep are the injected ones here, bounded by the timeout
    return OpenStackActions(conn, SystemClock(), time.sleep, timeout_s=180, poll_s=1)


def test_set_quotas_changes_nova_and_cinder_once(conn: Any, actions: OpenStackActions) -> None:
    """The project's quotas read back as the approved allocation; a second call sends nothing."""
    project = conn.identity.find_project("it-actions", ignore_missing=False)
    seed_value = 9 if conn.compute.get_quota_set(project.id).cores == 7 else 7
    target = Quantities(
        vcpu=Decimal(seed_value),
        memory_bytes=seed_value * 2 * GIB,
        storage_bytes=seed_value * 10 * GIB,
        instances=seed_value,
    )
    assert actions.set_quotas(project.id, target) is True
    compute = conn.compute.get_quota_set(project.id)
    volume = conn.block_storage.get_quota_set(project.id)
    assert (compute.cores, compute.ram, compute.instances, volume.gigabytes) == (
        seed_value,
        seed_value * 2048,
        seed_value,
        seed_value * 10,
    )
    assert actions.set_quotas(project.id, target) is False


def test_resize_really_changes_the_flavor(conn: Any, actions: OpenStackActions) -> None:
    """Resize + confirm lands on the other flavor in Nova; asking again for it changes nothing."""
    server = find_server(conn, "it-resize")
    current = server.flavor["original_name"]
    target = "it.small" if current == "it.medium" else "it.medium"
    assert actions.resize(server.id, target) is True
    assert conn.compute.get_server(server.id).flavor["original_name"] == target
    assert actions.resize(server.id, target) is False


def test_stop_then_delete_server_and_volume(conn: Any, actions: OpenStackActions) -> None:
    """Stop leaves the server SHUTOFF; deletes make them gone; repeating each is a no-op."""
    stopped = find_server(conn, "it-stop")
    if stopped.status == "SHUTOFF":  # an earlier run stopped it: start it again (test setup, not the adapter)
        conn.compute.start_server(stopped.id)
        conn.compute.wait_for_server(stopped, status="ACTIVE", wait=120)
    assert actions.stop(stopped.id) is True
    assert conn.compute.get_server(stopped.id).status == "SHUTOFF"
    assert actions.stop(stopped.id) is False
    doomed = find_server(conn, "it-delete")
    assert actions.delete_server(doomed.id) is True
    assert conn.compute.find_server(doomed.id, ignore_missing=True) is None
    assert actions.delete_server(doomed.id) is False
    volume = next(v for v in conn.block_storage.volumes(all_projects=True) if v.name == "it-vol")
    assert actions.delete_volume(volume.id) is True
    assert actions.delete_volume(volume.id) is False


def test_shelve_offloads_and_repeats_as_no_op(conn: Any, actions: OpenStackActions) -> None:
    """Shelve leaves the server SHELVED or SHELVED_OFFLOADED (its cores and memory released); again sends nothing."""
    server = find_server(conn, "it-shelve")
    if server.status.startswith("SHELVED"):  # an earlier run shelved it: bring it back (test setup, not the adapter)
        conn.compute.unshelve_server(server.id)
        conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    assert actions.shelve(server.id) is True
    assert conn.compute.get_server(server.id).status in {"SHELVED", "SHELVED_OFFLOADED"}
    assert actions.shelve(server.id) is False
