"""The Kubernetes wiper's pure parts: the wipe Job's name and manifest, reading its report, and the footprint's
targets built from apiserver JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from adapters.kubernetes.wipe import KubernetesWiper
from adapters.kubernetes.wipe_footprint import claim_target, in_namespace, namespace_target, ordered, volume_target
from adapters.kubernetes.wipe_job import (
    DEFAULT_IMAGE,
    BadReportError,
    failure_reason,
    finished,
    job_manifest,
    job_name,
    samples_from,
    termination_messages,
    wipes_claim,
    zeros_sha256,
)
from controlplane.clock import FixedClock
from controlplane.config import CloudSettings
from controlplane.termination.ports import TargetKind, WipeError, Wiper, WipeTarget, open_wiper

ZERO_64K = hashlib.sha256(bytes(65536)).hexdigest()


def report(*samples: tuple[int, int, str], size: int = 1 << 20) -> str:
    body = [{"offset": o, "length": n, "sha256": h} for o, n, h in samples]
    return json.dumps({"samples": body, "size": size, "mode": "filesystem", "direct": 1})


def test_job_name_is_the_claims_and_always_a_dns_label() -> None:
    """The same claim gives the same name; a long or dotted claim is cut and hashed, never over 63 characters."""
    assert job_name("data") == "yunguan-wipe-data"
    long = "x" * 200
    assert job_name(long) == job_name(long)
    assert len(job_name(long)) <= 63
    assert job_name("a.b") != job_name("a-b")
    assert len(job_name("db.primary.0")) <= 63
    assert all(c.isalnum() or c == "-" for c in job_name("db.primary.0"))


def test_manifest_mounts_the_claim_and_overwrites_with_zeros() -> None:
    """A filesystem claim is mounted, a block claim attached as a device; one try only; requests and limits set."""
    job = job_manifest("ns1", "data", block=False, capacity_bytes=1 << 30)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert job["metadata"]["name"] == "yunguan-wipe-data"
    assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert container["image"] == DEFAULT_IMAGE
    script = container["command"][-1]
    assert "dd if=/dev/zero" in script and "sha256sum" in script and "rm -rf" in script
    assert {"name": "CAPACITY", "value": str(1 << 30)} in container["env"]
    assert job["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert wipes_claim(job, "data") and not wipes_claim(job, "other")

    block = job_manifest("ns1", "raw", block=True, capacity_bytes=0, image="registry.local/busybox:1.36")
    device = block["spec"]["template"]["spec"]["containers"][0]
    assert device["volumeDevices"] == [{"name": "data", "devicePath": "/dev/yunguan-wipe"}]
    assert "volumeMounts" not in device and device["image"] == "registry.local/busybox:1.36"
    assert {"name": "MODE", "value": "block"} in device["env"]


def test_a_job_of_the_same_name_that_is_not_ours_is_not_reused() -> None:
    foreign = {"metadata": {"name": "yunguan-wipe-data", "labels": {}}, "spec": {}}
    assert not wipes_claim(foreign, "data")


def test_samples_are_checked_against_the_hash_of_zeros() -> None:
    """Each sample carries the hash zeros of its length have; the report's size bounds the offsets."""
    samples, facts = samples_from(report((0, 65536, ZERO_64K), (65536, 65536, "ab" * 32)))
    assert [s.expected_sha256 for s in samples] == [ZERO_64K, ZERO_64K]
    assert samples[0].sha256 == samples[0].expected_sha256
    assert samples[1].sha256 != samples[1].expected_sha256
    assert facts == {"size": 1 << 20, "mode": "filesystem", "direct": 1}
    assert zeros_sha256(1) == hashlib.sha256(b"\0").hexdigest()


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("yunguan-wipe: overwrite: I/O error", "not the wipe script's report"),
        ('{"samples": []}', "no samples"),
        ('{"samples": [{"offset": 0}]}', "not the wipe script's report"),
        (report((1 << 20, 65536, ZERO_64K)), "outside"),
    ],
)
def test_a_report_that_is_not_one_is_refused(message: str, why: str) -> None:
    with pytest.raises(BadReportError, match=why):
        samples_from(message)


