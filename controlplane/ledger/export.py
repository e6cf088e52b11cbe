"""Writing the ledger back out in the forms it is imported from, so an export re-imports to the same ledger."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from controlplane import units
from controlplane.domain import FootprintItem, FootprintKind, Quantities
from controlplane.ledger.columns import COLUMNS
from controlplane.ledger.store import Approved

_FOOTPRINT_COLUMN = {
    FootprintKind.PROJECT: "projects",
    FootprintKind.NAMESPACE: "namespaces",
    FootprintKind.EQUIPMENT: "equipment",
}


def form_quantities(q: Quantities) -> dict[str, Any]:
    """Quantities in the units people write on forms: cores, GiB, W, Mbit/s."""
    return {
        "vcpu": units.plain(q.vcpu),
        "memory_gib": units.plain(units.bytes_to_gib(q.memory_bytes)),
        "storage_gib": units.plain(units.bytes_to_gib(q.storage_bytes)),
        "instances": q.instances,
        "rack_units": q.rack_units,
        "power_w": q.power_watts,
        "bandwidth_mbps": units.plain(Decimal(q.bandwidth_bps) / units.MBIT),
        "devices": q.devices,
    }


def to_rows(
    items: Sequence[Approved], parents: dict[str, str | None], footprint: Sequence[FootprintItem]
) -> list[dict[str, Any]]:
    """One row per revision, keyed by column key; footprints go on each system's first row per cloud."""
    rows: list[dict[str, Any]] = []
    placed: set[tuple[str, str]] = set()
    for item in items:
        a = item.revision.allocation
        row: dict[str, Any] = {
            "unit": item.department,
            "parent_unit": parents.get(item.department) or "",
            "system": item.system.name,
            "system_code": item.system.key if item.system.key != f"{item.department}/{item.system.name}" else "",
            "mlps_level": item.system.mlps_level,
            "zone": item.system.zone.value,
            "mode": item.system.mode.value,
            "cloud": item.cloud,
            **form_quantities(a.quantities),
            "approval_ref": a.approval_ref,
            "approval_date": a.approval_date.isoformat(),
            "effective_from": a.effective_from.isoformat(),
            "effective_to": a.effective_to.isoformat() if a.effective_to else "",
            "kind": a.kind.value,
            "stable_since": item.system.stable_since.isoformat() if item.system.stable_since else "",
            "status": item.system.status.value,
            "projects": "",
            "namespaces": "",
            "equipment": "",
        }
        if (item.system.key, item.cloud) not in placed:
            placed.add((item.system.key, item.cloud))
            for kind, column in _FOOTPRINT_COLUMN.items():
                refs = [
                    f.ref for f in footprint if f.system == item.system.key and f.cloud == item.cloud and f.kind == kind
                ]
                row[column] = ";".join(refs)
        rows.append(row)
    return rows


def write(path: Path, rows: list[dict[str, Any]], lang: str) -> None:
    headers = [c.zh if lang == "zh" else c.en for c in COLUMNS]
    keys = [c.key for c in COLUMNS]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows([[row[k] for k in keys] for row in rows])
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "资源台账" if lang == "zh" else "ledger"
        sheet.append(headers)
        for row in rows:
            sheet.append([row[k] for k in keys])
        book.save(path)
    elif suffix in (".yaml", ".yml"):
        cleaned = [
            {k: v for k, v in row.items() if v not in ("", 0, "0")}
            | {k: row[k] for k in ("vcpu", "memory_gib", "storage_gib")}
            for row in rows
        ]
        path.write_text(yaml.safe_dump({"rows": cleaned}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    else:
        raise ValueError(f"{path}: unknown file type: use .csv, .xlsx or .yaml")
