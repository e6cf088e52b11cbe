"""Turning raw form rows into a checked batch of ledger changes.

Every problem in the file is collected, by row and column, before anything is written: one bad row rejects the
whole file. Rows that describe the same unit or system must agree with each other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from controlplane import units
from controlplane.domain import (
    AllocationKind,
    AllocationRevision,
    ApplicationSystem,
    Cloud,
    CloudKind,
    Department,
    FootprintItem,
    FootprintKind,
    Quantities,
)
from controlplane.ledger.columns import KIND_WORDS, MODE_WORDS, STATUS_WORDS, ZONE_WORDS, fold
from controlplane.ledger.forms import LedgerFileError, RawLedger, RowError, cell_text

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_SPLIT = re.compile(r"[;；,，、\n]+")
_FOOTPRINT_KIND = {
    "projects": (FootprintKind.PROJECT, CloudKind.OPENSTACK),
    "namespaces": (FootprintKind.NAMESPACE, CloudKind.KUBERNETES),
    "equipment": (FootprintKind.EQUIPMENT, CloudKind.HOSTING),
}


@dataclass
class LedgerBatch:
    """Everything a file asks to record, each item with the row it came from."""

    source: str
    clouds: list[Cloud] = field(default_factory=list)
    departments: dict[str, tuple[Department, int]] = field(default_factory=dict)
    systems: dict[str, tuple[ApplicationSystem, int]] = field(default_factory=dict)
    revisions: list[tuple[AllocationRevision, int]] = field(default_factory=list)
    footprints: list[tuple[FootprintItem, int]] = field(default_factory=list)


class _Row:
    """One row's cells with an error list: each getter records a problem and returns None instead of raising."""

    def __init__(self, number: int, cells: Mapping[str, Any], errors: list[RowError]) -> None:
        self.number = number
        self.cells = cells
        self.errors = errors

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))

    def text(self, key: str, required: bool = False) -> str | None:
        value = cell_text(self.cells.get(key))
        if not value:
            if required:
                self.fail(key, "empty")
            return None
        return value

    def date(self, key: str, required: bool = False) -> dt.date | None:
        raw = self.cells.get(key)
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        value = self.text(key, required)
        if value is None:
            return None
        match = _DATE.match(value)
        if match:
            try:
                return dt.date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                pass
        self.fail(key, f"not a date: {value!r} (write 2026-03-01)")
        return None

    def word(self, key: str, words: dict[str, str], required: bool = False) -> str | None:
        value = self.text(key, required)
        if value is None:
            return words.get("") if not required else None
        found = words.get(fold(value))
        if found is None:
            choices = sorted(set(words.values()))
            self.fail(key, f"unknown value {value!r}; one of: {', '.join(choices)}")
        return found

    def quantity(self, key: str, convert: Any) -> Any:
        value = self.text(key)
        if value is None:
            return None
        try:
            return convert(value)
        except units.UnitError as exc:
            self.fail(key, str(exc))
            return None

    def items(self, key: str) -> list[str]:
        value = self.text(key)
        return [v.strip() for v in _SPLIT.split(value) if v.strip()] if value else []


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return str(error["msg"]).removeprefix("Value error, ")


def parse_ledger(raw: RawLedger, known_clouds: Mapping[str, Cloud]) -> LedgerBatch:
    """Check every row; raise ``LedgerFileError`` listing all problems, or return the batch."""
    errors: list[RowError] = []
    batch = LedgerBatch(raw.source)
    clouds = dict(known_clouds)
    for index, data in enumerate(raw.clouds, start=1):
        try:
            cloud = Cloud.model_validate(data)
        except ValidationError as exc:
            loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
            errors.append(RowError(None, f"clouds[{index}].{loc}", _first_error(exc)))
            continue
        batch.clouds.append(cloud)
        clouds[cloud.name] = cloud
    for number, cells in raw.rows:
        _parse_row(_Row(number, cells, errors), clouds, batch)
    _check_parents(batch, errors)
    if errors:
        raise LedgerFileError(raw.source, errors)
    return batch