def test_job_state_and_failure_reason_from_its_status() -> None:
    assert finished(None) == "" and finished({"status": {}}) == ""
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {
        "status": {
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "has reached limit"}
            ]
        }
    }
    assert finished(done) == "Complete" and finished(failed) == "Failed"
    assert failure_reason(failed) == "BackoffLimitExceeded: has reached limit"
    pod = {
        "status": {
            "containerStatuses": [
                {"name": "wipe", "state": {"terminated": {"exitCode": 1, "message": "yunguan-wipe: no space\n"}}},
                {"name": "sidecar", "state": {"terminated": {"exitCode": 0, "message": "x"}}},
            ]
        }
    }
    assert termination_messages([pod, {"status": {}}]) == [(1, "yunguan-wipe: no space")]


def test_footprint_targets_from_claims_and_volumes() -> None:
    """Claims phase 0 with their facts, volumes phase 1 found by claimRef, the namespace last."""
    claim = {
        "metadata": {"namespace": "sys", "name": "data"},
        "spec": {"storageClassName": "local", "volumeName": "pv-1", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}},
    }
    pv = {
        "metadata": {"name": "pv-1"},
        "spec": {
            "capacity": {"storage": "2Gi"},
            "hostPath": {"path": "/srv/x"},
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "sys", "name": "data"},
        },
        "status": {"phase": "Bound"},
    }
    pvc_t, pv_t, ns_t = claim_target("k8s", claim), volume_target("k8s", pv), namespace_target("k8s", "sys")
    assert (pvc_t.kind, pvc_t.id, pvc_t.group, pvc_t.size_bytes, pvc_t.phase) == (
        TargetKind.PVC,
        "sys/data",
        "sys",
        2 << 30,
        0,
    )
    assert pvc_t.attributes["volumeName"] == "pv-1" and pvc_t.attributes["volumeMode"] == "Filesystem"
    assert (pv_t.kind, pv_t.group, pv_t.phase) == (TargetKind.PERSISTENT_VOLUME, "sys", 1)
    assert pv_t.attributes == {
        "claim": "sys/data",
        "reclaimPolicy": "Retain",
        "storageClass": "",
        "source": "hostPath",
        "status": "Bound",
    }
    assert in_namespace(pv, "sys") and not in_namespace(pv, "other")
    assert [t.kind for t in ordered([ns_t, pv_t, pvc_t])] == [
        TargetKind.PVC,
        TargetKind.PERSISTENT_VOLUME,
        TargetKind.NAMESPACE,
    ]


def test_the_platforms_own_namespaces_are_never_wiped() -> None:
    """Refused before anything is asked of the cluster (this wiper has none to ask)."""
    wiper = KubernetesWiper(
        "k8s", FixedClock(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)), ignore_namespaces=("kube-system",)
    )
    for target in (
        WipeTarget(cloud="k8s", kind=TargetKind.PVC, id="kube-system/etcd", group="kube-system"),
        WipeTarget(cloud="k8s", kind=TargetKind.PERSISTENT_VOLUME, id="pv-9", group="kube-system", phase=1),
        WipeTarget(cloud="k8s", kind=TargetKind.NAMESPACE, id="kube-system", group="kube-system", phase=2),
    ):
        with pytest.raises(WipeError, match="namespace of the platform's own"):
            wiper.wipe(target)


def test_a_kubernetes_cloud_opens_this_wiper_through_its_entry_point(tmp_path: Path) -> None:
    """The core finds the wiper by the cloud's kind; the platform's namespaces come with the cloud's defaults."""
    cloud = CloudSettings.model_validate(
        {"name": "k8s", "kind": "kubernetes", "vendor": "v", "zone": "internet", "kubeconfig": str(tmp_path / "kc")}
    )
    wiper = open_wiper(cloud, FixedClock(dt.datetime(2026, 12, 1, tzinfo=dt.UTC)))
    assert isinstance(wiper, KubernetesWiper) and isinstance(wiper, Wiper)
    assert "kube-system" in wiper.ignore and wiper.kubeconfig == tmp_path / "kc"
