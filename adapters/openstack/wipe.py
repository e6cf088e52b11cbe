"""The ``yunguan.wipers`` entry ``openstack``: a system's projects emptied for termination, each deletion read back.

What each deletion achieves is recorded as it is (NIST SP 800-88, see ``controlplane.termination.ports``):

- a volume of an encrypted type is deleted with its key (Cinder asks the key manager to delete it): crypto-erase,
  ``purge``. Not so under Cinder's ``ConfKeyManager``, whose one fixed key (id all zeros) serves every volume and
  is never deleted (Cinder then shows no ``encryption_key_id``): that volume's deletion is only as good as the
  backend's clearing, ``attested``;
- any other volume, a volume snapshot, an image, a backup: deleted, and cleared only as far as the backend's own
  setting (Cinder's ``volume_clear``, the image store) does it, which we cannot see: ``attested`` by the vendor;
- a server: its record deleted, ``none``; its disks are the hypervisor side's (``yunguan.disk_wipers``).

Everything is idempotent: a target already gone gives an ``already_gone`` outcome and sends nothing. Waiting uses
the injected clock and sleep (as enforcement's actions do), bounded by ``timeout_s``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters.openstack.actions import OpenStackActions, Sleep
from adapters.openstack.errors import (
    OpenStackBadAnswerError,
    OpenStackError,
    OpenStackNotFoundError,
    translated,
)
from adapters.openstack.footprint import CINDER_VERSION, list_footprint
from adapters.openstack.inventory import connect, quiet_sdk
from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.termination.ports import (
    Category,
    FootprintListing,
    Method,
    TargetKind,
    WipeError,
    WipeOutcome,
    WipeTarget,
)

CONNECT_RETRIES = 3
FIXED_KEY_ID = "00000000-0000-0000-0000-000000000000"  # Cinder's ConfKeyManager: one shared key, never deleted
SETTLED = {"available", "in-use", "error", "error_restoring", "error_extending", "error_managing", "error_deleting"}
STOPPED = frozenset({"SHUTOFF", "SHELVED", "SHELVED_OFFLOADED"})  # a domain not running
ATTESTED_DETAIL = {
    TargetKind.VOLUME: "deleted; backend volume_clear as attested by the vendor (lower assurance)",
    TargetKind.SNAPSHOT: "deleted; backend volume_clear as attested by the vendor (lower assurance)",
    TargetKind.IMAGE: "deleted from the image store; its clearing as attested by the vendor (lower assurance)",
    TargetKind.BACKUP: "deleted from the backup store; its clearing as attested by the vendor (lower assurance)",
}


def volume_erasure(volume: dict[str, Any]) -> tuple[Method, Category, str]:
    """What deleting this volume (Cinder's JSON at microversion >= 3.64) achieves: a crypto-erase when it is
    encrypted with a key of its own; else only the backend's clearing, as the vendor attests it."""
    key_id = volume.get("encryption_key_id") or ""
    if volume.get("encrypted") and key_id and key_id != FIXED_KEY_ID:
        detail = f"encrypted volume (type {volume.get('volume_type')}) deleted with its key {key_id}"
        return Method.CRYPTO_ERASE, Category.PURGE, detail
    if volume.get("encrypted"):
        # Cinder shows no key id for ConfKeyManager's fixed key: the one key every volume shares, never deleted
        detail = (
            f"encrypted with the key manager's fixed shared key {key_id or FIXED_KEY_ID} (Cinder shows no key of "
            f"its own), which is never deleted: {ATTESTED_DETAIL[TargetKind.VOLUME]}"
        )
        return Method.BACKEND_CLEAR, Category.ATTESTED, detail
    return Method.BACKEND_CLEAR, Category.ATTESTED, ATTESTED_DETAIL[TargetKind.VOLUME]


class OpenStackWiper:
    def __init__(
        self,
        cloud: str,
        clock: Clock,
        *,
        connection: str | None = None,
        sleep: Sleep = time.sleep,
        conn: Any = None,
        page_size: int = 1000,
        timeout_s: float = 600.0,
        poll_s: float = 2.0,
    ) -> None:
        self.cloud = cloud
        self.connection = connection or cloud
        self.clock = clock
        self.sleep = sleep
        self.page_size = page_size
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._conn = conn

    @property
    def conn(self) -> Any:
        if self._conn is None:
            # a wipe polls for minutes: a connection the service closed meanwhile (keep-alive) is retried, not fatal
            self._conn = connect(self.connection, connect_retries=CONNECT_RETRIES)
        return self._conn

    @property
    def actions(self) -> OpenStackActions:
        return OpenStackActions(self.conn, self.clock, self.sleep, timeout_s=self.timeout_s, poll_s=self.poll_s)

    # -- the plan ----------------------------------------------------------------------------------------------------

    def footprint(self, groups: Sequence[str]) -> FootprintListing:
        with quiet_sdk():
            try:
                conn = self.conn
            except OpenStackError as exc:
                return FootprintListing(targets=(), complete=False, reason=f"cloud {self.cloud}: {exc}")
            return list_footprint(conn, self.cloud, groups, page_size=self.page_size)

    # -- reading one target back -------------------------------------------------------------------------------------

    def _reader(self, target: WipeTarget) -> Callable[[], Any]:
        conn, tid = self.conn, target.id
        readers: dict[TargetKind, Callable[[], Any]] = {
            TargetKind.SERVER: lambda: conn.compute.get_server(tid),
            TargetKind.VOLUME: lambda: self._volume(tid),
            TargetKind.SNAPSHOT: lambda: conn.block_storage.get_snapshot(tid),
            TargetKind.IMAGE: lambda: conn.image.get_image(tid),
            TargetKind.BACKUP: lambda: conn.block_storage.get_backup(tid),
        }
        if target.kind not in readers:
            raise WipeError(f"{target.kind.value} {tid}: not an OpenStack target")
        return readers[target.kind]

    def _volume(self, volume_id: str) -> dict[str, Any]:
        from openstack import exceptions

        response = self.conn.block_storage.get(f"/volumes/{volume_id}", microversion=CINDER_VERSION)
        exceptions.raise_from_response(response)
        volume: dict[str, Any] = response.json()["volume"]
        return volume

    def gone(self, target: WipeTarget) -> bool:
        what = f"read {target.kind.value} {target.id}"
        try:
            with quiet_sdk(), translated(what):
                if target.kind is TargetKind.SERVER_STOP:
                    return bool(self.conn.compute.get_server(target.id).status in STOPPED)
                self._reader(target)()
        except OpenStackNotFoundError:
            return True
        except OpenStackError as exc:
            raise WipeError(f"{what} on {self.cloud}: {exc}") from exc
        return False

    # -- wiping ------------------------------------------------------------------------------------------------------

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        started = self.clock.now()
        what = f"{target.kind.value} {target.id}" + (f" ({target.name})" if target.name else "")
        try:
            with quiet_sdk():
                if target.kind is TargetKind.VOLUME:
                    return self._wipe_volume(target, started)
                if target.kind is TargetKind.SERVER_STOP:
                    return self._stop(target, started)
                method, category, detail = self._plain(target)
                deleted = self.actions.delete_and_wait(f"delete {what}", self._reader(target), self._deleter(target))
        except OpenStackError as exc:
            raise WipeError(f"{what} on {self.cloud}: {exc}") from exc
        return self._outcome(target, started, method, category, detail, deleted=deleted)

    def _stop(self, target: WipeTarget, started: dt.datetime) -> WipeOutcome:
        """Stop the server so the hypervisor's disk wiper may overwrite its disks (it refuses a running domain)."""
        try:
            stopped = self.actions.stop(target.id)
        except OpenStackNotFoundError:
            stopped = False
        return WipeOutcome(
            target=target,
            method=Method.STOP,
            category=Category.NONE,
            started=started,
            ended=self.clock.now(),
            verified=False,
            detail="server stopped so its disks can be wiped" if stopped else "server was already stopped or gone",
        )

    def _plain(self, target: WipeTarget) -> tuple[Method, Category, str]:
        if target.kind is TargetKind.SERVER:
            return Method.DELETE, Category.NONE, "server deleted; its own disks: see its server-disk outcomes"
        return Method.BACKEND_CLEAR, Category.ATTESTED, ATTESTED_DETAIL[target.kind]

    def _deleter(self, target: WipeTarget) -> Callable[[], Any]:
        conn, tid = self.conn, target.id
        if target.kind is TargetKind.SERVER:

            def delete_server() -> None:
                server = conn.compute.get_server(tid)
                # a soft-deleted server only goes with a force delete
                conn.compute.delete_server(tid, force=server.status == "SOFT_DELETED")

            return delete_server
        deleters: dict[TargetKind, Callable[[], Any]] = {
            TargetKind.SNAPSHOT: lambda: conn.block_storage.delete_snapshot(tid),
            TargetKind.IMAGE: lambda: conn.image.delete_image(tid),
            TargetKind.BACKUP: lambda: conn.block_storage.delete_backup(tid),
        }
        return deleters[target.kind]

    def _outcome(
        self,
        target: WipeTarget,
        started: dt.datetime,
        method: Method,
        category: Category,
        detail: str,
        *,
        deleted: bool,
    ) -> WipeOutcome:
        if not deleted:
            return WipeOutcome(
                target=target,
                method=method,
                category=Category.NONE,
                started=started,
                ended=self.clock.now(),
                verified=False,
                already_gone=True,
                detail=f"{target.kind.value} was already gone: nothing sent",
            )
        return WipeOutcome(
            target=target,
            method=method,
            category=category,
            started=started,
            ended=self.clock.now(),
            verified=False,  # a deletion is read back as gone; no bytes can be read back through the cloud
            detail=detail,
        )

    def _wipe_volume(self, target: WipeTarget, started: dt.datetime) -> WipeOutcome:
        volume_id = target.id
        what = f"delete volume {volume_id}"
        try:
            with translated(what):
                volume = self._settled(volume_id, what)
        except OpenStackNotFoundError:
            return self._outcome(target, started, Method.BACKEND_CLEAR, Category.NONE, "", deleted=False)
        method, category, detail = volume_erasure(volume)
        read = lambda: self._volume(volume_id)  # noqa: E731 - the same read for the delete and the wait
        if volume.get("status") == "deleting":  # a delete sent before a crash: only wait for it
            deleted = self.actions.wait_gone(read, what)
        else:
            if volume.get("status") == "in-use" or volume.get("attachments"):
                self._detach(volume, what)
            deleted = self.actions.delete_and_wait(what, read, lambda: self._delete_volume(volume_id))
        return self._outcome(target, started, method, category, detail, deleted=deleted)

    def _delete_volume(self, volume_id: str) -> None:
        from openstack import exceptions as sdk

        try:
            self.conn.block_storage.delete_volume(volume_id)
        except (sdk.ConflictException, sdk.BadRequestException):
            # Cinder refuses a plain delete in error_deleting and similar states; an admin's force delete goes
            # (and refuses in turn, with its reason, what it must not delete)
            self.conn.block_storage.delete_volume(volume_id, force=True)

    def _settled(self, volume_id: str, what: str) -> dict[str, Any]:
        """The volume once it is in a state a detach or delete can start from (or is already deleting)."""
        deadline = self.clock.now().timestamp() + self.timeout_s
        while True:
            volume = self._volume(volume_id)
            if volume.get("status") in SETTLED | {"deleting"}:
                return volume
            if self.clock.now().timestamp() > deadline:
                raise OpenStackBadAnswerError(f"{what}: still {volume.get('status')} after {self.timeout_s}s")
            self.sleep(self.poll_s)

    def _detach(self, volume: dict[str, Any], what: str) -> None:
        """Detach from every server through Nova (which tells Cinder); a server Nova no longer knows is refused:
        its attachment record must be cleaned by an operator, not guessed at."""
        for attachment in volume.get("attachments") or []:
            server_id = attachment.get("server_id") or ""
            with translated(f"{what}: detach from server {server_id}"):
                # detached meanwhile, or the server is gone (404, ignored): the read-back below decides
                self.conn.compute.delete_volume_attachment(server_id, volume["id"], ignore_missing=True)
        deadline = self.clock.now().timestamp() + self.timeout_s
        while True:
            with translated(what):
                current = self._volume(volume["id"])
            if current.get("status") != "in-use" and not current.get("attachments"):
                return
            if self.clock.now().timestamp() > deadline:
                servers = ", ".join(a.get("server_id") or "?" for a in current.get("attachments") or [])
                raise OpenStackBadAnswerError(
                    f"{what}: still attached to {servers} after {self.timeout_s}s (detach it by hand)"
                )
            self.sleep(self.poll_s)


def open_wiper(cloud: CloudSettings, clock: Clock) -> OpenStackWiper:
    return OpenStackWiper(cloud.name, clock, connection=cloud.connection or cloud.name)
