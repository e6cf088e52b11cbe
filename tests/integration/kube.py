"""Test-side helpers for the real local kube-apiserver: create the objects a scenario needs (test setup, through the
adapter's raw client so no second client library is involved)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesConflictError, KubernetesNotFoundError

CONTEXT = "yunguan-local"


def connect(kubeconfig: Path) -> Cluster:
    return Cluster.connect(kubeconfig, CONTEXT, time.sleep)


def create(cluster: Cluster, path: str, body: dict[str, Any]) -> None:
    """Create, or leave as is when an earlier run made it."""
    with contextlib.suppress(KubernetesConflictError):
        cluster.request("POST", path, f"create {body['metadata']['name']}", body=body)


def namespace(cluster: Cluster, name: str, labels: dict[str, str] | None = None) -> None:
    create(cluster, "/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})


def quota(cluster: Cluster, ns: str, hard: dict[str, str], name: str = "approved") -> None:
    create(cluster, f"/api/v1/namespaces/{ns}/resourcequotas", {"metadata": {"name": name}, "spec": {"hard": hard}})


def claim(cluster: Cluster, ns: str, name: str, size: str) -> None:
    body = {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
    create(cluster, f"/api/v1/namespaces/{ns}/persistentvolumeclaims", body)


def drop(cluster: Cluster, ns: str) -> None:
    """Delete a namespace without waiting (teardown)."""
    with contextlib.suppress(KubernetesNotFoundError):
        cluster.request("DELETE", f"/api/v1/namespaces/{ns}", f"delete {ns}")
