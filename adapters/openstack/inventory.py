"""Reading one OpenStack cloud into an ``Inventory``: projects, servers (flavor embedded), volumes, quotas.

Listings use marker pagination with all projects at admin scope; every HTTP request is counted. A listing that
fails (after the session's own retries) does not stop the others, but marks the inventory incomplete with the
reason, so the engine draws no conclusion from what it did not see.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from adapters.openstack.convert import (
    group_from,
    host_from,
    nova_time,
    parse_time,
    quota_from,
    record_from,
    server_from,
    snapshot_from,
    volume_from,
)
from adapters.openstack.errors import OpenStackError, translated
from adapters.openstack.paging import pages
from controlplane.clock import Clock
from controlplane.reconcile.observed import Inventory, ObservedHost, ObservedQuota
from controlplane.records import CloudRecord, RecordBatch

T = TypeVar("T")
ACTION_LOOKBACK = dt.timedelta(hours=1)  # actions are asked from this long before the cursor (late finishers)
COMPUTE_MICROVERSION = "2.87"  # >= 2.47 embeds the flavor in each server; 2.87 gives full hypervisor fields
NOVA_VERSION = COMPUTE_MICROVERSION


@contextlib.contextmanager
def quiet_sdk() -> Iterator[None]:
    """openstacksdk 4.x warns about its own internals (InfluxDB support on every connection, a 'service_type'
    argument its proxies pass themselves) and about hypervisor capacity fields that compute microversion 2.87 still
    returns and that we ask for on purpose: nothing a caller can act on, so not passed on."""
    from openstack import warnings as sdk_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sdk_warnings.RemovedInSDK50Warning)
        warnings.simplefilter("ignore", sdk_warnings.RemovedInSDK60Warning)
        warnings.simplefilter("ignore", sdk_warnings.RemovedFieldWarning)
        yield


class RequestCounter:
    """Counts HTTP requests made through a keystoneauth session."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: Any, *_args: Any, **_kwargs: Any) -> Any:
        self.count += 1
        return response


def connect(cloud_name: str, **options: Any) -> Any:
    """A connection from clouds.yaml (``OS_CLIENT_CONFIG_FILE`` and openstacksdk's other conventions)."""
    import openstack

    with translated(f"connect to {cloud_name}"), quiet_sdk():
        conn = openstack.connect(cloud=cloud_name, compute_api_version="2", **options)
        conn.compute.default_microversion = COMPUTE_MICROVERSION
        return conn


