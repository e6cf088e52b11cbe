"""The report's sections as typed tables (columns with a kind, rows of raw values), shared by the XLSX and HTML
renderers so both say the same thing; each renderer only decides how a kind of value looks.

Kinds: ``text``; ``int``; ``decimal`` (cores, GiB, Mbit/s); ``percent`` (0-100, one decimal shown); ``points`` (a
signed difference in percentage points); ``date``; ``time`` (an aware datetime, shown in UTC+8).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from controlplane import units
from controlplane.i18n import Lang
from controlplane.report.labels import text
from controlplane.report.model import RESOURCES, Measured, MonthlyReport, Quality

Cell = str | int | float | Decimal | dt.date | dt.datetime | None


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"


@dataclass(frozen=True)
class Section:
    key: str  # summary, allocation, measured, findings, actions, vendor
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""  # said when there are no rows, or why they may be incomplete


def _cols(lang: Lang, *spec: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(key, text(lang, f"col.{key}"), kind) for key, kind in spec)


def gib(value: int) -> Decimal:
    return units.bytes_to_gib(value).normalize() if value else Decimal(0)


def why(lang: Lang, m: Measured) -> str:
    if not m.why:
        return ""
    return text(lang, f"why.{m.why}", k=m.estimated, n=m.samples, days=m.days, of=m.month_days, servers=m.unweighted)


def facts(report: MonthlyReport, lang: Lang) -> list[tuple[str, Cell]]:
    """The summary's headline figures, label and value."""
    allocated = [s.allocation for s in report.systems if s.allocation is not None]
    cpu = [s.figure("cpu") for s in report.systems]
    trusted = sum(1 for m in cpu if m is not None and m.quality is Quality.MEASURED)
    states = report.finding_states()
    findings: Cell = len(report.findings) if report.findings_recorded else text(lang, "not_recorded")
    if report.findings_recorded and states:
        findings = f"{len(report.findings)}（" if lang == "zh" else f"{len(report.findings)} ("
        findings += ", ".join(f"{text(lang, f'state.{k}')} {n}" for k, n in sorted(states.items()))
        findings += "）" if lang == "zh" else ")"
    return [
        (text(lang, "fact.month"), report.month),
        (text(lang, "fact.generated"), report.generated_at),
        (text(lang, "fact.units"), len(report.units)),
        (text(lang, "fact.systems"), len({s.system for s in report.systems})),
        (text(lang, "fact.lines"), len(report.systems)),
        (text(lang, "fact.vcpu"), sum((a.vcpu for a in allocated), Decimal(0))),
        (text(lang, "fact.memory"), gib(sum(a.memory_bytes for a in allocated))),
        (text(lang, "fact.storage"), gib(sum(a.storage_bytes for a in allocated))),
        (text(lang, "fact.instances"), sum(a.instances for a in allocated)),
        (text(lang, "fact.measured"), trusted),
        (text(lang, "fact.not_measured"), len(report.systems) - trusted),
        (text(lang, "fact.findings"), findings),
        (
            text(lang, "fact.actions"),
            len(report.actions) if report.actions_recorded else text(lang, "not_recorded"),
        ),
        (text(lang, "fact.vendor"), f"{len(report.vendor)} / {report.differing()}"),
        (text(lang, "fact.margin"), report.margin_points),
    ]


def per_unit(report: MonthlyReport, lang: Lang) -> Section:
    columns = _cols(
        lang,
        ("unit", "text"),
        ("systems", "int"),
        ("vcpu", "decimal"),
        ("memory", "decimal"),
        ("storage", "decimal"),
        ("instances", "int"),
        ("findings", "int"),
        ("differs", "int"),
    )
    rows: list[tuple[Cell, ...]] = []
    for unit in report.units:
        lines = [s for s in report.systems if s.unit == unit]
        keys = {s.system for s in lines}
        allocated = [s.allocation for s in lines if s.allocation is not None]
        rows.append(
            (
                unit,
                len(keys),
                sum((a.vcpu for a in allocated), Decimal(0)),
                gib(sum(a.memory_bytes for a in allocated)),
                gib(sum(a.storage_bytes for a in allocated)),
                sum(a.instances for a in allocated),
                sum(1 for f in report.findings if f.system in keys) if report.findings_recorded else None,
                sum(1 for v in report.vendor if v.system in keys and v.verdict == "differs"),
            )
        )
    return Section("units", text(lang, "sheet.units"), columns, tuple(rows))


