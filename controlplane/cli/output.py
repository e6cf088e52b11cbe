"""Rendering results: rich tables for people, JSON and YAML for scripts (stdout only carries the result)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from controlplane.audit.chain import json_default


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"
    CSV = "csv"


def emit(
    console: Console,
    fmt: Format,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    title: str = "",
) -> None:
    if fmt is Format.JSON:
        console.print_json(json.dumps(list(rows), ensure_ascii=False, default=json_default))
        return
    if fmt is Format.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([key for key, _ in columns])
        for row in rows:
            writer.writerow([_csv_cell(row.get(key)) for key, _ in columns])
        console.out(buffer.getvalue(), end="", highlight=False)
        return
    if fmt is Format.YAML:
        plain = json.loads(json.dumps(list(rows), default=json_default))
        console.out(yaml.safe_dump(plain, allow_unicode=True, sort_keys=False), end="", highlight=False)
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in cells)]) for i, (_, h) in enumerate(columns)]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:
        table = Table(title=title or None)
        for _, header in columns:
            table.add_column(header, no_wrap=True)
        for line in cells:
            table.add_row(*line)
        console.print(table)
        return
    # too wide for this terminal: one block per row, like psql's expanded display
    if title:
        console.print(title, style="bold", highlight=False)
    for number, line in enumerate(cells, start=1):
        block = Table(show_header=False, box=box.SIMPLE_HEAD, title=f"[{number}]", title_justify="left")
        block.add_column(style="bold")
        block.add_column(overflow="fold")
        for (_, header), value in zip(columns, line, strict=True):
            block.add_row(header, value)
        console.print(block)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    return str(value)


def _csv_cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=json_default)
    return "" if value is None else str(value)
