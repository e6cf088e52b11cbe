"""The vendors' monthly utilization form (利用率报送表): one row per system, or per server, per month per cloud.

Read with the ledger's readers (CSV in UTF-8 or GB18030, XLSX first sheet; Chinese or English headers) and checked
whole against the ledger: every bad cell is collected by row and column and the file is rejected as one, so a report
is never half-recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from controlplane import units
from controlplane.domain import Cloud
from controlplane.ledger.columns import Column, Form
from controlplane.ledger.forms import LedgerFileError, RawLedger, RowError, cell_text, read_form_file

# form column -> what it reports; every figure is a percentage, kept to 0.01 point
METRIC_COLUMNS = ("cpu_mean", "memory_mean", "storage", "cpu_peak", "memory_peak")
PEAK_OF = {"cpu_peak": "cpu_mean", "memory_peak": "memory_mean"}

REPORT_FORM = Form(
    (
        Column("month", "month", "月份", True, ("报送月份", "统计月份", "reporting month")),
        Column("cloud", "cloud", "云平台", True, ("云平台名称", "platform")),
        Column("system_code", "system code", "系统编号", False, ("系统代码", "system id")),
        Column("system", "system", "应用系统", False, ("系统名称", "应用系统名称", "system name")),
        Column("unit", "unit", "使用单位", False, ("单位", "单位名称", "department")),
        Column("server_id", "server id", "云主机ID", False, ("云主机编号", "虚拟机ID", "实例ID", "instance id")),
        Column(
            "cpu_mean",
            "CPU mean %",
            "CPU平均利用率（%）",
            False,
            ("CPU平均利用率", "CPU平均使用率", "CPU平均使用率（%）", "cpu mean", "cpu average %", "cpu average"),
        ),
        Column(
            "memory_mean",
            "memory mean %",
            "内存平均利用率（%）",
            False,
            ("内存平均利用率", "内存平均使用率", "内存平均使用率（%）", "memory mean", "memory average %"),
        ),
        Column(
            "storage",
            "storage %",
            "存储利用率（%）",
            False,
            ("存储利用率", "存储使用率", "存储使用率（%）", "磁盘利用率", "storage", "storage utilization"),
        ),
        Column(
            "cpu_peak",
            "CPU peak %",
            "CPU峰值利用率（%）",
            False,
            ("CPU峰值", "CPU峰值利用率", "CPU峰值（%）", "cpu peak"),
        ),
        Column(
            "memory_peak",
            "memory peak %",
            "内存峰值利用率（%）",
            False,
            ("内存峰值", "内存峰值利用率", "内存峰值（%）", "memory peak"),
        ),
        Column("vendor", "vendor", "报送单位", False, ("云服务商", "服务商", "报送单位名称", "reported by")),
    )
)

_MONTH = re.compile(r"^(\d{4})\s*(?:[-/.年]\s*(\d{1,2})|(\d{2}))\s*月?$")
_PERCENT = re.compile(r"^(.*?)\s*[%％]$")
HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Figure:
    """One reported figure: a percentage for a system (``server`` empty) or one of its servers, in one month."""

    vendor: str
    month: str  # YYYY-MM, a calendar month in China Standard Time
    cloud: str
    system: str  # the system's key in the ledger
    server: str  # "" when the figure is for the whole system
    metric: str  # one of METRIC_COLUMNS
    percent: Decimal

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.vendor, self.month, self.cloud, self.system, self.server, self.metric)


@dataclass(frozen=True)
class KnownLedger:
    """What the form is checked against: the clouds, the systems, and which systems are on which cloud."""

    clouds: Mapping[str, Cloud]
    systems: Mapping[str, tuple[str, str]]  # system key -> (name, unit)
    on_cloud: frozenset[tuple[str, str]]  # (system key, cloud) with an approval or a footprint


@dataclass
class ReportBatch:
    source: str
    figures: list[tuple[Figure, int]] = field(default_factory=list)


def read_report_file(path: Path) -> RawLedger:
    return read_form_file(path, REPORT_FORM)


def month_of(value: Any) -> tuple[int, int] | None:
    """A month as people write it (2026-10, 2026/10, 2026年10月, 202610, or a date cell), or None."""
    if isinstance(value, dt.date):
        return value.year, value.month
    match = _MONTH.match(cell_text(value))
    if not match:
        return None
    month = int(match[2] or match[3])
    return (int(match[1]), month) if 1 <= month <= 12 else None


def parse_percent(text: str) -> Decimal:
    """ "35", "35%", "35.5 %" -> a percentage kept to 0.01 point; raises ``units.UnitError``."""
    match = _PERCENT.match(text.strip())
    number = match[1] if match else text
    try:
        value = Decimal(number.strip())
    except InvalidOperation:
        raise units.UnitError(f"not a percentage: {text!r} (write 35 or 35%)") from None
    if not value.is_finite():
        raise units.UnitError(f"not a percentage: {text!r} (write 35 or 35%)")
    if not 0 <= value <= 100:
        raise units.UnitError(f"{text!r} is outside 0-100%")
    return value.quantize(HUNDREDTH, rounding=ROUND_HALF_EVEN)


class _Row:
    def __init__(self, number: int, cells: Mapping[str, Any], errors: list[RowError]) -> None:
        self.number = number
        self.cells = cells
        self.errors = errors

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.number, column, message, REPORT_FORM))

    def text(self, key: str) -> str:
        return cell_text(self.cells.get(key))


def parse_report(
    raw: RawLedger, known: KnownLedger, current_month: tuple[int, int], vendor: str | None = None
) -> ReportBatch:
    """Check every row; raise ``LedgerFileError`` listing all problems, or return the figures.

    ``vendor`` (the CLI's ``--vendor``) fills empty 报送单位 cells; with neither, the cloud's vendor reported."""
    errors: list[RowError] = []
    batch = ReportBatch(raw.source)
    seen: dict[tuple[str, ...], tuple[Figure, int]] = {}
    for number, cells in raw.rows:
        row = _Row(number, cells, errors)
        for figure in _parse_row(row, known, current_month, vendor):
            earlier = seen.get(figure.key)
            if earlier is None:
                seen[figure.key] = (figure, number)
                batch.figures.append((figure, number))
            elif earlier[0] != figure:
                row.fail(figure.metric, f"row {earlier[1]} gives another figure for the same month, system and server")
    if errors:
        raise LedgerFileError(raw.source, errors)
    return batch


def _parse_row(row: _Row, known: KnownLedger, current_month: tuple[int, int], vendor: str | None) -> list[Figure]:
    before = len(row.errors)
    month = _month(row, current_month)
    cloud = _cloud(row, known)
    system = _system(row, known)
    if cloud and system and (system, cloud.name) not in known.on_cloud:
        row.fail("cloud", f"system {system!r} has no approval or footprint on cloud {cloud.name!r}")
    figures: dict[str, Decimal] = {}
    filled = [key for key in METRIC_COLUMNS if row.text(key)]
    for key in filled:
        text = row.text(key)
        try:
            figures[key] = parse_percent(text)
        except units.UnitError as exc:
            row.fail(key, str(exc))
    for peak, mean in PEAK_OF.items():
        if peak in figures and mean in figures and figures[peak] < figures[mean]:
            row.fail(peak, f"the peak ({units.plain(figures[peak])}) is below the mean ({units.plain(figures[mean])})")
    if not filled:
        row.fail(None, "no figure: fill at least one utilization column")
    reporter = _vendor(row, vendor, cloud)
    if len(row.errors) > before or not (month and cloud and system and reporter):
        return []
    server = row.text("server_id")
    return [Figure(reporter, month, cloud.name, system, server, m, v) for m, v in figures.items()]


def _month(row: _Row, current_month: tuple[int, int]) -> str | None:
    raw = row.cells.get("month")
    if not cell_text(raw):
        row.fail("month", "empty")
        return None
    found = month_of(raw)
    if found is None:
        row.fail("month", f"not a month: {cell_text(raw)!r} (write 2026-10)")
        return None
    text = f"{found[0]:04d}-{found[1]:02d}"
    if found >= current_month:
        row.fail("month", f"{text} is not over yet: a report covers a whole past month")
        return None
    return text


def _cloud(row: _Row, known: KnownLedger) -> Cloud | None:
    name = row.text("cloud")
    if not name:
        row.fail("cloud", "empty")
        return None
    cloud = known.clouds.get(name)
    if cloud is None:
        row.fail("cloud", f"unknown cloud {name!r} (known: {', '.join(sorted(known.clouds)) or 'none configured'})")
    return cloud


def _system(row: _Row, known: KnownLedger) -> str | None:
    code, name, unit = row.text("system_code"), row.text("system"), row.text("unit")
    if code:
        if code not in known.systems:
            row.fail("system_code", f"unknown system {code!r}: not in the ledger")
            return None
        recorded_name, recorded_unit = known.systems[code]
        if name and name != recorded_name:
            row.fail("system", f"system {code!r} is {recorded_name!r} in the ledger, not {name!r}")
        elif unit and unit != recorded_unit:
            row.fail("unit", f"system {code!r} belongs to {recorded_unit!r} in the ledger, not {unit!r}")
        return code
    if not name:
        row.fail("system_code", "empty: give the system code, or the system name and unit")
        return None
    matches = [k for k, (n, u) in known.systems.items() if n == name and (not unit or u == unit)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        of_unit = f" of {unit!r}" if unit else ""
        row.fail("system", f"unknown system {name!r}{of_unit}: not in the ledger")
    else:
        row.fail("system", f"several systems are named {name!r} ({', '.join(sorted(matches))}): give the system code")
    return None


def _vendor(row: _Row, vendor: str | None, cloud: Cloud | None) -> str | None:
    written = row.text("vendor")
    if written and vendor and written != vendor:
        row.fail("vendor", f"the row says {written!r}, --vendor says {vendor!r}")
        return None
    return written or vendor or (cloud.vendor if cloud else None)