class OpenStackInventory:
    """An inventory source for one cloud; connects on first use, so a dead cloud gives an incomplete inventory."""

    def __init__(
        self,
        cloud: str,
        clock: Clock,
        *,
        connection: str | None = None,
        page_size: int = 1000,
        quota_workers: int = 8,
        conn: Any = None,
    ) -> None:
        self.cloud = cloud
        self.connection = connection or cloud
        self.clock = clock
        self.page_size = page_size
        self.quota_workers = quota_workers
        self.requests = RequestCounter()
        self.conn = conn
        if conn is not None:
            self._count(conn)

    def _count(self, conn: Any) -> None:
        conn.session.session.hooks.setdefault("response", []).append(self.requests)

    def take(self) -> Inventory:
        with quiet_sdk():
            return self._take()

    def _take(self) -> Inventory:
        taken_at = self.clock.now()
        problems: list[str] = []
        start = self.requests.count
        if self.conn is None:
            try:
                self.conn = connect(self.connection)
                self._count(self.conn)
            except OpenStackError as exc:
                return Inventory(cloud=self.cloud, taken_at=taken_at, complete=False, problems=(str(exc),))

        def listing(what: str, read: Callable[[], Iterable[T]]) -> list[T]:
            try:
                with translated(what):
                    return list(read())
            except OpenStackError as exc:
                problems.append(str(exc))
                return []

        compute, storage, identity = self.conn.compute, self.conn.block_storage, self.conn.identity
        everyone, limit = {"all_tenants": "True"}, {"limit": self.page_size}
        projects = listing("list projects", identity.projects)
        groups = [group_from(p) for p in projects]
        # the listings are independent: run them side by side while the quotas (2 requests a project) go too
        with ThreadPoolExecutor(max_workers=5) as pool:
            servers_f = pool.submit(
                listing,
                "list servers",
                lambda: map(server_from, pages(compute, "/servers/detail", "servers", everyone | limit, NOVA_VERSION)),
            )
            volumes_f = pool.submit(
                listing,
                "list volumes",
                lambda: map(volume_from, pages(storage, "/volumes/detail", "volumes", everyone | limit)),
            )
            snapshots_f = pool.submit(
                listing,
                "list snapshots",
                lambda: map(snapshot_from, pages(storage, "/snapshots/detail", "snapshots", everyone | limit)),
            )
            others_f = pool.submit(
                lambda: (
                    listing("list availability zones", lambda: (z.name for z in compute.availability_zones())),
                    listing("list hypervisors", lambda: (host_from(h) for h in compute.hypervisors(details=True))),
                )
            )
            quotas = self._quotas([g.id for g in groups], problems)
            servers, volumes, snapshots = servers_f.result(), volumes_f.result(), snapshots_f.result()
            zones, hosts = others_f.result()
        return Inventory(
            cloud=self.cloud,
            taken_at=taken_at,
            complete=not problems,
            problems=tuple(problems),
            api_calls=self.requests.count - start,
            groups=tuple(groups),
            servers=tuple(servers),
            volumes=tuple(volumes),
            snapshots=tuple(snapshots),
            quotas=tuple(quotas),
            zones=tuple(zones),
            hosts=tuple(hosts),
        )

    def hypervisors(self) -> tuple[list[ObservedHost], str]:
        """The compute hosts alone (for the libvirt collector's discovery), without the whole inventory; with the
        reason when they could not be listed."""
        try:
            with quiet_sdk():
                if self.conn is None:
                    self.conn = connect(self.connection)
                    self._count(self.conn)
                with translated("list hypervisors"):
                    return [host_from(h) for h in self.conn.compute.hypervisors(details=True)], ""
        except OpenStackError as exc:
            return [], str(exc)

    def _quotas(self, project_ids: list[str], problems: list[str]) -> list[ObservedQuota]:
        """Nova and Cinder have no bulk quota listing: two requests per project, run a few at a time."""

        def one(project_id: str) -> ObservedQuota | str:
            try:
                with translated(f"read quotas of project {project_id}"):
                    compute = self.conn.compute.get_quota_set(project_id)
                    volume = self.conn.block_storage.get_quota_set(project_id)
                    return quota_from(project_id, compute, volume)
            except OpenStackError as exc:
                return str(exc)

        found: list[ObservedQuota] = []
        with ThreadPoolExecutor(max_workers=self.quota_workers) as pool:
            for answer in pool.map(one, project_ids):
                if isinstance(answer, str):
                    problems.append(answer)
                else:
                    found.append(answer)
        return found

    # -- operation records -----------------------------------------------------------------------------------

    source = "nova.instance_action"

    def records(self, since: dt.datetime | None) -> RecordBatch:
        """Nova instance actions of the servers changed since ``since`` (deleted ones included): a quiet cloud
        costs one request. The watermark is the newest `updated` among those servers, by Nova's own clock; actions
        are asked from an hour before the cursor, so an action that finished late is not lost (the core drops the
        ones already logged)."""
        with quiet_sdk():
            return self._records(since)

    def _records(self, since: dt.datetime | None) -> RecordBatch:
        if self.conn is None:
            try:
                self.conn = connect(self.connection)
                self._count(self.conn)
            except OpenStackError as exc:
                return RecordBatch((), complete=False, problems=(str(exc),))
        compute = self.conn.compute
        query: dict[str, Any] = {"all_tenants": "True", "limit": self.page_size}
        if since:
            query["changes-since"] = nova_time(since)
        try:
            with translated("list changed servers"):
                listed = pages(compute, "/servers/detail", "servers", query, NOVA_VERSION)
                servers = [(s["id"], s.get("name") or "", s.get("updated")) for s in listed]
        except OpenStackError as exc:
            return RecordBatch((), complete=False, problems=(str(exc),))
        watermark = max((parse_time(u) for _, _, u in servers if u), default=since)
        asked = {"changes_since": nova_time(since - ACTION_LOOKBACK)} if since else {}
        found: list[CloudRecord] = []
        problems: list[str] = []
        for server_id, name, _ in servers:
            try:
                with translated(f"list actions of server {server_id}"):
                    actions = compute.server_actions(server_id, **asked)
                    found.extend(record_from(self.source, server_id, name, a) for a in actions)
            except OpenStackError as exc:
                problems.append(str(exc))
        return RecordBatch(tuple(found), complete=not problems, problems=tuple(problems), watermark=watermark)
