"""What termination wipes and removes in a system's namespaces, as ``WipeTarget``s in the order they are done:

    phase 0  PVC                each claim: a wipe Job overwrites it and reads samples back, then the claim is deleted
    phase 1  PERSISTENT_VOLUME  each volume whose claimRef is in the namespace (bound, or released by a claim deleted
                                earlier, which still holds data), deleted whatever its reclaim policy
    phase 2  NAMESPACE          the namespace itself, once no claim is left in it

PVs are found from the cluster-wide list by ``spec.claimRef.namespace``, not from the claims, so a volume whose claim
is already gone (a crash between the two deletions, or the unit's own deletion) is still in the footprint.
"""

from __future__ import annotations

from typing import Any

from adapters.kubernetes.convert import quantity
from controlplane.termination.ports import TargetKind, WipeTarget

PHASE = {TargetKind.PVC: 0, TargetKind.PERSISTENT_VOLUME: 1, TargetKind.NAMESPACE: 2}


def _bytes(value: Any) -> int:
    try:
        return max(int(quantity(value)), 0) if value is not None else 0
    except (ValueError, ArithmeticError, TypeError):
        return 0


def claim_capacity(claim: dict[str, Any]) -> int:
    """The claim's size in bytes: what it was given (status.capacity), else what it asked for."""
    given = ((claim.get("status") or {}).get("capacity") or {}).get("storage")
    asked = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return _bytes(given if given is not None else asked)


def claim_target(cloud: str, claim: dict[str, Any]) -> WipeTarget:
    meta, spec = claim["metadata"], claim.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    capacity = claim_capacity(claim)
    return WipeTarget(
        cloud=cloud,
        kind=TargetKind.PVC,
        id=f"{namespace}/{name}",
        name=name,
        group=namespace,
        size_bytes=capacity,
        phase=PHASE[TargetKind.PVC],
        attributes={
            "storageClass": str(spec.get("storageClassName") or ""),
            "volumeName": str(spec.get("volumeName") or ""),
            "capacity": str(capacity),
            "volumeMode": str(spec.get("volumeMode") or "Filesystem"),
            "status": str((claim.get("status") or {}).get("phase") or ""),
        },
    )


def volume_source(pv: dict[str, Any]) -> str:
    """The kind of storage behind a PV, as an operator names it: ``csi:<driver>``, ``hostPath``, ``nfs``..."""
    spec = pv.get("spec") or {}
    if spec.get("csi"):
        return f"csi:{spec['csi'].get('driver', '')}"
    plain = {"accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity", "storageClassName", "volumeMode"}
    plain |= {"persistentVolumeReclaimPolicy"}
    return next((key for key in sorted(spec) if key not in plain), "unknown")


def volume_target(cloud: str, pv: dict[str, Any]) -> WipeTarget:
    spec = pv.get("spec") or {}
    ref = spec.get("claimRef") or {}
    name = pv["metadata"]["name"]
    return WipeTarget(
        cloud=cloud,
        kind=TargetKind.PERSISTENT_VOLUME,
        id=name,
        name=name,
        group=str(ref.get("namespace") or ""),
        size_bytes=_bytes((spec.get("capacity") or {}).get("storage")),
        phase=PHASE[TargetKind.PERSISTENT_VOLUME],
        attributes={
            "claim": f"{ref.get('namespace', '')}/{ref.get('name', '')}",
            "reclaimPolicy": str(spec.get("persistentVolumeReclaimPolicy") or ""),
            "storageClass": str(spec.get("storageClassName") or ""),
            "source": volume_source(pv),
            "status": str((pv.get("status") or {}).get("phase") or ""),
        },
    )


def namespace_target(cloud: str, namespace: str) -> WipeTarget:
    return WipeTarget(
        cloud=cloud,
        kind=TargetKind.NAMESPACE,
        id=namespace,
        name=namespace,
        group=namespace,
        phase=PHASE[TargetKind.NAMESPACE],
    )


def in_namespace(pv: dict[str, Any], namespace: str) -> bool:
    return bool(((pv.get("spec") or {}).get("claimRef") or {}).get("namespace") == namespace)


def ordered(targets: list[WipeTarget]) -> tuple[WipeTarget, ...]:
    return tuple(sorted(targets, key=lambda t: (t.phase, t.group, t.id)))
