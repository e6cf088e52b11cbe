"""What a final reconcile still sees of a terminated system: its leftovers, or nothing (then it is reclaimed).

With the system terminated in the ledger, reconcile reports each of its groups still listed as ``orphan`` with the
servers, volumes and snapshots in it. An emptied OpenStack project is not a leftover (it holds nothing); a namespace,
a project still holding something and hosted equipment still in the zone are. A cloud that could not be listed
completely is a leftover too: absence is never concluded from a partial listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controlplane.reconcile.drift import DriftClass
from controlplane.reconcile.runs import RunSummary

_HELD = ("servers", "volumes", "snapshots")


def leftovers_of(summary: RunSummary, system: str, clouds: Sequence[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for result in summary.results:
        if result.cloud not in clouds:
            continue
        if not result.complete:
            found.append({"cloud": result.cloud, "why": "not listed completely", "problems": list(result.problems)})
            continue
        for d in result.drift:
            if d.system != system:
                continue
            held = {k: int(d.detail.get(k, 0)) for k in _HELD if d.detail.get(k)}
            if d.drift_class is DriftClass.ORPHAN and d.resource_kind == "project" and not held:
                continue
            found.append(
                {
                    "cloud": d.cloud,
                    "kind": d.resource_kind,
                    "id": d.resource_id,
                    "name": d.resource_name,
                    "class": d.drift_class.value,
                    **held,
                }
            )
    return found
