"""Following a cluster's Events as they happen, for the agent: list once, then watch from the list's
resourceVersion; each ``poll`` returns what arrived and remembers where to resume. A resourceVersion the apiserver
no longer has (410 Gone, as an HTTP answer or as an ERROR event in the stream) makes it list again, so nothing is
skipped; the repeats that brings are dropped by the core, which logs each record once by its id."""

from __future__ import annotations

from typing import Any

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.convert import event_time, record_from
from adapters.kubernetes.errors import KubernetesError, KubernetesGoneError, error_for, translated
from controlplane.records import CloudRecord, RecordBatch

PATH = "/api/v1/events"


class EventWatch:
    source = "k8s.event"

    def __init__(self, cluster: Cluster, *, ignore_namespaces: frozenset[str] = frozenset(), page_size: int = 500):
        self.cluster = cluster
        self.ignore = ignore_namespaces
        self.page_size = page_size
        self.resource_version: str | None = None
        self.relists = 0

    def _record(self, event: dict[str, Any]) -> CloudRecord | None:
        namespace = (event.get("metadata") or {}).get("namespace") or ""
        if namespace in self.ignore or event_time(event) is None:
            return None
        return record_from(self.source, event)

    def _relist(self) -> list[CloudRecord]:
        """Every event now, and the resourceVersion of that list to watch from."""
        self.relists += 1
        found: list[CloudRecord] = []
        token: str | None = None
        version: str | None = None
        while True:
            page = self.cluster.get(PATH, "list events", limit=self.page_size, **{"continue": token})
            meta = page.get("metadata") or {}
            version = version or meta.get("resourceVersion")
            found.extend(r for e in page.get("items") or [] if (r := self._record(e)) is not None)
            token = meta.get("continue") or None
            if not token:
                break
        self.resource_version = version
        return found

    def _watch(self, timeout_s: int, found: list[CloudRecord]) -> None:
        """Append what the watch brings to ``found`` as it comes, so an error later in the stream loses none."""
        query = {"watch": "1", "resourceVersion": self.resource_version, "allowWatchBookmarks": "true"}
        for change in self.cluster.stream(
            PATH, "watch events", timeout_s=timeout_s + 10, timeoutSeconds=timeout_s, **query
        ):
            kind, obj = change.get("type"), change.get("object") or {}
            if kind == "ERROR":
                raise error_for("watch events", int(obj.get("code") or 500), obj)
            self.resource_version = (obj.get("metadata") or {}).get("resourceVersion") or self.resource_version
            if kind in {"ADDED", "MODIFIED"} and (record := self._record(obj)) is not None:
                found.append(record)

    def poll(self, timeout_s: int = 30) -> RecordBatch:
        """What happened since the last poll, waiting up to ``timeout_s`` for it."""
        found: list[CloudRecord] = []
        try:
            with translated("follow events"):
                if self.resource_version is None:
                    found += self._relist()
                try:
                    self._watch(timeout_s, found)
                except KubernetesGoneError:
                    found += self._relist()
        except KubernetesError as exc:
            return RecordBatch(tuple(found), complete=False, problems=(str(exc),))
        return RecordBatch(tuple(found), complete=True, watermark=max((r.time for r in found), default=None))
