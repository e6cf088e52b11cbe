"""Changes Yunguan makes to an OpenStack cloud, for enforcement and termination.

Each action is idempotent (already in the target state: nothing is sent) and checks its post-condition by reading
the cloud back; a change that did not take raises ``OpenStackBadAnswerError``. Waiting for Nova uses the injected
clock and sleep, so nothing here sleeps on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.openstack.convert import GIB, MIB
from adapters.openstack.errors import OpenStackBadAnswerError, OpenStackNotFoundError, translated
from adapters.openstack.inventory import quiet_sdk
from controlplane.clock import Clock
from controlplane.domain import Quantities

Sleep = Callable[[float], None]


class OpenStackActions:
    def __init__(self, conn: Any, clock: Clock, sleep: Sleep, timeout_s: float = 300.0, poll_s: float = 2.0) -> None:
        self.conn = conn
        self.clock = clock
        self.sleep = sleep
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    # -- quotas --------------------------------------------------------------------------------------------------

    @staticmethod
    def _quota_target(q: Quantities) -> tuple[dict[str, int], dict[str, int]]:
        compute = {"cores": int(q.vcpu), "ram": q.memory_bytes // MIB, "instances": q.instances}
        volume = {"gigabytes": q.storage_bytes // GIB}
        return compute, volume

    def set_quotas(self, project_id: str, target: Quantities) -> bool:
        """Make the project's compute and volume quotas equal the target; returns whether anything changed."""
        compute_want, volume_want = self._quota_target(target)
        with quiet_sdk(), translated(f"set quotas of project {project_id}"):
            changed = False
            compute = self.conn.compute.get_quota_set(project_id)
            if any(int(getattr(compute, k)) != v for k, v in compute_want.items()):
                self.conn.compute.update_quota_set(project_id, **compute_want)
                changed = True
            volume = self.conn.block_storage.get_quota_set(project_id)
            if any(int(getattr(volume, k)) != v for k, v in volume_want.items()):
                self.conn.block_storage.update_quota_set(project_id, **volume_want)
                changed = True
            compute = self.conn.compute.get_quota_set(project_id)
            volume = self.conn.block_storage.get_quota_set(project_id)
            got = {k: int(getattr(compute, k)) for k in compute_want} | {
                k: int(getattr(volume, k)) for k in volume_want
            }
            if got != compute_want | volume_want:
                raise OpenStackBadAnswerError(
                    f"quotas of {project_id} read back as {got}, not {compute_want | volume_want}"
                )
            return changed

    # -- servers -------------------------------------------------------------------------------------------------

    def _server(self, server_id: str) -> Any:
        return self.conn.compute.get_server(server_id)

    def _wait(self, server_id: str, statuses: set[str], what: str) -> Any:
        deadline = self.clock.now().timestamp() + self.timeout_s
        while True:
            server = self._server(server_id)
            if server.status in statuses:
                return server
            if server.status == "ERROR":
                raise OpenStackBadAnswerError(f"{what}: server {server_id} went to ERROR")
            if self.clock.now().timestamp() > deadline:
                raise OpenStackBadAnswerError(
                    f"{what}: server {server_id} still {server.status} after {self.timeout_s}s"
                )
            self.sleep(self.poll_s)

    @staticmethod
    def _flavor_name(server: Any) -> str:
        flavor = server.flavor
        if isinstance(flavor, dict):
            return str(flavor.get("original_name") or flavor.get("name") or "")
        return str(getattr(flavor, "original_name", None) or getattr(flavor, "name", "") or "")

    def resize(self, server_id: str, flavor_name: str) -> bool:
        """Resize to ``flavor_name`` and confirm; returns whether anything changed. Resumes a pending confirm."""
        what = f"resize server {server_id} to {flavor_name}"
        with quiet_sdk(), translated(what):
            server = self._server(server_id)
            resumed = server.status == "VERIFY_RESIZE"
            if resumed:  # a resize left unconfirmed (by us before a crash, or by someone else): finish it
                self.conn.compute.confirm_server_resize(server_id)
                server = self._wait(server_id, {"ACTIVE", "SHUTOFF"}, what)
            if self._flavor_name(server) == flavor_name:
                return resumed
            flavor = self.conn.compute.find_flavor(flavor_name, ignore_missing=False)
            self.conn.compute.resize_server(server_id, flavor.id)
            self._wait(server_id, {"VERIFY_RESIZE"}, what)
            self.conn.compute.confirm_server_resize(server_id)
            server = self._wait(server_id, {"ACTIVE", "SHUTOFF"}, what)
            if self._flavor_name(server) != flavor_name:
                raise OpenStackBadAnswerError(f"{what}: flavor reads back as {self._flavor_name(server)}")
            return True

    def stop(self, server_id: str) -> bool:
        what = f"stop server {server_id}"
        with quiet_sdk(), translated(what):
            server = self._server(server_id)
            if server.status in {"SHUTOFF", "SHELVED", "SHELVED_OFFLOADED"}:
                return False
            self.conn.compute.stop_server(server_id)
            self._wait(server_id, {"SHUTOFF"}, what)
            return True

    def shelve(self, server_id: str) -> bool:
        what = f"shelve server {server_id}"
        with quiet_sdk(), translated(what):
            server = self._server(server_id)
            if server.status in {"SHELVED", "SHELVED_OFFLOADED"}:
                return False
            self.conn.compute.shelve_server(server_id)
            self._wait(server_id, {"SHELVED", "SHELVED_OFFLOADED"}, what)
            return True

    def delete_server(self, server_id: str) -> bool:
        """Delete and wait until Nova no longer knows it; False when it was already gone."""
        what = f"delete server {server_id}"
        return self.delete_and_wait(
            what, lambda: self._server(server_id), lambda: self.conn.compute.delete_server(server_id)
        )

    def delete_volume(self, volume_id: str) -> bool:
        """Delete and wait until Cinder no longer knows it; False when it was already gone."""
        what = f"delete volume {volume_id}"
        storage = self.conn.block_storage
        return self.delete_and_wait(
            what, lambda: storage.get_volume(volume_id), lambda: storage.delete_volume(volume_id)
        )

    def delete_and_wait(self, what: str, read: Callable[[], Any], delete: Callable[[], Any]) -> bool:
        """Delete what ``read`` reads and wait until it answers "not found"; False when it was already gone."""
        with quiet_sdk():
            try:
                with translated(what):
                    read()
            except OpenStackNotFoundError:
                return False
            with translated(what):
                delete()
            return self.wait_gone(read, what)

    def wait_gone(self, read: Callable[[], Any], what: str) -> bool:
        deadline = self.clock.now().timestamp() + self.timeout_s
        while True:
            try:
                with translated(what):
                    read()
            except OpenStackNotFoundError:
                return True
            if self.clock.now().timestamp() > deadline:
                raise OpenStackBadAnswerError(f"{what}: still there after {self.timeout_s}s")
            self.sleep(self.poll_s)
