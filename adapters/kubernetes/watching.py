"""Waiting for one object to reach a state, by watching it: the apiserver sends each change as it happens, so the
wait ends the moment the state is reached and nothing polls or sleeps. The deadline is read from the injected clock
between watch events and when the server ends a watch (``timeoutSeconds``), so a watch never outlives it by more
than one server timeout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesGoneError, KubernetesNotFoundError, error_for
from controlplane.clock import Clock

Object = dict[str, Any]
MAX_WATCH_S = 60  # one watch request at most this long, so the clock is looked at again


def read(cluster: Cluster, path: str, what: str) -> Object | None:
    """The object, or None when the apiserver does not know it."""
    try:
        found: Object = cluster.get(path, what)
    except KubernetesNotFoundError:
        return None
    return found


def wait_for(
    cluster: Cluster,
    collection: str,
    name: str,
    *,
    what: str,
    done: Callable[[Object | None], bool],
    clock: Clock,
    timeout_s: float,
) -> tuple[Object | None, bool]:
    """Watch ``collection/name`` until ``done(object)`` (the object is None once deleted) or the deadline passes;
    returns the last state seen and whether it is done."""
    deadline = clock.now() + dt.timedelta(seconds=timeout_s)
    while True:
        current = read(cluster, f"{collection}/{name}", what)
        if done(current):
            return current, True
        remaining = (deadline - clock.now()).total_seconds()
        if current is None or remaining <= 0:
            return current, False
        window = max(1, min(MAX_WATCH_S, int(remaining + 0.999)))
        query = {
            "watch": "1",
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": (current.get("metadata") or {}).get("resourceVersion"),
        }
        try:
            for change in cluster.stream(collection, what, timeout_s=window + 10, timeoutSeconds=window, **query):
                kind, obj = change.get("type"), change.get("object") or {}
                if kind == "ERROR":
                    raise error_for(what, int(obj.get("code") or 500), obj)
                if kind in {"ADDED", "MODIFIED", "DELETED"}:
                    current = None if kind == "DELETED" else obj
                    if done(current):
                        return current, True
                if clock.now() >= deadline:
                    return current, False
        except KubernetesGoneError:
            continue  # the version we watched from is compacted: read again
