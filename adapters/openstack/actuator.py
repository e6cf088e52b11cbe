"""The ``yunguan.actuators`` entry for OpenStack: enforcement's typed actions carried out by ``OpenStackActions``
(idempotent, read back), with the adapter's errors turned into the core's ``ActuatorError`` (cause chained)."""

from __future__ import annotations

import time
from typing import Any

from adapters.openstack.actions import OpenStackActions
from adapters.openstack.errors import OpenStackError, OpenStackNotFoundError, translated
from adapters.openstack.inventory import connect, quiet_sdk
from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.policy.actuation import ActionKind, ActionSpec, ActuatorError, Flavor

MIB, GIB = 1024**2, 1024**3


class OpenStackActuator:
    def __init__(self, connection: str, clock: Clock, sleep: Any = time.sleep) -> None:
        self.connection = connection
        self.clock = clock
        self.sleep = sleep
        self._actions: OpenStackActions | None = None

    @property
    def actions(self) -> OpenStackActions:
        if self._actions is None:
            self._actions = OpenStackActions(connect(self.connection), self.clock, self.sleep)
        return self._actions

    def apply(self, action: ActionSpec) -> bool:
        try:
            if action.kind is ActionKind.RESIZE_SERVER:
                return self.actions.resize(action.target, action.flavor)
            if action.kind is ActionKind.STOP_SERVER:
                return self.actions.stop(action.target)
            if action.kind is ActionKind.SET_PROJECT_QUOTA and action.quantities is not None:
                return self.actions.set_quotas(action.target, action.quantities)
        except OpenStackError as exc:
            raise ActuatorError(f"{action.kind.value} {action.target} on {action.cloud}: {exc}") from exc
        raise ActuatorError(f"{action.kind.value} is not an OpenStack action (or misses its parameters)")

    def holds(self, action: ActionSpec) -> bool:
        try:
            with quiet_sdk(), translated(f"read {action.target}"):
                conn = self.actions.conn
                if action.kind in {ActionKind.RESIZE_SERVER, ActionKind.STOP_SERVER}:
                    try:
                        server = conn.compute.get_server(action.target)
                    except OpenStackNotFoundError:
                        return False
                    if action.kind is ActionKind.STOP_SERVER:
                        return bool(server.status in {"SHUTOFF", "SHELVED", "SHELVED_OFFLOADED"})
                    return server.status != "VERIFY_RESIZE" and OpenStackActions._flavor_name(server) == action.flavor
                if action.kind is ActionKind.SET_PROJECT_QUOTA and action.quantities is not None:
                    compute, volume = OpenStackActions._quota_target(action.quantities)
                    got_c = conn.compute.get_quota_set(action.target)
                    got_v = conn.block_storage.get_quota_set(action.target)
                    return all(int(getattr(got_c, k)) == v for k, v in compute.items()) and all(
                        int(getattr(got_v, k)) == v for k, v in volume.items()
                    )
        except OpenStackError as exc:
            raise ActuatorError(f"read back {action.kind.value} {action.target}: {exc}") from exc
        return False

    def size(self, server_id: str) -> Flavor | None:
        try:
            with quiet_sdk(), translated(f"read server {server_id}"):
                try:
                    server = self.actions.conn.compute.get_server(server_id)
                except OpenStackNotFoundError:
                    return None
                f = server.flavor
                get = f.get if isinstance(f, dict) else lambda k, d=None: getattr(f, k, d)
                return Flavor(
                    name=str(get("original_name") or get("name") or ""),
                    vcpus=int(get("vcpus") or 1),
                    memory_bytes=int(get("ram") or 0) * MIB,
                    disk_bytes=int(get("disk") or 0) * GIB,
                )
        except OpenStackError as exc:
            raise ActuatorError(f"read server {server_id}: {exc}") from exc

    def flavors(self) -> list[Flavor]:
        try:
            with quiet_sdk(), translated("list flavors"):
                return [
                    Flavor(name=f.name, vcpus=f.vcpus, memory_bytes=f.ram * MIB, disk_bytes=f.disk * GIB)
                    for f in self.actions.conn.compute.flavors()
                ]
        except OpenStackError as exc:
            raise ActuatorError(f"list flavors: {exc}") from exc


def open_actuator(cloud: CloudSettings, clock: Clock) -> OpenStackActuator:
    return OpenStackActuator(cloud.connection or cloud.name, clock)
