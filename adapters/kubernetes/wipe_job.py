"""The Job that overwrites one PersistentVolumeClaim with zeros and reads samples back, built and read as plain data.

The container runs a POSIX shell script (busybox: small, and its ``dd``, ``sha256sum``, ``blockdev`` and ``stat`` are
all it needs). A filesystem claim has every file removed, then its free space filled with zeros up to the claim's
capacity (``dd`` ends at the capacity or when the filesystem is full); a block claim has the whole device overwritten.
Samples spread over the zeroed range are read back (``O_DIRECT`` where the filesystem allows it, so the page cache
does not answer for the disk) and hashed. The result is one JSON line written to the container's termination message,
so it is in the Pod status and needs no log access::

    {"samples":[{"offset":0,"length":65536,"sha256":"..."}],"size":1073741824,"mode":"filesystem","direct":1}

A failure writes ``yunguan-wipe: <what failed>`` there instead and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from controlplane.termination.ports import Sample

DEFAULT_IMAGE = "docker.io/library/busybox:1.36"
MANAGED_BY = {"app.kubernetes.io/managed-by": "yunguan"}
CLAIM_LABEL = "yunguan.io/wipe-claim"
CLAIM_ANNOTATION = "yunguan.io/claim"
MOUNT_PATH = "/data"
DEVICE_PATH = "/dev/yunguan-wipe"
FILL_FILE = ".yunguan-wipe"
SAMPLE_BYTES = 65536  # a multiple of 4096, so O_DIRECT reads are aligned
SAMPLES = 8
MESSAGE_LIMIT = 4096  # the kubelet keeps at most this much of a termination message

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

SCRIPT = r"""
set -eu
out="${OUT:-/dev/termination-log}"
tmp="${TMPDIR:-/tmp}"
fail() { printf 'yunguan-wipe: %s\n' "$*" > "$out"; printf 'yunguan-wipe: %s\n' "$*" >&2; exit 1; }
bs=1048576
err="$tmp/yunguan-dd.err"
if [ "$MODE" = block ]; then
  target="$DEVICE"
  size=$(blockdev --getsize64 "$target") || fail "cannot read the size of the device"
  blocks=$(( (size + bs - 1) / bs ))
  dd if=/dev/zero of="$target" bs=$bs count=$blocks conv=fsync 2>"$err" ||
    grep -q 'No space left' "$err" || fail "overwrite: $(tail -n 1 "$err")"
