"""The equipment registration file (托管设备登记表): one row per piece of equipment, as CSV (UTF-8 or GB18030), XLSX
(first sheet) or YAML (``rows:`` of the same columns), headers in Chinese or English, read like the ledger's forms.

Registration is atomic like a ledger import: every row is checked and registered in one transaction, every problem
is collected as ``FILE: row N, column 中文 / english: what is wrong`` (including a serial already taken or a rack
position that overlaps, also between two rows of the file), and a file with any problem is rejected whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Connection

from controlplane import units
from controlplane.audit.log import AuditLog
from controlplane.hosting import store
from controlplane.hosting.model import Equipment, EquipmentKind, EquipmentSpec
from controlplane.hosting.scope import Caller
from controlplane.ledger.columns import Column, Form, fold
from controlplane.ledger.forms import LedgerFileError, RawLedger, RowError, cell_text, read_form_file

EQUIPMENT_FORM = Form(
    (
        Column("vendor", "vendor", "托管服务商", False, ("云服务商", "服务商", "hosting vendor")),
        Column("serial", "serial", "序列号", True, ("设备序列号", "serial number", "sn")),
        Column("asset_tag", "asset tag", "资产编号", False, ("资产标签", "固定资产编号")),
        Column("kind", "kind", "设备类型", True, ("类型", "equipment kind")),
        Column("model", "model", "型号", True, ("设备型号", "品牌型号")),
        Column("unit", "unit", "使用单位", True, ("所属单位", "单位", "department")),
        Column("system", "system", "应用系统", False, ("系统编号", "system code", "应用系统名称")),
        Column("site", "site", "数据中心", True, ("站点", "机房站点", "data centre", "data center")),
        Column("room", "room", "机房", True, ("机房名称", "模块")),
        Column("rack", "rack", "机柜", True, ("机柜号", "机柜编号")),
        Column("u_start", "start U", "起始U位", True, ("起始u", "u位", "u start")),
        Column("u_height", "height U", "占用U数", True, ("u数", "高度u", "u height")),
        Column("power_w", "power W", "功率（W）", True, ("功率", "额定功率w", "power")),
        Column("ports", "ports", "网口数量", False, ("端口数", "网口数", "network ports")),
        Column("bandwidth_mbps", "bandwidth Mbps", "带宽（Mbps）", False, ("带宽", "bandwidth")),
        Column("hosted_since", "hosted since", "托管日期", True, ("入驻日期", "上架日期")),
    )
)

KIND_WORDS = {
    fold(w): kind
    for kind, words in {
        EquipmentKind.SERVER: ("服务器",),
        EquipmentKind.NETWORK: ("网络设备", "网络", "交换机"),
        EquipmentKind.STORAGE: ("存储设备", "存储"),
        EquipmentKind.SPECIAL: ("专用设备", "特殊设备", "其他"),
    }.items()
    for w in (kind.value, *words)
}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
# where a field of the spec (or a store refusal) is found on the form
FIELD_COLUMN = {
    "vendor": "vendor",
    "serial": "serial",
    "asset_tag": "asset_tag",
    "kind": "kind",
    "model": "model",
    "unit": "unit",
    "system": "system",
    "position": "u_start",
    "site": "site",
    "room": "room",
    "rack": "rack",
    "u_start": "u_start",
    "u_height": "u_height",
    "power_watts": "power_w",
    "ports": "ports",
    "bandwidth_bps": "bandwidth_mbps",
    "hosted_since": "hosted_since",
}


@dataclass(frozen=True, slots=True)
class Registration:
    row: int
    vendor: str | None
    spec: EquipmentSpec


def read_equipment_file(path: Path) -> RawLedger:
    if path.suffix.lower() in (".yaml", ".yml"):
        source = str(path)
        try:
            return _read_yaml(source, path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LedgerFileError(source, [RowError(None, None, f"cannot read: {exc.strerror}")]) from exc
        except UnicodeDecodeError:
            raise LedgerFileError(source, [RowError(None, None, "not UTF-8 text")]) from None
    return read_form_file(path, EQUIPMENT_FORM, "use .csv, .xlsx or .yaml")


def _read_yaml(source: str, text: str) -> RawLedger:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise LedgerFileError(source, [RowError(None, None, f"line {line}: not valid YAML: {exc.problem}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or set(data) != {"rows"}:
        raise LedgerFileError(source, [RowError(None, None, "expected a mapping with only a 'rows:' list")])
    raw = RawLedger(source)
    errors: list[RowError] = []
    for number, item in enumerate(data["rows"], start=1):
        if not isinstance(item, dict):
            errors.append(RowError(number, None, "each row must be a mapping of column: value", EQUIPMENT_FORM))
            continue
        row: dict[str, Any] = {}
        for header, value in item.items():
            key = EQUIPMENT_FORM.header_to_key.get(fold(str(header)))
            if key is None:
                errors.append(RowError(number, str(header), "unknown column", EQUIPMENT_FORM))
            else:
                row[key] = value
        raw.rows.append((number, row))
    if not raw.rows and not errors:
        errors.append(RowError(None, None, "no rows"))
    if errors:
        raise LedgerFileError(source, errors)
    return raw


class _Cells:
    """One row's cells; each getter records its problem and returns None instead of raising."""

    def __init__(self, number: int, cells: Mapping[str, Any], errors: list[RowError]) -> None:
        self.number = number
        self.cells = cells
        self.errors = errors

    def fail(self, key: str | None, message: str) -> None:
        self.errors.append(RowError(self.number, key, message, EQUIPMENT_FORM))

    def text(self, key: str) -> str | None:
        value = cell_text(self.cells.get(key))
        if not value:
            if EQUIPMENT_FORM.by_key[key].required:
                self.fail(key, "empty")
            return None
        return value

    def number_of(self, key: str, convert: Any = units.whole) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return int(convert(value))
        except units.UnitError as exc:
            self.fail(key, str(exc))
            return None

    def date(self, key: str) -> dt.date | None:
        raw = self.cells.get(key)
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        value = self.text(key)
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

    def kind(self) -> EquipmentKind | None:
        value = self.text("kind")
        if value is None:
            return None
        found = KIND_WORDS.get(fold(value))
        if found is None:
            self.fail("kind", f"unknown value {value!r}; one of: {', '.join(k.value for k in EquipmentKind)}")
        return found