def allocation(report: MonthlyReport, lang: Lang) -> Section:
    hosting = any(s.allocation is not None and s.allocation.hosting for s in report.systems)
    spec: list[tuple[str, str]] = [
        ("unit", "text"),
        ("system", "text"),
        ("name", "text"),
        ("cloud", "text"),
        ("mode", "text"),
        ("status", "text"),
        ("approval", "text"),
        ("kind", "text"),
        ("from", "date"),
        ("to", "date"),
        ("vcpu", "decimal"),
        ("memory", "decimal"),
        ("storage", "decimal"),
        ("instances", "int"),
    ]
    if hosting:
        spec += [("rack_units", "int"), ("power", "int"), ("bandwidth", "decimal"), ("devices", "int")]
    rows: list[tuple[Cell, ...]] = []
    for s in report.systems:
        a = s.allocation
        head: tuple[Cell, ...] = (
            s.unit,
            s.system,
            s.name,
            s.cloud,
            text(lang, f"mode.{s.mode}"),
            text(lang, f"status.{s.status}"),
        )
        if a is None:
            rows.append(head + (None,) * (len(spec) - len(head)))
            continue
        row: tuple[Cell, ...] = (
            *head,
            a.approval_ref,
            text(lang, f"kind.{a.kind}"),
            a.effective_from,
            a.effective_to,
            a.vcpu,
            gib(a.memory_bytes),
            gib(a.storage_bytes),
            a.instances,
        )
        if hosting and a.hosting:
            bandwidth = (Decimal(a.bandwidth_bps) / units.MBIT).normalize()
            row += (a.rack_units, a.power_watts, bandwidth, a.devices)
        elif hosting:  # a cloud line beside hosted ones: no hosting quantities, not zero of them
            row += (None, None, None, None)
        rows.append(row)
    return Section("allocation", text(lang, "sheet.allocation"), _cols(lang, *spec), tuple(rows))


def measured(report: MonthlyReport, lang: Lang) -> Section:
    columns = _cols(
        lang,
        ("unit", "text"),
        ("system", "text"),
        ("name", "text"),
        ("cloud", "text"),
        ("resource", "text"),
        ("basis", "text"),
        ("mean", "percent"),
        ("peak", "percent"),
        ("peak_at", "time"),
        ("peak_scope", "text"),
        ("samples", "int"),
        ("estimated", "int"),
        ("missing", "int"),
        ("days", "int"),
        ("month_days", "int"),
        ("quality", "text"),
        ("note", "text"),
    )
    rows: list[tuple[Cell, ...]] = []
    for s in report.systems:
        for resource in RESOURCES:
            m = s.figure(resource)
            if m is None:
                continue
            rows.append(
                (
                    s.unit,
                    s.system,
                    s.name,
                    s.cloud,
                    text(lang, f"resource.{resource}"),
                    text(lang, f"basis.{m.basis}"),
                    m.mean,
                    m.peak,
                    m.peak_at,
                    m.peak_scope or None,
                    m.samples,
                    m.estimated,
                    m.missing,
                    m.days,
                    m.month_days,
                    text(lang, f"quality.{m.quality.value}"),
                    why(lang, m) or None,
                )
            )
    return Section("measured", text(lang, "sheet.measured"), columns, tuple(rows), note=text(lang, "legend.quality"))


