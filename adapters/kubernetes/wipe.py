"""The ``yunguan.wipers`` entry for Kubernetes: a system's namespaces emptied the way issue 8 says.

A claim (phase 0) is overwritten by a wipe Job (``wipe_job.py``) and its read-back samples checked against the hash of
zeros; the report is put on the claim and on its volume as the ``yunguan.io/wipe-report`` annotation before the claim
is deleted, so a crash after that point resumes from the report instead of wiping again, and the volume step knows
its data was overwritten. A volume (phase 1) is deleted whatever its reclaim policy: set to ``Delete`` so the storage
backend releases the disk; a volume the backend cannot delete (static storage: hostPath, local, NFS) has its object
deleted, and that is said in the outcome. The namespace (phase 2) is deleted only when no claim is left in it.

Only a wipe Job's outcome is ``verified`` (its samples read back as zeros); a deletion has no bytes to read back, its
outcome says whether the object was seen gone, and ``gone`` reads it back again.

Every wait is a watch bounded by the injected clock (``watching.py``), so nothing here sleeps; the Job's result is
its pod's termination message, read from the Pod status.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.kubernetes.client import Cluster, Sleep
from adapters.kubernetes.errors import KubernetesConflictError, KubernetesError, KubernetesNotFoundError
from adapters.kubernetes.watching import Object, read, wait_for
from adapters.kubernetes.wipe_footprint import (
    claim_capacity,
    claim_target,
    in_namespace,
    namespace_target,
    ordered,
    volume_source,
    volume_target,
)
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
)
from controlplane.clock import Clock
from controlplane.config import CloudSettings
from controlplane.termination.ports import (
    Category,
    FootprintListing,
    Method,
    Sample,
    TargetKind,
    WipeError,
    WipeOutcome,
    WipeTarget,
)

REPORT = "yunguan.io/wipe-report"
MERGE_PATCH = "application/merge-patch+json"
VOLUMES = "/api/v1/persistentvolumes"
BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}


def _deleted(obj: Object | None) -> bool:
    return obj is None


def _released(volume: Object | None) -> bool:
    """Deleted by the storage backend, or given up on by it (phase Failed: no plugin can delete this storage)."""
    return volume is None or (volume.get("status") or {}).get("phase") == "Failed"


def _terminating(obj: dict[str, Any] | None) -> bool:
    return bool(obj and (obj.get("metadata") or {}).get("deletionTimestamp"))


class KubernetesWiper:
    """Wipes and removes the claims, volumes and namespaces of one cluster; connects on first use."""

    def __init__(
        self,
        cloud: str,
        clock: Clock,
        *,
        kubeconfig: Path | None = None,
        context: str | None = None,
        cluster: Cluster | None = None,
        sleep: Sleep = time.sleep,
        page_size: int = 500,
        ignore_namespaces: tuple[str, ...] = (),
        image: str = DEFAULT_IMAGE,
        job_deadline_s: int = 4 * 3600,
        job_timeout_s: float | None = None,
        delete_timeout_s: float = 300.0,
        reclaim_timeout_s: float = 300.0,
    ) -> None:
        self.cloud = cloud
        self.clock = clock
        self.kubeconfig = kubeconfig
        self.context = context
        self.cluster = cluster
        self.sleep = sleep
        self.page_size = page_size
        self.ignore = frozenset(ignore_namespaces)
        self.image = image
        self.job_deadline_s = job_deadline_s  # the Job's activeDeadlineSeconds
        # how long ``wipe`` waits for the Job: a little longer than its deadline, so the Job's own end is seen
        self.job_timeout_s = job_timeout_s if job_timeout_s is not None else job_deadline_s + 600.0
        self.delete_timeout_s = delete_timeout_s
        self.reclaim_timeout_s = reclaim_timeout_s

    def connected(self) -> Cluster:
        if self.cluster is None:
            self.cluster = Cluster.connect(self.kubeconfig, self.context, self.sleep)
        return self.cluster

    # -- footprint -----------------------------------------------------------------------------------------------

    def footprint(self, groups: Sequence[str]) -> FootprintListing:
        problems = [
            f"namespace {g} is the platform's own (ignore_groups): never wiped" for g in groups if g in self.ignore
        ]
        try:
            cluster = self.connected()
            volumes = list(cluster.items("/api/v1/persistentvolumes", "list persistentvolumes", self.page_size))
        except KubernetesError as exc:
            return FootprintListing(targets=(), complete=False, reason=str(exc))
        targets: list[WipeTarget] = []
        for namespace in dict.fromkeys(groups):
            if namespace in self.ignore:
                continue
            targets += [volume_target(self.cloud, pv) for pv in volumes if in_namespace(pv, namespace)]
            try:
                if read(cluster, f"/api/v1/namespaces/{namespace}", f"read namespace {namespace}") is None:
                    continue
                path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
                claims = list(cluster.items(path, f"list claims of {namespace}", self.page_size))
            except KubernetesError as exc:
                problems.append(str(exc))
                continue
            targets += [claim_target(self.cloud, claim) for claim in claims]
            targets.append(namespace_target(self.cloud, namespace))
        return FootprintListing(targets=ordered(targets), complete=not problems, reason="; ".join(problems))

    # -- wipe ----------------------------------------------------------------------------------------------------

    def wipe(self, target: WipeTarget) -> WipeOutcome:
        started = self.clock.now()
        if _namespace_of(target) in self.ignore:
            raise WipeError(f"{target.kind.value} {target.id} is in a namespace of the platform's own: never wiped")
        try:
            if target.kind is TargetKind.PVC:
                return self._wipe_claim(target, started)
            if target.kind is TargetKind.PERSISTENT_VOLUME:
                return self._delete_volume(target, started)
            if target.kind is TargetKind.NAMESPACE:
                return self._delete_namespace(target, started)
        except KubernetesError as exc:
            raise WipeError(f"{target.kind.value} {target.id} on {self.cloud}: {exc}") from exc
        raise WipeError(f"{target.kind.value} {target.id}: not something a Kubernetes cloud wipes")

    def gone(self, target: WipeTarget) -> bool:
        paths = {
            TargetKind.PVC: lambda: "/api/v1/namespaces/{}/persistentvolumeclaims/{}".format(*_claim_of(target)),
            TargetKind.PERSISTENT_VOLUME: lambda: f"/api/v1/persistentvolumes/{target.id}",
            TargetKind.NAMESPACE: lambda: f"/api/v1/namespaces/{target.id}",
        }
        if target.kind not in paths:
            raise WipeError(f"{target.kind.value} {target.id}: not something a Kubernetes cloud holds")
        try:
            return read(self.connected(), paths[target.kind](), f"read back {target.kind.value} {target.id}") is None
        except KubernetesError as exc:
            raise WipeError(f"read back {target.kind.value} {target.id} on {self.cloud}: {exc}") from exc

    def _wait(
        self, collection: str, name: str, done: Callable[[Object | None], bool], timeout_s: float
    ) -> tuple[Object | None, bool]:
        what = f"wait for {collection.rsplit('/', 1)[-1]} {name}"
        return wait_for(self.connected(), collection, name, what=what, done=done, clock=self.clock, timeout_s=timeout_s)

    def _already_gone(self, target: WipeTarget, started: dt.datetime, method: Method, noun: str) -> WipeOutcome:
        """Nothing touched: the read-back found it gone."""
        detail = f"the {noun} was already gone: nothing done"
        return self._outcome(target, started, method, Category.NONE, verified=False, already_gone=True, detail=detail)

    def _outcome(
        self, target: WipeTarget, started: dt.datetime, method: Method, category: Category, **kw: Any
    ) -> WipeOutcome:
        return WipeOutcome(
            target=target, method=method, category=category, started=started, ended=self.clock.now(), **kw
        )

    # -- claims --------------------------------------------------------------------------------------------------

    def start(self, target: WipeTarget) -> dict[str, Any]:
        """The claim's wipe Job, created unless it exists. Public so a caller can start every claim's Job before
        waiting on any; ``wipe`` then waits for it and reads its result."""
        try:
            return self._start(target)
        except KubernetesError as exc:
            raise WipeError(f"start the wipe of claim {target.id} on {self.cloud}: {exc}") from exc

    def _start(self, target: WipeTarget) -> dict[str, Any]:
        namespace, claim_name = _claim_of(target)
        cluster = self.connected()
        jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        name = job_name(claim_name)
        what = f"wipe job {name} for claim {target.id}"
        job = read(cluster, f"{jobs}/{name}", f"read {what}")
        if job is not None and not wipes_claim(job, claim_name):
            raise WipeError(f"claim {target.id}: a Job named {name} exists and is not Yunguan's wipe of this claim")
        if job is not None:
            return job
        claim = read(
            cluster, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim_name}", f"read {target.id}"
        )
        if claim is None:
            raise WipeError(f"claim {target.id} is gone: nothing to wipe")
        if _terminating(claim):
            raise WipeError(
                f"claim {target.id} is being deleted, but not after a Yunguan wipe: no pod can mount it any more; "
                f"its volume {(claim.get('spec') or {}).get('volumeName') or '?'} must be wiped on the storage side"
            )
        spec = claim.get("spec") or {}
        body = job_manifest(
            namespace,
            claim_name,
            block=spec.get("volumeMode") == "Block",
            capacity_bytes=claim_capacity(claim),
            image=target.attributes.get("wipe_image") or self.image,
            deadline_s=self.job_deadline_s,
        )
        try:
            created: dict[str, Any] = cluster.request("POST", jobs, f"create {what}", body=body)
        except KubernetesConflictError as exc:
            raise WipeError(f"claim {target.id}: {name} is still being removed from an earlier attempt: {exc}") from exc
        return created

    def _report(self, job: dict[str, Any]) -> tuple[str | None, str]:
        """The wipe script's report from the Job's pod, or None and why there is none."""
        namespace, uid = job["metadata"]["namespace"], job["metadata"].get("uid", "")
        pods = list(
            self.connected().items(
                f"/api/v1/namespaces/{namespace}/pods",
                f"list pods of {job['metadata']['name']}",
                self.page_size,
                labelSelector=f"controller-uid={uid}",
            )
        )
        messages = termination_messages(pods)
        for code, message in messages:
            if code == 0 and finished(job) == "Complete" and message.startswith("{"):
                return message, ""
        reason = failure_reason(job) if finished(job) == "Failed" else "no pod left a report"
        said = "; ".join(f"exit {code}: {message[:300]}" for code, message in messages if message)
        return None, f"{reason}" + (f" ({said})" if said else "")

    def _wipe_claim(self, target: WipeTarget, started: dt.datetime) -> WipeOutcome:
        namespace, claim_name = _claim_of(target)
        cluster = self.connected()
        claim_path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim_name}"
        jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        name = job_name(claim_name)
        claim = read(cluster, claim_path, f"read claim {target.id}")
        if claim is None:
            self._drop_job(jobs, name, claim_name)
            return self._already_gone(target, started, Method.WIPE_JOB, "claim")
        report = ((claim.get("metadata") or {}).get("annotations") or {}).get(REPORT)
        resumed = report is not None
        if report is None:
            self._start(target)
            job, done = self._wait(jobs, name, lambda j: j is None or bool(finished(j)), self.job_timeout_s)
            if job is None:
                raise WipeError(f"claim {target.id}: the wipe job {name} was deleted before it finished")
            if not done:
                raise WipeError(
                    f"claim {target.id}: the wipe job {name} has not finished after {self.job_timeout_s:.0f} s "
                    "(left in place: wipe again to go on waiting)"
                )
            report, why = self._report(job)
            if report is None:
                self._drop_job(jobs, name, claim_name)  # said in the error; the next wipe is a new attempt
                raise WipeError(f"claim {target.id}: the wipe job {name} failed: {why}")
        try:
            samples, facts = self._verified(target, report)
        except WipeError:
            self._drop_job(jobs, name, claim_name)
            raise
        if not resumed:
            self._keep_report(claim, report)
        cluster.request("DELETE", claim_path, f"delete claim {target.id}")
        self._drop_job(jobs, name, claim_name)
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
        _, deleted = self._wait(claims, claim_name, _deleted, self.delete_timeout_s)
        mode = facts.get("mode", "?")
        how = (
            "whole block device overwritten with zeros"
            if mode == "block"
            else "files removed, free space filled with zeros (filesystem metadata and journal not overwritten)"
        )
        detail = f"job {name}: {how}; {len(samples)} samples of {facts.get('size', '?')} bytes read back"
        detail += "" if facts.get("direct") == 1 else " (through the page cache: O_DIRECT refused)"
        detail += "; resumed from the report kept on the claim" if resumed else ""
        detail += "; claim deleted" if deleted else "; claim deletion accepted, still terminating"
        return self._outcome(
            target, started, Method.WIPE_JOB, Category.CLEAR, verified=True, samples=samples, detail=detail
        )

    def _verified(self, target: WipeTarget, report: str) -> tuple[tuple[Sample, ...], dict[str, Any]]:
        try:
            samples, facts = samples_from(report)
        except BadReportError as exc:
            raise WipeError(f"claim {target.id}: {exc}") from exc
        wrong = [s.offset for s in samples if s.sha256 != s.expected_sha256]
        if wrong:
            raise WipeError(f"claim {target.id}: read back not zero at offsets {wrong[:10]}: verification failed")
        return samples, facts

    def _keep_report(self, claim: dict[str, Any], report: str) -> None:
        """The report on the claim (to resume from) and on its volume (so the volume step knows it was wiped)."""
        cluster = self.connected()
        meta = claim["metadata"]
        body = {"metadata": {"annotations": {REPORT: report}}}
        path = f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}"
        cluster.request("PATCH", path, f"keep the wipe report on {meta['name']}", body=body, content_type=MERGE_PATCH)
        volume = (claim.get("spec") or {}).get("volumeName")
        if volume:
            with contextlib.suppress(KubernetesNotFoundError):
                cluster.request(
                    "PATCH", f"/api/v1/persistentvolumes/{volume}", f"keep the wipe report on {volume}", body=body,
                    content_type=MERGE_PATCH,
                )  # fmt: skip

    def _drop_job(self, jobs: str, name: str, claim_name: str) -> None:
        cluster = self.connected()
        job = read(cluster, f"{jobs}/{name}", f"read {name}")
        if job is not None and wipes_claim(job, claim_name):
            with contextlib.suppress(KubernetesNotFoundError):
                cluster.request("DELETE", f"{jobs}/{name}", f"delete {name}", body=BACKGROUND)

    # -- volumes -------------------------------------------------------------------------------------------------

    def _delete_volume(self, target: WipeTarget, started: dt.datetime) -> WipeOutcome:
        cluster = self.connected()
        path = f"/api/v1/persistentvolumes/{target.id}"
        pv = read(cluster, path, f"read volume {target.id}")
        if pv is None:
            return self._already_gone(target, started, Method.DELETE, "volume")
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        if ref.get("name"):
            claim_path = f"/api/v1/namespaces/{ref.get('namespace')}/persistentvolumeclaims/{ref['name']}"
            claim = read(cluster, claim_path, f"read claim of {target.id}")
            if claim is not None and not _terminating(claim) and claim["metadata"].get("uid") == ref.get("uid"):
                raise WipeError(
                    f"volume {target.id} is still bound to claim {ref.get('namespace')}/{ref['name']}: wipe it first"
                )
        wiped = REPORT in ((pv.get("metadata") or {}).get("annotations") or {})
        steps = []
        policy = spec.get("persistentVolumeReclaimPolicy") or ""
        if policy != "Delete":
            body = {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}
            cluster.request("PATCH", path, f"set reclaim policy of {target.id}", body=body, content_type=MERGE_PATCH)
            steps.append(f"reclaim policy {policy or '?'} set to Delete")
        last, released = self._wait(VOLUMES, target.id, _released, self.reclaim_timeout_s)
        source = volume_source(pv)
        if released and last is None:
            steps.append(f"the storage backend ({source}) deleted the volume and its storage")
            category = Category.NONE if wiped else Category.ATTESTED
            if not wiped:
                steps.append(
                    "its data was not overwritten by a wipe job (its claim was gone): the backend's deletion only"
                )
            return self._outcome(target, started, Method.DELETE, category, verified=False, detail="; ".join(steps))
        status = (last or {}).get("status") or {}
        why = f"{status.get('phase', '?')}: {status.get('message', '')}".strip(": ")
        if not wiped:
            raise WipeError(
                f"volume {target.id}: its claim was deleted before Yunguan wiped it and the storage backend ({source}) "
                f"did not delete it ({why}): wipe its storage by hand, then delete the volume"
            )
        steps.append(f"the storage backend ({source}) did not release it ({why})")
        with contextlib.suppress(KubernetesNotFoundError):
            cluster.request("DELETE", path, f"delete volume {target.id}")
        _, gone = self._wait(VOLUMES, target.id, _deleted, self.delete_timeout_s)
        steps.append(
            "the volume object deleted; its static storage stays on the storage side, overwritten with zeros by the "
            "claim's wipe job"
            if gone
            else "deletion of the volume object accepted, still present"
        )
        return self._outcome(target, started, Method.DELETE, Category.NONE, verified=False, detail="; ".join(steps))

    # -- namespace -----------------------------------------------------------------------------------------------

    def _delete_namespace(self, target: WipeTarget, started: dt.datetime) -> WipeOutcome:
        cluster = self.connected()
        path = f"/api/v1/namespaces/{target.id}"
        namespace = read(cluster, path, f"read namespace {target.id}")
        if namespace is None:
            return self._already_gone(target, started, Method.DELETE, "namespace")
        if not _terminating(namespace):
            claims = [
                c["metadata"]["name"]
                for c in cluster.items(f"{path}/persistentvolumeclaims", f"list claims of {target.id}", self.page_size)
                if not _terminating(c)
            ]
            if claims:
                raise WipeError(f"namespace {target.id} still holds claims not wiped: {', '.join(claims[:10])}")
            with contextlib.suppress(KubernetesNotFoundError):
                cluster.request("DELETE", path, f"delete namespace {target.id}")
        last, gone = self._wait("/api/v1/namespaces", target.id, _deleted, self.delete_timeout_s)
        if gone:
            detail = "namespace deleted"
        else:
            conditions = [
                f"{c.get('type')}: {c.get('message', '')}"
                for c in ((last or {}).get("status") or {}).get("conditions") or []
                if c.get("status") == "True"
            ]
            detail = f"deletion accepted, still Terminating after {self.delete_timeout_s:.0f} s"
            detail += f" ({'; '.join(conditions)[:300]})" if conditions else ""
        return self._outcome(target, started, Method.DELETE, Category.NONE, verified=False, detail=detail)


def _namespace_of(target: WipeTarget) -> str:
    if target.kind is TargetKind.NAMESPACE:
        return target.id
    if target.kind is TargetKind.PVC:
        return target.id.partition("/")[0]
    return target.group


def _claim_of(target: WipeTarget) -> tuple[str, str]:
    namespace, _, name = target.id.partition("/")
    if not namespace or not name:
        raise WipeError(f"claim target id {target.id!r}: expected 'namespace/claim'")
    return namespace, name


def open_wiper(cloud: CloudSettings, clock: Clock) -> KubernetesWiper:
    return KubernetesWiper(
        cloud.name,
        clock,
        kubeconfig=cloud.kubeconfig,
        context=cloud.connection or None,
        page_size=min(cloud.page_size, 500),
        ignore_namespaces=cloud.ignore_groups,
    )
