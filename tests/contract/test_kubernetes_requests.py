"""The exact requests the Kubernetes adapter sends, and what it makes of scripted answers (403, 404, 409, 410, 429,
5xx), against pytest-httpserver. Behaviour against a real apiserver is in tests/integration."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapters.kubernetes.actions import KubernetesActions
from adapters.kubernetes.client import Cluster, no_transport_retries
from adapters.kubernetes.errors import KubernetesAuthError, KubernetesUnavailableError
from adapters.kubernetes.events import EventWatch
from adapters.kubernetes.inventory import KubernetesInventory
from controlplane.clock import FixedClock
from controlplane.domain import Quantities

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
EMPTY: dict[str, Any] = {"kind": "List", "metadata": {}, "items": []}


def listing(items: list[dict[str, Any]], token: str = "") -> dict[str, Any]:
    return {"kind": "List", "metadata": {"continue": token} if token else {}, "items": items}


def namespace(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {}}}


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def cluster(httpserver: HTTPServer, slept: list[float]) -> Cluster:
    from kubernetes import client

    configuration = client.Configuration(host=httpserver.url_for("").rstrip("/"))
    configuration.api_key = {"BearerToken": "Bearer t0ken-not-logged"}
    configuration.retries = no_transport_retries()
    return Cluster(client.ApiClient(configuration), slept.append, retries=2)


def others_empty(httpserver: HTTPServer, *skip: str) -> None:
    for path in (
        "/api/v1/namespaces",
        "/api/v1/resourcequotas",
        "/api/v1/limitranges",
        "/api/v1/persistentvolumeclaims",
    ):
        if path not in skip:
            httpserver.expect_request(path, method="GET").respond_with_json(EMPTY)
    if "/api/v1/persistentvolumes" not in skip:
        httpserver.expect_request("/api/v1/persistentvolumes", method="GET").respond_with_json(EMPTY)


def test_lists_page_with_limit_and_continue(httpserver: HTTPServer, cluster: Cluster) -> None:
    """Every list asks `limit`; the next page repeats the query with the `continue` token, and stops without one."""
    # the lists run side by side: each page is matched by its query, once
    httpserver.expect_oneshot_request(
        "/api/v1/namespaces", query_string={"limit": "2"}, method="GET"
    ).respond_with_json(listing([namespace("a"), namespace("b")], token="t1"))
    httpserver.expect_oneshot_request(
        "/api/v1/namespaces", query_string={"limit": "2", "continue": "t1"}, method="GET"
    ).respond_with_json(listing([namespace("c")]))
    others_empty(httpserver, "/api/v1/namespaces")
    inventory = KubernetesInventory("k", FixedClock(NOW), cluster=cluster, page_size=2).take()
    assert inventory.complete, inventory.problems
    assert [g.name for g in inventory.groups] == ["a", "b", "c"]
    assert inventory.api_calls == 6
    asked = {(r.path, r.query_string.decode()) for r, _ in httpserver.log}
    assert ("/api/v1/persistentvolumes", "limit=2") in asked
    assert all(r.headers["Authorization"] == "Bearer t0ken-not-logged" for r, _ in httpserver.log)


def test_expired_continue_token_makes_the_inventory_incomplete(httpserver: HTTPServer, cluster: Cluster) -> None:
    """410 Gone on page 2 is never a short list: the inventory is incomplete and says why."""
    httpserver.expect_request("/api/v1/namespaces", query_string={"limit": "2"}).respond_with_json(
        listing([namespace("a"), namespace("b")], token="t1")
    )
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "The provided continue parameter is too old"}
    httpserver.expect_request("/api/v1/namespaces", query_string={"limit": "2", "continue": "t1"}).respond_with_json(
        gone, status=410
    )
    others_empty(httpserver, "/api/v1/namespaces")
    inventory = KubernetesInventory("k", FixedClock(NOW), cluster=cluster, page_size=2).take()
    assert not inventory.complete
    assert inventory.problems == ("list namespaces: HTTP 410: The provided continue parameter is too old",)


def test_429_is_retried_after_retry_after_then_given_up(
    httpserver: HTTPServer, cluster: Cluster, slept: list[float]
) -> None:
    """Too many requests: wait as told (through the injected sleep) and ask again; after the retries, unavailable."""
    busy = Response(json.dumps({"kind": "Status", "message": "slow down"}), status=429, headers={"Retry-After": "3"})
    httpserver.expect_ordered_request("/api/v1/namespaces/a").respond_with_response(busy)
    httpserver.expect_ordered_request("/api/v1/namespaces/a").respond_with_json(namespace("a"))
    assert cluster.get("/api/v1/namespaces/a", "read a")["metadata"]["name"] == "a"
    assert slept == [3.0]
    httpserver.expect_request("/api/v1/namespaces/b").respond_with_response(busy)
    with pytest.raises(KubernetesUnavailableError, match="read b: HTTP 429: slow down"):
        cluster.get("/api/v1/namespaces/b", "read b")
    assert slept == [3.0, 3.0, 3.0]


def test_server_error_is_unavailable_and_the_token_never_in_the_message(
    httpserver: HTTPServer, cluster: Cluster
) -> None:
    httpserver.expect_request("/api/v1/namespaces").respond_with_data("etcd timeout t0ken-not-logged", status=500)
    others_empty(httpserver, "/api/v1/namespaces")
    inventory = KubernetesInventory("k", FixedClock(NOW), cluster=cluster).take()
    assert not inventory.complete
    assert inventory.problems[0].startswith("list namespaces: HTTP 500:")


def test_set_quota_creates_when_missing(httpserver: HTTPServer, cluster: Cluster) -> None:
    """No quota yet: one POST of a ResourceQuota holding the approval as requests.*; then read back."""
    path = "/api/v1/namespaces/ns1/resourcequotas"
    hard = {"requests.cpu": "2", "requests.memory": "4294967296", "requests.storage": "107374182400"}
    created = {"metadata": {"name": "yunguan-allocation", "resourceVersion": "7"}, "spec": {"hard": hard}}
    httpserver.expect_ordered_request(f"{path}/yunguan-allocation", method="GET").respond_with_json(
        {"kind": "Status", "code": 404}, status=404
    )
    httpserver.expect_ordered_request(path, method="POST").respond_with_json(created, status=201)
    httpserver.expect_ordered_request(f"{path}/yunguan-allocation", method="GET").respond_with_json(created)
    target = Quantities(vcpu=Decimal(2), memory_bytes=4 * 1024**3, storage_bytes=100 * 1024**3)
    assert KubernetesActions(cluster, FixedClock(NOW), lambda _: None).set_quota("ns1", target) is True
    post = next(r for r, _ in httpserver.log if r.method == "POST")
    assert post.headers["Content-Type"] == "application/json"
    assert post.get_json()["spec"]["hard"] == hard
    assert post.get_json()["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "yunguan"}


def test_set_quota_patches_with_resource_version_and_retries_a_conflict(
    httpserver: HTTPServer, cluster: Cluster
) -> None:
    """A merge patch carrying the resourceVersion read; 409 (changed under us) makes it read again and re-patch."""
    path = "/api/v1/namespaces/ns1/resourcequotas/yunguan-allocation"
    old = {"metadata": {"name": "q", "resourceVersion": "10"}, "spec": {"hard": {"requests.cpu": "8", "pods": "5"}}}
    newer = {"metadata": {"name": "q", "resourceVersion": "11"}, "spec": old["spec"]}
    hard = {"requests.cpu": "500m", "requests.memory": "1073741824", "requests.storage": "0"}
    done = {"metadata": {"name": "q", "resourceVersion": "12"}, "spec": {"hard": hard}}
    httpserver.expect_ordered_request(path, method="GET").respond_with_json(old)
    httpserver.expect_ordered_request(path, method="PATCH").respond_with_json({"kind": "Status", "code": 409}, 409)
    httpserver.expect_ordered_request(path, method="GET").respond_with_json(newer)
    httpserver.expect_ordered_request(path, method="PATCH").respond_with_json(done)
    httpserver.expect_ordered_request(path, method="GET").respond_with_json(done)
    target = Quantities(vcpu=Decimal("0.5"), memory_bytes=1024**3)
    assert KubernetesActions(cluster, FixedClock(NOW), lambda _: None).set_quota("ns1", target) is True
    patches: list[Request] = [r for r, _ in httpserver.log if r.method == "PATCH"]
    assert [p.headers["Content-Type"] for p in patches] == ["application/merge-patch+json"] * 2
    assert [json.loads(p.data)["metadata"]["resourceVersion"] for p in patches] == ["10", "11"]
    assert json.loads(patches[1].data)["spec"]["hard"] == hard | {"pods": None}  # a limit we do not set is removed


def test_set_quota_already_as_approved_sends_nothing(httpserver: HTTPServer, cluster: Cluster) -> None:
    """Equal as quantities ("4" == "4000m", "4Gi" == 4294967296): a read and no write."""
    hard = {"requests.cpu": "4000m", "requests.memory": "4Gi", "requests.storage": "0"}
    httpserver.expect_request("/api/v1/namespaces/ns1/resourcequotas/yunguan-allocation").respond_with_json(
        {"metadata": {"name": "q", "resourceVersion": "3"}, "spec": {"hard": hard}}
    )
    target = Quantities(vcpu=Decimal(4), memory_bytes=4 * 1024**3)
    assert KubernetesActions(cluster, FixedClock(NOW), lambda _: None).set_quota("ns1", target) is False
    assert [r.method for r, _ in httpserver.log] == ["GET"]


def test_forbidden_is_an_auth_error(httpserver: HTTPServer, cluster: Cluster) -> None:
    message = 'namespaces "ns1" is forbidden: User "u" cannot patch resource "namespaces"'
    httpserver.expect_request("/api/v1/namespaces/ns1", method="GET").respond_with_json(namespace("ns1"))
    httpserver.expect_request("/api/v1/namespaces/ns1", method="PATCH").respond_with_json(
        {"kind": "Status", "code": 403, "message": message}, status=403
    )
    with pytest.raises(KubernetesAuthError, match=f"annotate namespace ns1: HTTP 403: {message}"):
        KubernetesActions(cluster, FixedClock(NOW), lambda _: None).annotate("ns1", {"finding": "F-1"})


def test_delete_of_a_namespace_already_gone_is_a_no_op(httpserver: HTTPServer, cluster: Cluster) -> None:
    httpserver.expect_request("/api/v1/namespaces/ns1", method="DELETE").respond_with_json({"code": 404}, 404)
    assert KubernetesActions(cluster, FixedClock(NOW), lambda _: None).delete_namespace("ns1") is False


def event(uid: str, count: int = 1, namespace: str = "ns1") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": namespace, "name": uid, "resourceVersion": "0"},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "p"},
        "reason": "Started",
        "count": count,
        "lastTimestamp": "2026-11-20T08:00:00Z",
        "source": {"component": "kubelet"},
    }


def test_event_watch_resumes_from_the_list_and_relists_on_410(httpserver: HTTPServer, cluster: Cluster) -> None:
    """List (resourceVersion 100), watch from 100; an ERROR 410 in the stream lists again and watches from there."""
    first = {"kind": "EventList", "metadata": {"resourceVersion": "100"}, "items": [event("e1")]}
    again = {"kind": "EventList", "metadata": {"resourceVersion": "300"}, "items": [event("e1"), event("e2", 2)]}
    httpserver.expect_ordered_request("/api/v1/events", query_string={"limit": "500"}).respond_with_json(first)
    lines = [
        {"type": "ADDED", "object": event("e2") | {"metadata": event("e2")["metadata"] | {"resourceVersion": "150"}}},
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version: 100"}},
    ]
    httpserver.expect_ordered_request(
        "/api/v1/events",
        query_string={"watch": "1", "resourceVersion": "100", "allowWatchBookmarks": "true", "timeoutSeconds": "5"},
    ).respond_with_data("\n".join(json.dumps(x) for x in lines) + "\n", content_type="application/json")
    httpserver.expect_ordered_request("/api/v1/events", query_string={"limit": "500"}).respond_with_json(again)
    watch = EventWatch(cluster)
    batch = watch.poll(timeout_s=5)
    assert batch.complete, batch.problems
    assert [r.record_id for r in batch.records] == ["e1/1", "e2/1", "e1/1", "e2/2"]
    assert (watch.resource_version, watch.relists) == ("300", 2)
