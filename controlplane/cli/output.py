"""Rendering results: rich tables for people, JSON and YAML for scripts (stdout only carries the result)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from controlplane.audit.chain import json_default


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


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
    if fmt is Format.YAML:
        plain = json.loads(json.dumps(list(rows), default=json_default))
        console.out(yaml.safe_dump(plain, allow_unicode=True, sort_keys=False), end="", highlight=False)
        return
    table = Table(title=title or None, show_lines=False)
    for index, (_, header) in enumerate(columns):
        # names wrap; numbers, dates and codes stay on one line
        table.add_column(header, overflow="fold", no_wrap=index >= 2)
    for row in rows:
        table.add_row(*[_cell(row.get(key)) for key, _ in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