def _parse_row(row: _Row, clouds: Mapping[str, Cloud], batch: LedgerBatch) -> None:
    before = len(row.errors)
    unit = row.text("unit", required=True)
    parent = row.text("parent_unit")
    name = row.text("system", required=True)
    code = row.text("system_code")
    level = row.quantity("mlps_level", units.whole)
    if level is not None and not 1 <= level <= 3:
        row.fail("mlps_level", f"MLPS level {level} is outside 1-3: the clouds host level 3 or below (Bozhou 3)")
        level = None
    zone = row.word("zone", ZONE_WORDS, required=True)
    mode = row.word("mode", MODE_WORDS, required=True)
    cloud_name = row.text("cloud", required=True)
    cloud = clouds.get(cloud_name) if cloud_name else None
    if cloud_name and cloud is None:
        known = ", ".join(sorted(clouds)) or "none configured"
        row.fail(
            "cloud",
            f"unknown cloud {cloud_name!r} (known: {known}); declare it under 'clouds:' in the config",
        )
    amounts = _amounts(row)
    approval_ref = row.text("approval_ref", required=True)
    approval_date = row.date("approval_date", required=True)
    effective_from = row.date("effective_from") or approval_date
    effective_to = row.date("effective_to")
    kind = row.word("kind", KIND_WORDS, required=True)
    stable_since = row.date("stable_since")
    status = row.word("status", STATUS_WORDS)
    footprint = _footprint(row, cloud, code or f"{unit}/{name}")
    if len(row.errors) > before:
        return
    if not (unit and name and zone and mode and cloud_name and approval_ref and approval_date and kind):
        raise AssertionError("required cells were checked above")  # pragma: no cover
    if effective_from is None or level is None:
        raise AssertionError("required cells were checked above")  # pragma: no cover

    key = code or f"{unit}/{name}"
    department = Department(name=unit, parent=parent) if parent != unit else None
    if department is None:
        row.fail("parent_unit", "a unit cannot be its own parent")
        return
    system = ApplicationSystem(
        key=key,
        name=name,
        department=unit,
        mlps_level=level,
        zone=zone,
        mode=mode,
        stable_since=stable_since,
        status=status or "active",
    )
    quantities = Quantities(**{k: v for k, v in amounts.items() if v is not None})
    try:
        allocation = AllocationRevision(
            system=key,
            cloud=cloud_name,
            quantities=quantities,
            approval_ref=approval_ref,
            approval_date=approval_date,
            effective_from=effective_from,
            effective_to=effective_to,
            kind=AllocationKind(kind),
        )
    except ValidationError as exc:
        row.fail("effective_to", _first_error(exc))
        return
    _merge(batch.departments, unit, department, row, "unit", "the same unit has another parent in row {other}")
    if parent and parent not in batch.departments:
        batch.departments[parent] = (Department(name=parent), row.number)
    _merge(batch.systems, key, system, row, "system", "the same system is described differently in row {other}")
    batch.revisions.append((allocation, row.number))
    batch.footprints.extend((item, row.number) for item in footprint)


def _footprint(row: _Row, cloud: Cloud | None, system_key: str) -> list[FootprintItem]:
    items: list[FootprintItem] = []
    for column, (fp_kind, cloud_kind) in _FOOTPRINT_KIND.items():
        refs = row.items(column)
        if not refs or cloud is None:
            continue
        if cloud.kind != cloud_kind:
            row.fail(column, f"cloud {cloud.name!r} is {cloud.kind}, this column is for {cloud_kind} clouds")
            continue
        items.extend(FootprintItem(system=system_key, cloud=cloud.name, kind=fp_kind, ref=ref) for ref in refs)
    return items


def _amounts(row: _Row) -> dict[str, Any]:
    return {
        "vcpu": row.quantity("vcpu", units.cores),
        "memory_bytes": row.quantity("memory_gib", units.gib_to_bytes),
        "storage_bytes": row.quantity("storage_gib", units.gib_to_bytes),
        "instances": row.quantity("instances", units.whole),
        "rack_units": row.quantity("rack_units", units.whole),
        "power_watts": row.quantity("power_w", units.whole),
        "bandwidth_bps": row.quantity("bandwidth_mbps", units.mbit_to_bps),
        "devices": row.quantity("devices", units.whole),
    }


def _merge(  # noqa: PLR0917 - private helper, called with the same six things each time
    table: dict[str, tuple[Any, int]], key: str, value: Any, row: _Row, column: str, message: str
) -> None:
    existing = table.get(key)
    if existing is None:
        table[key] = (value, row.number)
        return
    old, other = existing
    if old == value:
        return
    if isinstance(value, Department) and value.parent is None:
        return  # a row that names the unit without its parent adds nothing
    if isinstance(old, Department) and old.parent is None:
        table[key] = (value, row.number)  # the parent was only implied by an earlier row
        return
    row.fail(column, message.format(other=other))


def _check_parents(batch: LedgerBatch, errors: list[RowError]) -> None:
    for name, (_, number) in batch.departments.items():
        seen = {name}
        current = batch.departments[name][0].parent
        while current is not None:
            if current in seen:
                errors.append(RowError(number, "parent_unit", f"units form a cycle through {current!r}"))
                break
            seen.add(current)
            entry = batch.departments.get(current)
            current = entry[0].parent if entry else None