@dataclass
class Parsed:
    """The rows that read well, and the problems of those that did not (registering goes on to find more)."""

    source: str
    rows: list[Registration] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_equipment(raw: RawLedger, default_vendor: str | None = None) -> Parsed:
    """Every row as a registration, each bad cell as an error by row and column."""
    parsed = Parsed(raw.source)
    errors = parsed.errors
    found = parsed.rows
    for number, cells in raw.rows:
        row = _Cells(number, cells, errors)
        before = len(errors)
        values = {
            "serial": row.text("serial"),
            "asset_tag": row.text("asset_tag") or "",
            "kind": row.kind(),
            "model": row.text("model"),
            "unit": row.text("unit"),
            "system": row.text("system"),
            "position": {
                "site": row.text("site"),
                "room": row.text("room"),
                "rack": row.text("rack"),
                "u_start": row.number_of("u_start"),
                "u_height": row.number_of("u_height"),
            },
            "power_watts": row.number_of("power_w"),
            "ports": row.number_of("ports") or 0,
            "bandwidth_bps": row.number_of("bandwidth_mbps", units.mbit_to_bps) or 0,
            "hosted_since": row.date("hosted_since"),
        }
        if len(errors) > before:
            continue
        try:
            spec = EquipmentSpec.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                field = next((str(p) for p in reversed(error["loc"]) if str(p) in FIELD_COLUMN), None)
                row.fail(FIELD_COLUMN.get(field or ""), str(error["msg"]))
            continue
        found.append(Registration(number, row.text("vendor") or default_vendor, spec))
    return parsed


def register_all(
    conn: Connection,
    audit: AuditLog,
    caller: Caller,
    parsed: Parsed,
    *,
    now: dt.datetime,
) -> list[Equipment]:
    """Register every row that read well in the caller's transaction; raise ``LedgerFileError`` (the caller rolls
    back) listing the file's bad cells and every row the store refused, by row and column."""
    errors = list(parsed.errors)
    done: list[Equipment] = []
    for item in parsed.rows:
        try:
            done.append(store.register(conn, audit, caller, item.spec, now, vendor=item.vendor))
        except store.HostingError as exc:
            errors.append(RowError(item.row, FIELD_COLUMN.get(exc.field or ""), str(exc), EQUIPMENT_FORM))
    if errors:
        raise rejected(parsed.source, errors)
    return done


def rejected(source: str, errors: list[RowError]) -> LedgerFileError:
    """The file's rejection: every problem, by row, then in the form's column order."""
    return LedgerFileError(source, sorted(errors, key=lambda e: (e.row or 0, _order(e.column))))


def _order(column: str | None) -> int:
    keys = [c.key for c in EQUIPMENT_FORM.columns]
    return keys.index(column) if column in keys else len(keys)
