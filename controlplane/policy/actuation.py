"""The seam between enforcement and the clouds: typed actions the core plans, and the actuators adapters register
(``yunguan.actuators`` entry point, one per cloud kind) that carry them out.

An action is idempotent by construction: ``apply`` does nothing when the cloud is already in the target state, and
``holds`` reads the cloud back to say whether it is. Enforcement uses ``holds`` after a crash between "intent
logged" and "result logged" to finish the record without touching the cloud a second time.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import Field

from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.domain import Frozen, Quantities


class ActionKind(StrEnum):
    RESIZE_SERVER = "resize-server"  # params: flavor (restarts the server)
    SET_NAMESPACE_QUOTA = "set-namespace-quota"  # params: the allocation
    SET_PROJECT_QUOTA = "set-project-quota"  # params: the allocation
    STOP_SERVER = "stop-server"  # freeze (restarts nothing, but interrupts the system)


RESTARTS = frozenset({ActionKind.RESIZE_SERVER, ActionKind.STOP_SERVER})  # need a maintenance notice (Jiuquan 13)


class ActionSpec(Frozen):
    kind: ActionKind
    cloud: str
    target: str = Field(description="server id, namespace or project id")
    flavor: str = ""
    quantities: Quantities | None = None


class Flavor(Frozen):
    name: str
    vcpus: int = Field(ge=1)
    memory_bytes: int = Field(ge=0)
    disk_bytes: int = Field(ge=0)


@runtime_checkable
class Actuator(Protocol):
    def apply(self, action: ActionSpec) -> bool:
        """Make it so; True when something changed. Raises the adapter's error when the cloud refuses."""
        ...

    def holds(self, action: ActionSpec) -> bool:
        """Whether the cloud already is as the action wants (read back, nothing changed)."""
        ...

    def flavors(self) -> list[Flavor]:
        """The cloud's flavors (empty where the cloud has none, e.g. Kubernetes)."""
        ...

    def size(self, server_id: str) -> Flavor | None:
        """A server's flavor as the cloud reports it now (None: no such server, or a cloud without servers)."""
        ...


class ActuatorError(Exception):
    """Raised by actuators for a refused or failed action; the message names the action and the cloud's answer."""


ACTUATORS = "yunguan.actuators"


def open_actuator(cloud: CloudSettings, clock: Clock) -> Actuator:
    found = [ep for ep in entry_points(group=ACTUATORS) if ep.name == cloud.kind.value]
    if not found:
        raise ActuatorError(f"cloud {cloud.name!r}: no actuator is installed for kind {cloud.kind.value!r}")
    actuator: Actuator = found[0].load()(cloud, clock)
    return actuator