else
  cd "$ROOT" || fail "cannot enter the volume"
  rm -rf "$ROOT"/* "$ROOT"/.[!.]* "$ROOT"/..?* || fail "cannot remove the files"
  [ -z "$(ls -A "$ROOT")" ] || fail "files remain after removal: $(ls -A "$ROOT" | head -n 3 | tr '\n' ' ')"
  target="$ROOT/$FILL"
  limit=""
  if [ "$CAPACITY" -gt 0 ]; then limit="count=$(( (CAPACITY + bs - 1) / bs ))"; fi
  dd if=/dev/zero of="$target" bs=$bs $limit conv=fsync 2>"$err" ||
    grep -q 'No space left' "$err" || fail "overwrite: $(tail -n 1 "$err")"
  sync
  size=$(stat -c %s "$target") || fail "cannot read the size of the fill file"
fi
[ "$size" -gt 0 ] || fail "nothing was overwritten (no free space?)"
len=$SAMPLE_BYTES
[ "$len" -le "$size" ] || len=$size
blocks=$(( size / len ))
direct=1
json=""
last=-1
i=0
while [ "$i" -lt "$SAMPLES" ]; do
  k=0
  if [ "$SAMPLES" -gt 1 ]; then k=$(( i * (blocks - 1) / (SAMPLES - 1) )); fi
  i=$(( i + 1 ))
  [ "$k" -ne "$last" ] || continue
  last=$k
  if ! dd if="$target" of="$tmp/yunguan-sample" bs="$len" skip="$k" count=1 iflag=direct 2>/dev/null; then
    direct=0
    dd if="$target" of="$tmp/yunguan-sample" bs="$len" skip="$k" count=1 2>"$err" ||
      fail "read back at block $k: $(tail -n 1 "$err")"
  fi
  [ "$(stat -c %s "$tmp/yunguan-sample")" -eq "$len" ] || fail "short read back at block $k"
  hash=$(sha256sum "$tmp/yunguan-sample" | cut -d ' ' -f 1)
  json="$json${json:+,}{\"offset\":$(( k * len )),\"length\":$len,\"sha256\":\"$hash\"}"
done
printf '{"samples":[%s],"size":%s,"mode":"%s","direct":%s}\n' "$json" "$size" "$MODE" "$direct" > "$out"
cat "$out"
"""


def job_name(claim: str) -> str:
    """``yunguan-wipe-<claim>``, the same for the same claim on every call; a claim name that does not fit a
    63-character DNS label (a Job name is also its pods' ``job-name`` label) is cut and given a hash of the whole."""
    plain = f"yunguan-wipe-{claim}"
    if len(plain) <= 63 and _LABEL.match(plain):
        return plain
    digest = hashlib.sha256(claim.encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9-]", "-", claim.lower())[:38].strip("-")
    return f"yunguan-wipe-{stem}-{digest}" if stem else f"yunguan-wipe-{digest}"


def claim_label(claim: str) -> str:
    """The claim as a label value (at most 63 characters, no dots needed): the claim itself where it fits."""
    if len(claim) <= 63 and re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", claim):
        return claim
    return hashlib.sha256(claim.encode()).hexdigest()[:63]


def job_manifest(
    namespace: str,
    claim: str,
    *,
    block: bool,
    capacity_bytes: int,
    image: str = DEFAULT_IMAGE,
    deadline_s: int = 4 * 3600,
    samples: int = SAMPLES,
) -> dict[str, Any]:
    """The Job that wipes ``claim``: one pod, never retried by the Job controller (a failed overwrite is reported,
    not repeated blindly), mounting the claim (or attaching it as a device for a block claim)."""
    labels = {**MANAGED_BY, CLAIM_LABEL: claim_label(claim)}
    env = {
        "MODE": "block" if block else "filesystem",
        "ROOT": MOUNT_PATH,
        "DEVICE": DEVICE_PATH,
        "FILL": FILL_FILE,
        "CAPACITY": str(capacity_bytes),
        "SAMPLES": str(samples),
        "SAMPLE_BYTES": str(SAMPLE_BYTES),
    }
    container: dict[str, Any] = {
        "name": "wipe",
        "image": image,
        "command": ["sh", "-c", SCRIPT],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # requests and limits both: a namespace under a ResourceQuota refuses pods that state neither
        "resources": {
            "requests": {"cpu": "100m", "memory": "32Mi"},
            "limits": {"cpu": "1", "memory": "64Mi"},
        },
    }
    if block:
        container["volumeDevices"] = [{"name": "data", "devicePath": DEVICE_PATH}]
    else:
        container["volumeMounts"] = [{"name": "data", "mountPath": MOUNT_PATH}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(claim),
            "namespace": namespace,
            "labels": labels,
            "annotations": {CLAIM_ANNOTATION: claim},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "template": {
                "metadata": {"labels": labels, "annotations": {CLAIM_ANNOTATION: claim}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "containers": [container],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
                },
            },
        },
    }


def wipes_claim(job: dict[str, Any], claim: str) -> bool:
    """The Job is Yunguan's wipe of this claim (and not some other object that happens to have the name)."""
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    volumes = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes")) or []
    mounts = {(v.get("persistentVolumeClaim") or {}).get("claimName") for v in volumes}
    return (
        labels.get("app.kubernetes.io/managed-by") == MANAGED_BY["app.kubernetes.io/managed-by"]
        and (meta.get("annotations") or {}).get(CLAIM_ANNOTATION) == claim
        and mounts == {claim}
    )


def finished(job: dict[str, Any] | None) -> str:
    """``Complete`` or ``Failed`` when the Job has that condition true, else ``""`` (still running)."""
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") in {"Complete", "Failed"} and condition.get("status") == "True":
            return str(condition["type"])
    return ""


def failure_reason(job: dict[str, Any]) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason = condition.get("reason") or "Failed"
            return f"{reason}: {condition['message']}" if condition.get("message") else str(reason)
    return "failed"


def termination_messages(pods: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(exit code, message) of every terminated ``wipe`` container among the Job's pods."""
    found = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if status.get("name") == "wipe" and terminated:
                found.append((int(terminated.get("exitCode") or 0), str(terminated.get("message") or "").strip()))
    return found


def zeros_sha256(length: int) -> str:
    return hashlib.sha256(bytes(length)).hexdigest()


class BadReportError(ValueError):
    """The termination message is not the wipe script's result."""


def samples_from(message: str) -> tuple[tuple[Sample, ...], dict[str, Any]]:
    """The samples of the script's JSON line, each with the hash zeros of its length would have, and the rest of
    the report (size, mode, whether reads bypassed the page cache)."""
    line = next((part for part in reversed(message.splitlines()) if part.startswith("{")), "")
    try:
        report = json.loads(line)
        raw = report["samples"]
        samples = tuple(
            Sample(
                offset=int(s["offset"]),
                length=int(s["length"]),
                sha256=str(s["sha256"]),
                expected_sha256=zeros_sha256(int(s["length"])),
            )
            for s in raw
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadReportError(f"not the wipe script's report: {message[:200]!r}") from exc
    if not samples:
        raise BadReportError("the report has no samples")
    size = report.get("size")
    if isinstance(size, int) and any(s.offset + s.length > size for s in samples):
        raise BadReportError(f"a sample lies outside the {size} bytes overwritten")
    return samples, {k: v for k, v in report.items() if k != "samples"}
