"""The ``yunguan.actuators`` entry for Kubernetes: a namespace's quota set to a target by ``KubernetesActions``
(created or merge-patched with the resourceVersion read, retried on conflict, read back)."""

from __future__ import annotations

import time
from typing import Any

from adapters.kubernetes.actions import QUOTA_NAME, KubernetesActions, quota_hard, same_hard
from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesError, KubernetesNotFoundError
from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.policy.actuation import ActionKind, ActionSpec, ActuatorError, Flavor


class KubernetesActuator:
    def __init__(self, cloud: CloudSettings, clock: Clock, sleep: Any = time.sleep) -> None:
        self.cloud = cloud
        self.clock = clock
        self.sleep = sleep
        self._actions: KubernetesActions | None = None

    @property
    def actions(self) -> KubernetesActions:
        if self._actions is None:
            cluster = Cluster.connect(self.cloud.kubeconfig, self.cloud.connection or None, self.sleep)
            self._actions = KubernetesActions(cluster, self.clock, self.sleep)
        return self._actions

    def apply(self, action: ActionSpec) -> bool:
        if action.kind is not ActionKind.SET_NAMESPACE_QUOTA or action.quantities is None:
            raise ActuatorError(f"{action.kind.value} is not a Kubernetes action (or misses its quantities)")
        try:
            return self.actions.set_quota(action.target, action.quantities)
        except KubernetesError as exc:
            raise ActuatorError(f"{action.kind.value} {action.target} on {action.cloud}: {exc}") from exc

    def holds(self, action: ActionSpec) -> bool:
        if action.kind is not ActionKind.SET_NAMESPACE_QUOTA or action.quantities is None:
            return False
        path = f"/api/v1/namespaces/{action.target}/resourcequotas/{QUOTA_NAME}"
        try:
            current = self.actions.cluster.get(path, f"read quota of {action.target}")
        except KubernetesNotFoundError:
            return False
        except KubernetesError as exc:
            raise ActuatorError(f"read back {action.kind.value} {action.target}: {exc}") from exc
        return same_hard((current.get("spec") or {}).get("hard") or {}, quota_hard(action.quantities))

    def flavors(self) -> list[Flavor]:
        return []

    def size(self, server_id: str) -> Flavor | None:
        return None


def open_actuator(cloud: CloudSettings, clock: Clock) -> KubernetesActuator:
    return KubernetesActuator(cloud, clock)
