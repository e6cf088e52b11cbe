"""The report as one flat CSV table for scripts and spreadsheets: one row per system and cloud with its allocation,
each resource's measured mean, peak, samples and quality, its findings, actions and the vendor's whole-system figures.

UTF-8 with a byte-order mark, so Excel opens the Chinese headers as they are; numbers are plain (percent 0-100 to one
decimal, GiB and cores as written on the forms); an empty cell is "not known", never zero.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from controlplane import units
from controlplane.i18n import Lang
from controlplane.report.labels import text
from controlplane.report.model import RESOURCES, MonthlyReport, SystemMonth
from controlplane.report.sections import gib, shown

VENDOR_METRICS = ("cpu_mean", "memory_mean", "storage")


def headers(lang: Lang) -> list[str]:
    def col(key: str) -> str:
        return text(lang, f"col.{key}")

    names = [
        col(k)
        for k in (
            "unit",
            "system",
            "name",
            "cloud",
            "mode",
            "status",
            "approval",
            "kind",
            "vcpu",
            "memory",
            "storage",
            "instances",
            "rack_units",
            "power",
            "bandwidth",
            "devices",
        )
    ]
    for resource in RESOURCES:
        label = text(lang, f"resource.{resource}")
        names += [f"{label} {col(k)}" for k in ("mean", "peak", "samples", "estimated", "days", "quality")]
    names += [col("findings"), col("state"), text(lang, "sheet.actions")]
    names += [f"{col('reported')} {text(lang, f'metric.{m}')}" for m in VENDOR_METRICS]
    names.append(col("differs"))
    return names


def _line(report: MonthlyReport, s: SystemMonth, lang: Lang) -> list[str]:
    a = s.allocation
    row = [s.unit, s.system, s.name, s.cloud, text(lang, f"mode.{s.mode}"), text(lang, f"status.{s.status}")]
    if a is None:
        row += [""] * 10
    else:
        bandwidth = (Decimal(a.bandwidth_bps) / units.MBIT).normalize()
        row += [a.approval_ref, text(lang, f"kind.{a.kind}"), units.plain(a.vcpu)]
        row += [units.plain(gib(a.memory_bytes)), units.plain(gib(a.storage_bytes)), str(a.instances)]
        if a.hosting:
            row += [str(a.rack_units), str(a.power_watts), units.plain(bandwidth), str(a.devices)]
        else:
            row += [""] * 4  # not a hosting allocation
    for resource in RESOURCES:
        m = s.figure(resource)
        if m is None:
            row += [""] * 6
            continue
        row += [shown(m.mean, "percent"), shown(m.peak, "percent"), str(m.samples), str(m.estimated), str(m.days)]
        row.append(text(lang, f"quality.{m.quality.value}"))
    mine = [f for f in report.findings if f.system == s.system and f.cloud in (None, s.cloud)]
    states = sorted({f.state for f in mine})
    row.append(str(len(mine)) if report.findings_recorded else "")
    row.append("; ".join(f"{text(lang, f'state.{x}')} {sum(1 for f in mine if f.state == x)}" for x in states))
    taken = [x for x in report.actions if x.system == s.system and x.cloud in (None, s.cloud)]
    row.append(str(len(taken)) if report.actions_recorded else "")
    figures = [v for v in report.vendor if v.system == s.system and v.cloud == s.cloud and not v.server]
    for metric in VENDOR_METRICS:
        values = [v.reported for v in figures if v.metric == metric]
        row.append(shown(values[0], "percent") if len(values) == 1 else "/".join(shown(v, "percent") for v in values))
    mine_vendor = [v for v in report.vendor if v.system == s.system and v.cloud == s.cloud]
    row.append(str(sum(1 for v in mine_vendor if v.verdict == "differs")))
    return row


def render_csv(report: MonthlyReport, lang: Lang) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers(lang))
    for s in report.systems:
        writer.writerow(_line(report, s, lang))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
