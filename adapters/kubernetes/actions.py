"""Changes Yunguan makes to a Kubernetes cluster, for enforcement and termination.

Each action is idempotent (already in the target state: nothing is sent) and reads the cluster back to check it;
a change that did not take raises ``KubernetesBadAnswerError``. Writes carry the resourceVersion they were based on,
so a concurrent change answers 409 and the action reads again and retries (bounded). Waiting uses the injected
clock and sleep, so nothing here sleeps on its own.
"""

from __future__ import annotations

from typing import Any

from adapters.kubernetes.client import Cluster, Sleep
from adapters.kubernetes.convert import quantity
from adapters.kubernetes.errors import (
    KubernetesBadAnswerError,
    KubernetesConflictError,
    KubernetesNotFoundError,
    KubernetesUnavailableError,
)
from controlplane.clock import Clock
from controlplane.domain import Quantities

QUOTA_NAME = "yunguan-allocation"
MANAGED_BY = {"app.kubernetes.io/managed-by": "yunguan"}
NOTICE_PREFIX = "yunguan.io/notice-"
MERGE_PATCH = "application/merge-patch+json"


def quota_hard(target: Quantities) -> dict[str, str]:
    """The ResourceQuota hard limits for an approved allocation: CPU and memory requests, claimed storage."""
    cpu = target.vcpu.normalize()
    return {
        "requests.cpu": f"{int(cpu * 1000)}m" if cpu != cpu.to_integral_value() else str(int(cpu)),
        "requests.memory": str(target.memory_bytes),
        "requests.storage": str(target.storage_bytes),
    }


def same_hard(current: dict[str, Any], wanted: dict[str, str]) -> bool:
    """Equal as quantities ("4" and "4000m" are the same), and no other hard limit set."""
    if set(current) != set(wanted):
        return False
    return all(quantity(current[k]) == quantity(v) for k, v in wanted.items())


class KubernetesActions:
    def __init__(
        self,
        cluster: Cluster,
        clock: Clock,
        sleep: Sleep,
        *,
        timeout_s: float = 300.0,
        poll_s: float = 1.0,
        conflict_retries: int = 5,
    ) -> None:
        self.cluster = cluster
        self.clock = clock
        self.sleep = sleep
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.conflict_retries = conflict_retries

    def _quota_path(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/resourcequotas" + (f"/{name}" if name else "")

    def _read(self, path: str, what: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.cluster.get(path, what)
        except KubernetesNotFoundError:
            return None
        return found

    # -- quota ---------------------------------------------------------------------------------------------------

    def set_quota(self, namespace: str, target: Quantities) -> bool:
        """Make the namespace's Yunguan ResourceQuota hold the approved allocation (created when missing); returns
        whether anything changed."""
        wanted = quota_hard(target)
        what = f"set quota of namespace {namespace}"
        path = self._quota_path(namespace, QUOTA_NAME)
        for _ in range(self.conflict_retries + 1):
            current = self._read(path, what)
            if current is not None and same_hard((current.get("spec") or {}).get("hard") or {}, wanted):
                return False
            try:
                if current is None:
                    body = {
                        "apiVersion": "v1",
                        "kind": "ResourceQuota",
                        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": MANAGED_BY},
                        "spec": {"hard": wanted},
                    }
                    self.cluster.request("POST", self._quota_path(namespace), what, body=body)
                else:
                    version = current["metadata"]["resourceVersion"]
                    body = {"metadata": {"resourceVersion": version}, "spec": {"hard": dict(wanted)}}
                    # merge patch replaces keys it names; a hard limit we do not set is removed with null
                    for extra in set((current.get("spec") or {}).get("hard") or {}) - set(wanted):
                        body["spec"]["hard"][extra] = None
                    self.cluster.request("PATCH", path, what, body=body, content_type=MERGE_PATCH)
            except KubernetesConflictError:
                continue  # changed or created under us: read again
            after = self._read(path, what)
            if after is None or not same_hard((after.get("spec") or {}).get("hard") or {}, wanted):
                raise KubernetesBadAnswerError(f"{what}: the quota does not read back as {wanted}")
            return True
        raise KubernetesConflictError(f"{what}: still conflicting after {self.conflict_retries} retries")

    # -- notice --------------------------------------------------------------------------------------------------

    def annotate(self, namespace: str, notice: dict[str, str]) -> bool:
        """Put a notice on the namespace as ``yunguan.io/notice-<key>`` annotations (finding id, deadline...), so
        the unit sees it with kubectl; returns whether anything changed."""
        what = f"annotate namespace {namespace}"
        path = f"/api/v1/namespaces/{namespace}"
        wanted = {f"{NOTICE_PREFIX}{k}": v for k, v in notice.items()}
        current = self.cluster.get(path, what)
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        self.cluster.request("PATCH", path, what, body={"metadata": {"annotations": wanted}}, content_type=MERGE_PATCH)
        after = (self.cluster.get(path, what).get("metadata") or {}).get("annotations") or {}
        if any(after.get(k) != v for k, v in wanted.items()):
            raise KubernetesBadAnswerError(f"{what}: the notice does not read back")
        return True

    # -- deletion ------------------------------------------------------------------------------------------------

    def delete_namespace(self, namespace: str) -> bool:
        """Delete the namespace and wait until the apiserver no longer knows it (the namespace controller empties
        it first); False when it was already gone."""
        what = f"delete namespace {namespace}"
        path = f"/api/v1/namespaces/{namespace}"
        try:
            self.cluster.request("DELETE", path, what)
        except KubernetesNotFoundError:
            return False
        deadline = self.clock.now().timestamp() + self.timeout_s
        while self._read(path, what) is not None:
            if self.clock.now().timestamp() >= deadline:
                raise KubernetesUnavailableError(f"{what}: still there after {self.timeout_s:.0f} s")
            self.sleep(self.poll_s)
        return True
