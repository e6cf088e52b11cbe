"""Writing a rendered report and recording it in the operation log, together.

The event (``report.generate``: month, format, language, file name, size, SHA-256 of the bytes) is appended in the
same transaction in which the file is put in place: if the file cannot be written, the event rolls back; if the
transaction cannot commit, the file is removed. So every report file an auditor holds can be matched, by its
SHA-256, with the one event that says when and by whom it was generated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from controlplane.audit.log import AuditLog, Entry
from controlplane.i18n import Lang
from controlplane.report.model import MonthlyReport
from controlplane.report.render_csv import render_csv
from controlplane.report.render_html import render_html
from controlplane.report.render_xlsx import render_xlsx

RENDERERS: dict[str, Callable[[MonthlyReport, Lang], bytes]] = {
    "xlsx": render_xlsx,
    "html": render_html,
    "csv": render_csv,
}
ACTION = "report.generate"


@dataclass(frozen=True)
class Published:
    path: Path
    sha256: str
    size: int
    seq: int  # the operation-log event that records it


def render(report: MonthlyReport, fmt: str, lang: Lang) -> bytes:
    return RENDERERS[fmt](report, lang)


def publish(  # noqa: PLR0917 - the report, where it goes and who logs it, each explicit
    engine: Engine,
    audit: AuditLog,
    actor: str,
    report: MonthlyReport,
    fmt: str,
    lang: Lang,
    out: Path,
    request_id: str = "",
) -> Published:
    """Render ``report`` as ``fmt``, write it to ``out`` and log it, atomically as far as a file and a database
    transaction can be (see the module docstring)."""
    data = render(report, fmt, lang)
    digest = hashlib.sha256(data).hexdigest()
    partial = out.with_name(f".{out.name}.partial")
    placed = False
    try:
        with engine.begin() as conn:
            seq = audit.append(
                conn,
                Entry(
                    actor=actor,
                    action=ACTION,
                    target=f"report:monthly/{report.month}",
                    after={
                        "month": report.month,
                        "format": fmt,
                        "lang": lang,
                        "file": out.name,
                        "bytes": len(data),
                        "sha256": digest,
                    },
                    request_id=request_id,
                ),
            )
            partial.write_bytes(data)
            partial.replace(out)
            placed = True
    except BaseException:
        partial.unlink(missing_ok=True)
        if placed:
            out.unlink(missing_ok=True)
        raise
    return Published(out, digest, len(data), seq)