def findings(report: MonthlyReport, lang: Lang) -> Section:
    columns = _cols(
        lang,
        ("id", "int"),
        ("unit", "text"),
        ("system", "text"),
        ("name", "text"),
        ("cloud", "text"),
        ("pack", "text"),
        ("rule", "text"),
        ("citation", "text"),
        ("scope", "text"),
        ("outcome", "text"),
        ("state", "text"),
        ("opened", "time"),
        ("deadline", "date"),
    )
    rows = tuple(
        (
            f.id,
            report.unit_of(f.system),
            f.system,
            report.name_of(f.system),
            f.cloud,
            f.pack,
            f.rule_id,
            f.citation,
            f"{f.scope_kind}:{f.scope_id}",
            text(lang, f"outcome.{f.outcome}"),
            text(lang, f"state.{f.state}"),
            f.opened,
            f.deadline,
        )
        for f in report.findings
    )
    note = "" if report.findings_recorded else text(lang, "findings_not_recorded")
    return Section("findings", text(lang, "sheet.findings"), columns, rows, note=note)


def actions(report: MonthlyReport, lang: Lang) -> Section:
    columns = _cols(
        lang,
        ("id", "int"),
        ("finding", "int"),
        ("unit", "text"),
        ("system", "text"),
        ("cloud", "text"),
        ("action", "text"),
        ("target", "text"),
        ("state", "text"),
        ("at", "time"),
    )
    rows = tuple(
        (
            a.id,
            a.finding_id,
            report.unit_of(a.system),
            a.system,
            a.cloud,
            text(lang, f"action.{a.kind}"),
            a.target,
            text(lang, f"action_state.{a.state}"),
            a.at,
        )
        for a in report.actions
    )
    note = "" if report.actions_recorded else text(lang, "actions_not_recorded")
    return Section("actions", text(lang, "sheet.actions"), columns, rows, note=note)


def vendor(report: MonthlyReport, lang: Lang) -> Section:
    columns = _cols(
        lang,
        ("unit", "text"),
        ("system", "text"),
        ("name", "text"),
        ("cloud", "text"),
        ("server", "text"),
        ("metric", "text"),
        ("vendor", "text"),
        ("reported", "percent"),
        ("measured", "percent"),
        ("difference", "points"),
        ("samples", "int"),
        ("days", "int"),
        ("verdict", "text"),
        ("note", "text"),
    )
    rows = tuple(
        (
            report.unit_of(v.system),
            v.system,
            report.name_of(v.system),
            v.cloud,
            v.server or text(lang, "whole_system"),
            text(lang, f"metric.{v.metric}"),
            v.vendor,
            v.reported,
            v.measured,
            v.difference,
            v.samples,
            v.days,
            text(lang, f"verdict.{v.verdict}"),
            text(lang, f"why.{v.why}", k=v.estimated, n=v.samples, days=v.days, of=v.month_days, servers="")
            if v.why
            else None,
        )
        for v in report.vendor
    )
    note = "" if rows else text(lang, "no_vendor")
    return Section("vendor", text(lang, "sheet.vendor"), columns, rows, note=note)


def sections(report: MonthlyReport, lang: Lang) -> Sequence[Section]:
    """Every tabular section after the summary, in report order."""
    return (
        allocation(report, lang),
        measured(report, lang),
        findings(report, lang),
        actions(report, lang),
        vendor(report, lang),
    )


def tenth(value: float | Decimal) -> Decimal:
    """A figure to one decimal, half up, from its decimal text (26.45 is 26.5, as people round it)."""
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def cst(when: dt.datetime) -> str:
    """A time as the department reads it: Beijing time to the minute."""
    return when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")


def shown(  # noqa: PLR0911 - one return per kind of cell, flat on purpose
    value: Any, kind: str
) -> str:
    """A cell as text, for HTML and CSV."""
    if value is None:
        return ""
    if kind == "percent":
        return str(tenth(value))
    if kind == "points":
        number = tenth(value)
        return f"{number:+}" if number else "0.0"
    if kind == "time" and isinstance(value, dt.datetime):
        return cst(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return units.plain(value)
    return str(value)
