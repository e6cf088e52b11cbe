"""The report as an Excel workbook, the format the department works in: a summary sheet first, then one sheet per
section, each with its header row frozen and filterable, numbers as numbers with their formats (percentages as
Excel percentages, GiB and cores as numbers, dates as dates in UTC+8), and columns wide enough to read.

Pure: the same report gives the same bytes (the workbook's and the archive's timestamps are the report's
generation time), so a file can be matched with the SHA-256 the operation log recorded for it.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
import zipfile
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from controlplane.clock import CST
from controlplane.i18n import Lang
from controlplane.report.labels import text
from controlplane.report.model import MonthlyReport
from controlplane.report.sections import Cell, Column, Section, facts, per_unit, sections

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
TITLE_FONT = Font(bold=True, size=14)
NOTE_FONT = Font(italic=True, color="595959")
FORMATS = {
    "percent": "0.0%",
    "points": "+0.0;-0.0;0.0",
    "date": "yyyy-mm-dd",
    "time": "yyyy-mm-dd hh:mm",
    "int": "#,##0",
}
MAX_WIDTH = 60


def render_xlsx(report: MonthlyReport, lang: Lang) -> bytes:
    wb = Workbook()
    summary = wb.worksheets[0]
    summary.title = text(lang, "sheet.summary")
    _summary(summary, report, lang)
    for section in sections(report, lang):
        _table(wb.create_sheet(section.title), section)
    naive = report.generated_at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.creator = "yunguan"
    wb.properties.title = text(lang, "title", month=report.month)
    wb.properties.created = naive
    wb.properties.modified = naive
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps the file with the wall clock
    ExcelWriter(wb, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _fixed_times(buffer.getvalue(), naive)


def _value(  # noqa: PLR0911 - one return per kind of cell, flat on purpose
    value: Cell, kind: str
) -> tuple[Any, str | None]:
    """A cell value as Excel keeps it, and its number format."""
    if value is None:
        return None, None
    if kind == "percent":
        return float(value) / 100, FORMATS["percent"]  # type: ignore[arg-type]
    if kind == "points":
        return float(value), FORMATS["points"]  # type: ignore[arg-type]
    if kind == "time" and isinstance(value, dt.datetime):
        return value.astimezone(CST).replace(tzinfo=None), FORMATS["time"]
    if isinstance(value, dt.date):
        return value, FORMATS["date"]
    if isinstance(value, Decimal):
        whole = value == value.to_integral_value()
        return (int(value) if whole else float(value)), ("#,##0" if whole else "#,##0.0##")
    if isinstance(value, int) and not isinstance(value, bool):
        return value, FORMATS["int"]
    return value, None


def _width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        return 8
    shown = value.strftime("%Y-%m-%d %H:%M") if isinstance(value, dt.datetime) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in shown)


def _header(ws: Any, row: int, columns: tuple[Column, ...]) -> None:
    for number, column in enumerate(columns, start=1):
        cell = ws.cell(row=row, column=number, value=column.header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)


def _rows(ws: Any, first: int, section: Section, widths: dict[int, int]) -> int:
    """Write the section's rows from row ``first``; returns the next free row."""
    row = first
    for values in section.rows:
        for number, (column, value) in enumerate(zip(section.columns, values, strict=True), start=1):
            stored, fmt = _value(value, column.kind)
            cell = ws.cell(row=row, column=number, value=stored)
            if fmt:
                cell.number_format = fmt
            widths[number] = max(widths.get(number, 0), _width(value if column.kind != "percent" else 1.0))
        row += 1
    return row


def _fit(ws: Any, widths: dict[int, int]) -> None:
    for number, width in widths.items():
        ws.column_dimensions[get_column_letter(number)].width = min(MAX_WIDTH, max(8, width + 2))


def _table(ws: Any, section: Section) -> None:
    """One section on its own sheet: header in row 1, frozen, with a filter over the rows."""
    _header(ws, 1, section.columns)
    widths = {n: _width(c.header) for n, c in enumerate(section.columns, start=1)}
    end = _rows(ws, 2, section, widths)
    ws.freeze_panes = "A2"
    last = get_column_letter(len(section.columns))
    ws.auto_filter.ref = f"A1:{last}{max(end - 1, 1)}"
    if section.note:
        note = ws.cell(row=end + (1 if section.rows else 0), column=1, value=section.note)
        note.font = NOTE_FONT
    _fit(ws, widths)


def _summary(ws: Any, report: MonthlyReport, lang: Lang) -> None:
    """Title, what the month was, the headline figures, then one line per unit. The title rows stay in view."""
    last = (report.end.astimezone(CST) - dt.timedelta(days=1)).date()
    ws.cell(row=1, column=1, value=text(lang, "title", month=report.month)).font = TITLE_FONT
    subtitle = text(lang, "subtitle", first=report.start.astimezone(CST).date(), last=last, as_of=report.as_of)
    ws.cell(row=2, column=1, value=subtitle).font = NOTE_FONT
    ws.freeze_panes = "A4"
    fact_columns = (Column("fact", text(lang, "fact")), Column("value", text(lang, "value")))
    _header(ws, 4, fact_columns)
    widths: dict[int, int] = {1: 12, 2: 12}
    row = 5
    for label, value in facts(report, lang):
        ws.cell(row=row, column=1, value=label)
        kind = "time" if isinstance(value, dt.datetime) else "text"
        stored, fmt = _value(value, kind)
        cell = ws.cell(row=row, column=2, value=stored)
        cell.alignment = Alignment(horizontal="left")
        if fmt:
            cell.number_format = fmt
        widths[1] = max(widths[1], _width(label))
        widths[2] = max(widths[2], _width(value))
        row += 1
    units = per_unit(report, lang)
    row += 1
    ws.cell(row=row, column=1, value=units.title).font = Font(bold=True)
    _header(ws, row + 1, units.columns)
    for number, column in enumerate(units.columns, start=1):
        widths[number] = max(widths.get(number, 0), _width(column.header))
    _rows(ws, row + 2, units, widths)
    _fit(ws, widths)


def _fixed_times(data: bytes, when: dt.datetime) -> bytes:
    """The same archive with every entry dated ``when`` (zip files otherwise carry the time of writing)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
