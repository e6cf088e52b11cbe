"""The Kubernetes wiper against the real local apiserver and controller manager (no kubelet, no scheduler): the test
plays the kubelet's part, setting the wipe Job's pod status (the container's termination message with the script's
report) and the Job's status through their status subresources. A system namespace with two claims bound to
hostPath volumes (Retain) is listed exactly, wiped claim by claim (a failed Job and a report that is not zeros are
refused and retried), its volumes and then the namespace are gone, and another namespace is never touched."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kube  # tests/integration/kube.py: scenario setup on the real apiserver
import pytest
import yaml

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesConflictError, KubernetesNotFoundError
from adapters.kubernetes.wipe import REPORT, KubernetesWiper
from adapters.kubernetes.wipe_job import SAMPLE_BYTES, job_name
from controlplane.clock import SystemClock
from controlplane.termination.ports import Category, Method, TargetKind, WipeError, WipeTarget

ZEROS = hashlib.sha256(bytes(SAMPLE_BYTES)).hexdigest()
GIB = 1 << 30
WATCH_S = 60  # how long the test waits on the controller manager (a watch: it returns as soon as it happens)


def report(*, wrong_at: int | None = None) -> str:
    """What the wipe script prints for a 1 GiB claim read back as zeros (one sample not zero at ``wrong_at``)."""
    offsets = [i * (GIB - SAMPLE_BYTES) // 3 // SAMPLE_BYTES * SAMPLE_BYTES for i in range(4)]
    samples = [{"offset": o, "length": SAMPLE_BYTES, "sha256": "f" * 64 if o == wrong_at else ZEROS} for o in offsets]
    return json.dumps({"samples": samples, "size": GIB, "mode": "filesystem", "direct": 1}, separators=(",", ":"))


def first(cluster: Cluster, collection: str, match: Callable[[dict[str, Any]], bool], **query: str) -> dict[str, Any]:
    """The first object of the collection that matches, existing or still to come (a watch from now: it starts by
    listing what is there)."""
    for change in cluster.stream(
        collection, "watch", timeout_s=WATCH_S + 10, watch="1", timeoutSeconds=str(WATCH_S), **query
    ):
        obj = change.get("object") or {}
        if change.get("type") in {"ADDED", "MODIFIED"} and match(obj):
            return obj
    raise AssertionError(f"nothing in {collection} matched within {WATCH_S} s")


def put_status(cluster: Cluster, path: str, change: Callable[[dict[str, Any]], bool]) -> None:
    """Read, change the status, write it through the status subresource; again on a conflict (the controller
    manager writes the same objects). ``change`` returns False when there is nothing left to do."""
    for _ in range(10):
        current = cluster.get(path, "read for status")
        if not change(current):
            return
        try:
            cluster.request("PUT", f"{path}/status", "write status", body=current)
        except KubernetesConflictError:
            continue
        return
    raise AssertionError(f"{path}: status still conflicting")


def play_kubelet(cluster: Cluster, ns: str, claim: str, *, exit_code: int, message: str) -> dict[str, Any]:
    """The claim's wipe Job (waited for), its pod (made by the real Job controller) terminated with ``message``, and
    the Job marked Complete or Failed as a kubelet and the Job controller would leave them."""
    name = job_name(claim)
    job = first(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs", lambda _: True, fieldSelector=f"metadata.name={name}")
    uid = job["metadata"]["uid"]
    pod = first(cluster, f"/api/v1/namespaces/{ns}/pods", lambda _: True, labelSelector=f"controller-uid={uid}")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def terminate(p: dict[str, Any]) -> bool:
        p["status"].update(
            phase="Succeeded" if exit_code == 0 else "Failed",
            containerStatuses=[
                {
                    "name": "wipe",
                    "image": p["spec"]["containers"][0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "message": message,
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            ],
        )
        return True

    put_status(cluster, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}", terminate)
    kind = "Complete" if exit_code == 0 else "Failed"

    def finish(j: dict[str, Any]) -> bool:
        status = j.setdefault("status", {})
        if any(c["type"] in {"Complete", "Failed"} and c["status"] == "True" for c in status.get("conditions") or []):
            return False  # the real Job controller got there first, from the pod's phase
        condition = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
        if kind == "Failed":
            condition |= {"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
        status.update(conditions=[condition], active=0, startTime=status.get("startTime") or now)
        status.update(succeeded=1, completionTime=now) if exit_code == 0 else status.update(failed=1)
        return True

    put_status(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs/{name}", finish)
    return job


def volume(cluster: Cluster, name: str, path: str, ns: str, claim: str) -> None:
    kube.create(
        cluster,
        "/api/v1/persistentvolumes",
        {
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": path},
                "claimRef": {"namespace": ns, "name": claim},
            },
        },
    )
    kube.create(
        cluster,
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        {
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )


def exists(cluster: Cluster, path: str) -> bool:
    try:
        cluster.get(path, "read")
    except KubernetesNotFoundError:
        return False
    return True


@pytest.fixture
def scenario(kubeconfig: Path) -> Iterator[tuple[Cluster, str, str, str]]:
    """The system's namespace (claims ``a`` and ``b`` on hostPath volumes, Retain) and another one with a claim of
    its own; everything removed afterwards."""
    cluster = kube.connect(kubeconfig)
    tag = uuid.uuid4().hex[:6]
    ns, other = f"it-{tag}-wipe", f"it-{tag}-keep"
    for name in (ns, other):
        kube.namespace(cluster, name)
    volume(cluster, f"it-{tag}-pv-a", f"/srv/yunguan-it/{tag}/a", ns, "a")
    volume(cluster, f"it-{tag}-pv-b", f"/srv/yunguan-it/{tag}/b", ns, "b")
    volume(cluster, f"it-{tag}-pv-keep", f"/srv/yunguan-it/{tag}/keep", other, "keep")
    try:
        yield cluster, tag, ns, other
    finally:
        for name in (ns, other):
            kube.drop(cluster, name)
        for pv in ("a", "b", "c", "keep"):
            with contextlib.suppress(KubernetesNotFoundError):
                cluster.request("DELETE", f"/api/v1/persistentvolumes/it-{tag}-pv-{pv}", "delete pv")
        cluster.close()


def test_claims_wiped_then_volumes_then_namespace_and_nothing_else(scenario: tuple[Cluster, str, str, str]) -> None:
    cluster, tag, ns, other = scenario
    wiper = KubernetesWiper(
        "k8s-local",
        SystemClock(),
        cluster=cluster,
        job_timeout_s=WATCH_S,
        delete_timeout_s=WATCH_S,
        reclaim_timeout_s=WATCH_S,
    )
    listing = wiper.footprint([ns])
    assert listing.complete, listing.reason
    assert [(t.kind, t.id, t.phase) for t in listing.targets] == [
        (TargetKind.PVC, f"{ns}/a", 0),
        (TargetKind.PVC, f"{ns}/b", 0),
        (TargetKind.PERSISTENT_VOLUME, f"it-{tag}-pv-a", 1),
        (TargetKind.PERSISTENT_VOLUME, f"it-{tag}-pv-b", 1),
        (TargetKind.NAMESPACE, ns, 2),
    ]
    assert {t.group for t in listing.targets} == {ns}
    claim_a, claim_b, pv_a, pv_b, namespace = listing.targets
    assert claim_a.size_bytes == GIB and claim_a.attributes["volumeName"] == f"it-{tag}-pv-a"
    assert pv_a.attributes["reclaimPolicy"] == "Retain" and pv_a.attributes["source"] == "hostPath"

    # claim a: the wiper creates the Job and watches it; the test answers for the kubelet meanwhile
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(wiper.wipe, claim_a)
        job = play_kubelet(cluster, ns, "a", exit_code=0, message=report())
        outcome = running.result(timeout=WATCH_S * 2)
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "a"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert "dd if=/dev/zero" in pod["containers"][0]["command"][-1]
    assert (outcome.method, outcome.category, outcome.verified) == (Method.WIPE_JOB, Category.CLEAR, True)
    assert len(outcome.samples) == 4 and all(s.sha256 == s.expected_sha256 == ZEROS for s in outcome.samples)
    assert "claim deleted" in outcome.detail, outcome.detail
    assert wiper.gone(claim_a)
    assert not exists(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name('a')}")
    pv_a_now = cluster.get(f"/api/v1/persistentvolumes/it-{tag}-pv-a", "read pv")
    assert json.loads(pv_a_now["metadata"]["annotations"][REPORT])["samples"][0]["sha256"] == ZEROS
    again = wiper.wipe(claim_a)
    assert again.already_gone and again.samples == ()

    # claim b: a failed Job, then a report that is not zeros, are refused; the third attempt is verified
    wiper.start(claim_b)
    play_kubelet(cluster, ns, "b", exit_code=1, message="yunguan-wipe: overwrite: Input/output error")
    with pytest.raises(WipeError, match=rf"claim {ns}/b: .*BackoffLimitExceeded.*Input/output error"):
        wiper.wipe(claim_b)
    wiper.start(claim_b)  # the failed attempt is replaced by a new Job
    play_kubelet(cluster, ns, "b", exit_code=0, message=report(wrong_at=0))
    with pytest.raises(WipeError, match=rf"claim {ns}/b: read back not zero at offsets \[0\]"):
        wiper.wipe(claim_b)
    assert not wiper.gone(claim_b)  # nothing deleted on a refused verification
    wiper.start(claim_b)
    play_kubelet(cluster, ns, "b", exit_code=0, message=report())
    assert wiper.wipe(claim_b).verified

    # the namespace of the other system is refused outright while it holds a claim
    other_target = WipeTarget(cloud="k8s-local", kind=TargetKind.NAMESPACE, id=other, group=other, phase=2)
    with pytest.raises(WipeError, match="still holds claims not wiped: keep"):
        wiper.wipe(other_target)

    # the volumes: Retain set to Delete; hostPath has no deleter, so the objects are deleted (the data was zeroed)
    for target in (pv_a, pv_b):
        outcome = wiper.wipe(target)
        assert (outcome.method, outcome.category, outcome.verified) == (Method.DELETE, Category.NONE, False)
        assert "reclaim policy Retain set to Delete" in outcome.detail
        assert "the volume object deleted" in outcome.detail, outcome.detail
        assert wiper.gone(target)

    # the namespace, now without claims: the real namespace controller finishes the deletion
    outcome = wiper.wipe(namespace)
    assert outcome.detail == "namespace deleted" and wiper.gone(namespace)

    # the other namespace is as it was
    keep = cluster.get(f"/api/v1/namespaces/{other}/persistentvolumeclaims/keep", "read kept claim")
    assert "deletionTimestamp" not in keep["metadata"]
    assert exists(cluster, f"/api/v1/persistentvolumes/it-{tag}-pv-keep")
    assert cluster.get(f"/api/v1/namespaces/{other}", "read")["status"]["phase"] == "Active"
    assert wiper.footprint([ns]).targets == ()


def test_a_claim_deleted_by_someone_else_before_the_wipe_is_refused(
    scenario: tuple[Cluster, str, str, str],
) -> None:
    """No pod can mount a claim being deleted: the wiper says so instead of deleting the volume's data unseen."""
    cluster, _, ns, _ = scenario
    wiper = KubernetesWiper("k8s-local", SystemClock(), cluster=cluster, reclaim_timeout_s=WATCH_S)
    # a pod that is scheduled and uses the claim keeps it terminating (pvc-protection)
    kube.create(
        cluster,
        f"/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "user"},
            "spec": {
                "nodeName": "nowhere",
                "containers": [{"name": "c", "image": "busybox"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "a"}}],
            },
        },
    )
    try:
        cluster.request("DELETE", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/a", "delete claim")
        claim = next(t for t in wiper.footprint([ns]).targets if t.id == f"{ns}/a")
        with pytest.raises(WipeError, match=rf"claim {ns}/a is being deleted, but not after a Yunguan wipe"):
            wiper.wipe(claim)
        assert not exists(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name('a')}")
    finally:  # no kubelet will confirm the pod's end: remove it at once, so the namespace can go
        now = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/user", "delete pod", body=now)


def test_a_crash_after_the_report_resumes_and_a_backend_that_deletes_is_said(
    scenario: tuple[Cluster, str, str, str], tmp_path: Path
) -> None:
    """The report kept on the claim (as the wiper leaves it just before deleting the claim) is used instead of a
    second Job; a volume the backend can delete (v1.20's hostPath deleter removes paths under /tmp) is deleted by it,
    its directory with it."""
    cluster, tag, ns, _ = scenario
    wiper = KubernetesWiper("k8s-local", SystemClock(), cluster=cluster, reclaim_timeout_s=WATCH_S)
    storage = tmp_path / "c"
    storage.mkdir()
    (storage / "data").write_bytes(bytes(4096))
    volume(cluster, f"it-{tag}-pv-c", str(storage), ns, "c")
    first(
        cluster,
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        lambda c: (c.get("status") or {}).get("phase") == "Bound",
        fieldSelector="metadata.name=c",
    )
    kept = {"metadata": {"annotations": {REPORT: report()}}}
    for path in (f"/api/v1/namespaces/{ns}/persistentvolumeclaims/c", f"/api/v1/persistentvolumes/it-{tag}-pv-c"):
        cluster.request("PATCH", path, "keep report", body=kept, content_type="application/merge-patch+json")
    claim, pv = (t for t in wiper.footprint([ns]).targets if t.id in {f"{ns}/c", f"it-{tag}-pv-c"})
    outcome = wiper.wipe(claim)
    assert outcome.verified and "resumed from the report kept on the claim" in outcome.detail, outcome.detail
    assert not exists(cluster, f"/apis/batch/v1/namespaces/{ns}/jobs/{job_name('c')}")
    outcome = wiper.wipe(pv)
    assert "the storage backend (hostPath) deleted the volume and its storage" in outcome.detail, outcome.detail
    assert outcome.category is Category.NONE and wiper.gone(pv)
    assert not storage.exists()


def test_unreachable_apiserver_gives_an_incomplete_footprint(kubeconfig: Path, tmp_path: Path) -> None:
    broken = yaml.safe_load(kubeconfig.read_text())
    broken["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(broken))
    wiper = KubernetesWiper("k8s-local", SystemClock(), kubeconfig=path, context=kube.CONTEXT)
    listing = wiper.footprint(["anything"])
    assert not listing.complete and listing.targets == ()
    assert "127.0.0.1" in listing.reason or "Connection" in listing.reason, listing.reason
