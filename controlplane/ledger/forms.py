"""Reading ledger files: CSV and XLSX with Chinese or English headers, and YAML.

Each reader yields raw rows as ``(row number, {column key: cell})``. Row numbers are what the unit sees: the
spreadsheet row (the header is row 1), or the item number under ``rows:`` in YAML. The CSV and XLSX readers take
the form whose columns they look for (``read_form_file``), so other forms (the vendors' utilization reports) are read
and rejected the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from controlplane.ledger.columns import COLUMNS, HEADER_TO_KEY, LEDGER_FORM, Form, fold

RawRow = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int | None
    column: str | None  # a column key of ``form``, or the header as written
    message: str
    form: Form = field(default=LEDGER_FORM, compare=False, repr=False)

    def render(self, source: str) -> str:
        where = source
        if self.row is not None:
            where += f": row {self.row}"
        if self.column is not None:
            where += f", column {self.form.label(self.column) if self.column in self.form.by_key else self.column}"
        return f"{where}: {self.message}"


class LedgerFileError(Exception):
    """The file was rejected whole; ``errors`` lists every problem by row and column."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("\n".join(e.render(source) for e in errors))


@dataclass
class RawLedger:
    source: str
    rows: list[RawRow] = field(default_factory=list)
    clouds: list[dict[str, Any]] = field(default_factory=list)


def read_ledger_file(path: Path) -> RawLedger:
    if path.suffix.lower() in (".yaml", ".yml"):
        source = str(path)
        try:
            return _read_yaml(source, path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LedgerFileError(source, [RowError(None, None, f"cannot read: {exc.strerror}")]) from exc
        except UnicodeDecodeError:
            raise LedgerFileError(source, [RowError(None, None, "not UTF-8 text")]) from None
    return read_form_file(path, LEDGER_FORM, "use .csv, .xlsx or .yaml")


def read_form_file(path: Path, form: Form, types_hint: str = "use .csv or .xlsx") -> RawLedger:
    """A CSV (UTF-8 with or without BOM, or GB18030) or XLSX (first sheet) file of ``form``'s columns."""
    suffix = path.suffix.lower()
    source = str(path)
    try:
        if suffix == ".csv":
            return _read_csv(source, path.read_bytes(), form)
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(source, path, form)
    except OSError as exc:
        raise LedgerFileError(source, [RowError(None, None, f"cannot read: {exc.strerror}")]) from exc
    raise LedgerFileError(source, [RowError(None, None, f"unknown file type: {types_hint}")])


def _header_keys(source: str, headers: list[Any], form: Form) -> list[str | None]:
    keys: list[str | None] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    for header in headers:
        text = "" if header is None else str(header).strip()
        if not text:
            keys.append(None)
            continue
        key = form.header_to_key.get(fold(text))
        if key is None:
            errors.append(RowError(1, text, "unknown column", form))
        elif key in seen:
            errors.append(RowError(1, text, f"the same column as {seen[key]!r}", form))
        else:
            seen[key] = text
        keys.append(key)
    missing = [c.key for c in form.columns if c.required and c.key not in seen]
    errors.extend(RowError(1, key, "required column missing", form) for key in missing)
    if errors:
        raise LedgerFileError(source, errors)
    return keys


def _rows_from_table(source: str, table: list[list[Any]], form: Form, first_row: int = 1) -> RawLedger:
    ledger = RawLedger(source)
    if not table:
        raise LedgerFileError(source, [RowError(None, None, "the file is empty")])
    keys = _header_keys(source, table[0], form)
    for offset, cells in enumerate(table[1:], start=first_row + 1):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        row = {key: cell for key, cell in zip(keys, cells, strict=False) if key is not None}
        ledger.rows.append((offset, row))
    if not ledger.rows:
        raise LedgerFileError(source, [RowError(None, None, "no data rows under the header")])
    return ledger


def _read_csv(source: str, data: bytes, form: Form) -> RawLedger:
    # Excel saves CSV as UTF-8 with a BOM, or as GB18030 on Chinese Windows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LedgerFileError(source, [RowError(None, None, "neither UTF-8 nor GB18030 text")])
    table = [list(r) for r in csv.reader(io.StringIO(text))]
    return _rows_from_table(source, table, form)


def _read_xlsx(source: str, path: Path, form: Form) -> RawLedger:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise LedgerFileError(source, [RowError(None, None, f"not a readable XLSX workbook ({exc})")]) from None
    try:
        sheet = book.worksheets[0]
        table = [[_shown(c.value, c.number_format) for c in r] for r in sheet.iter_rows()]
    finally:
        book.close()
    return _rows_from_table(f"{source} [{sheet.title}]", table, form)


def _shown(value: Any, number_format: str | None) -> Any:
    """A number in a cell formatted as a percentage is read as what the sheet shows: 0.35 shown as 35% is "35%"."""
    if number_format and "%" in number_format and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{Decimal(str(value)) * 100:f}%"
    return value


def _read_yaml(source: str, text: str) -> RawLedger:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise LedgerFileError(source, [RowError(None, None, f"line {line}: not valid YAML: {exc.problem}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise LedgerFileError(source, [RowError(None, None, "expected a mapping with a 'rows:' list")])
    unknown = sorted(set(data) - {"rows", "clouds"})
    if unknown:
        raise LedgerFileError(source, [RowError(None, k, "unknown top-level key") for k in unknown])
    ledger = RawLedger(source)
    errors: list[RowError] = []
    for number, item in enumerate(data["rows"], start=1):
        if not isinstance(item, dict):
            errors.append(RowError(number, None, "each row must be a mapping of column: value"))
            continue
        row: dict[str, Any] = {}
        for header, value in item.items():
            key = HEADER_TO_KEY.get(fold(str(header)))
            if key is None:
                errors.append(RowError(number, str(header), "unknown column"))
            else:
                row[key] = value
        errors.extend(
            RowError(number, c.key, "required column missing") for c in COLUMNS if c.required and c.key not in row
        )
        ledger.rows.append((number, row))
    clouds = data.get("clouds") or []
    if not isinstance(clouds, list) or not all(isinstance(c, dict) for c in clouds):
        errors.append(RowError(None, "clouds", "'clouds:' must be a list of mappings"))
    else:
        ledger.clouds = clouds
    if not ledger.rows and not errors:
        errors.append(RowError(None, None, "no rows"))
    if errors:
        raise LedgerFileError(source, errors)
    return ledger


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
