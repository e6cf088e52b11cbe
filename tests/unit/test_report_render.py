"""The monthly report's renderers on hand-built data: the workbook opened back (sheets, frozen headers, number formats,
headers in Chinese and English, values), the HTML page (its own SVG charts, system names, nothing fetched), the flat
CSV, and the same data giving the same bytes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from controlplane.report.model import (
    Action,
    Allocation,
    Finding,
    Measured,
    MonthlyReport,
    Quality,
    SystemMonth,
    VendorFigure,
)
from controlplane.report.render_csv import render_csv
from controlplane.report.render_html import render_html
from controlplane.report.render_xlsx import render_xlsx

GIB = 2**30
UTC = dt.UTC


def measured(resource: str, mean: float | None, peak: float | None, quality: Quality, **kw: object) -> Measured:
    values: dict[str, object] = {
        "metric": f"{resource}_percent",
        "basis": "capacity",
        "peak_at": dt.datetime(2026, 10, 14, 6, tzinfo=UTC) if peak is not None else None,
        "peak_scope": "srv-1" if peak is not None else "",
        "samples": 0 if mean is None else 31,
        "estimated": 31 if quality is Quality.ESTIMATED else 0,
        "missing": 0,
        "days": 0 if mean is None else 31,
        "month_days": 31,
        "unweighted": 0,
        "why": {"estimated": "estimates", "unknown": "no-samples"}.get(quality.value, ""),
    }
    values.update(kw)
    return Measured(resource, mean=mean, peak=peak, quality=quality, **values)  # type: ignore[arg-type]


def allocation(vcpu: int, memory: int, storage: int, instances: int, **kw: int) -> Allocation:
    return Allocation(
        approval_ref=f"遂政数〔2026〕{vcpu}号",
        kind="standard",
        effective_from=dt.date(2026, 1, 15),
        effective_to=None,
        vcpu=Decimal(vcpu),
        memory_bytes=memory * GIB,
        storage_bytes=storage * GIB,
        instances=instances,
        **kw,
    )


def report(*, findings_recorded: bool = True) -> MonthlyReport:
    unknown = Quality.UNKNOWN
    return MonthlyReport(
        month="2026-10",
        start=dt.datetime(2026, 9, 30, 16, tzinfo=UTC),
        end=dt.datetime(2026, 10, 31, 16, tzinfo=UTC),
        as_of=dt.date(2026, 10, 31),
        generated_at=dt.datetime(2026, 11, 2, 1, 30, tzinfo=UTC),
        margin_points=Decimal(10),
        min_coverage=Decimal("0.5"),
        systems=(
            SystemMonth(
                unit="市公安局",
                system="GA-007",
                name="视频联网平台",
                cloud="yunguan-local",
                cloud_kind="openstack",
                mode="dedicated",
                status="active",
                allocation=allocation(32, 64, 2000, 8),
                measured=(
                    measured("cpu", 8.0, 23.5, Quality.MEASURED),
                    measured("memory", 60.25, 71.0, Quality.MEASURED),
                    measured("disk", 30.0, 30.0, Quality.ESTIMATED),
                ),
            ),
            SystemMonth(
                unit="市人力资源和社会保障局",
                system="RS-004",
                name="社保核心数据库",
                cloud="hosting-zone",
                cloud_kind="hosting",
                mode="hosting",
                status="active",
                allocation=allocation(0, 0, 0, 0, rack_units=8, power_watts=3200, bandwidth_bps=200_000_000, devices=2),
                measured=tuple(
                    measured(r, None, None, unknown, why="not-measured", basis="") for r in ("cpu", "memory", "disk")
                ),
            ),
        ),
        findings=(
            Finding(
                id=7,
                pack="suining",
                rule_id="suining-14-low-cpu",
                citation="Suining art. 14",
                system="GA-007",
                cloud="yunguan-local",
                scope_kind="system",
                scope_id="GA-007",
                outcome="downsize",
                state="reminded",
                opened=dt.datetime(2026, 10, 3, 2, tzinfo=UTC),
                deadline=dt.date(2026, 11, 4),
            ),
        ),
        findings_recorded=findings_recorded,
        actions=(),
        actions_recorded=False,
        vendor=(
            VendorFigure(
                "GA-007", "yunguan-local", "", "cpu_mean", "本地测试云", Decimal(45), Decimal(8), Decimal(37),
                31, 0, 31, 31, "differs", "",
            ),
            VendorFigure(
                "GA-007", "yunguan-local", "", "storage", "本地测试云", Decimal(72), Decimal(30), None,
                31, 31, 31, 31, "unknown", "estimates",
            ),
        ),
    )  # fmt: skip


def shown(*parts: int) -> dt.datetime:
    """A date or time as Excel keeps it: naive, in Beijing time."""
    return dt.datetime(*parts, tzinfo=UTC).replace(tzinfo=None)  # type: ignore[misc]


def rows_of(ws) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def test_workbook_has_a_summary_first_then_one_sheet_per_section_in_chinese() -> None:
    """Sheets in order with Chinese names, headers frozen, the summary's headline figures, the allocation's GiB."""
    wb = load_workbook(io.BytesIO(render_xlsx(report(), "zh")))
    assert wb.sheetnames == ["汇总", "资源批复", "实测利用率", "问题与整改", "处置措施", "报送与实测对比"]
    summary = wb["汇总"]
    assert summary["A1"].value == "2026-10 政务云资源使用情况月报"
    assert summary.freeze_panes == "A4"
    facts = {r[0]: r[1] for r in rows_of(summary) if r[0] and r[1] is not None}
    assert facts["批复 vCPU 合计（核）"] == 32
    assert facts["批复内存合计（GiB）"] == 64
    assert facts["生成时间（北京时间）"] == shown(2026, 11, 2, 9, 30)
    assert facts["问题数"] == "1（已提醒 1）"
    assert facts["处置措施数"] == "尚未记录"
    allocation = wb["资源批复"]
    assert allocation.freeze_panes == "A2"
    header = rows_of(allocation)[0]
    assert header[:4] == ("使用单位", "系统编号", "应用系统", "云平台")
    assert "机柜U数" in header and "带宽（Mbps）" in header  # hosting quantities present: their columns too
    ga = next(r for r in rows_of(allocation) if r[1] == "GA-007")
    assert ga[header.index("vCPU（核）")] == 32
    assert ga[header.index("存储（GiB）")] == 2000
    assert ga[header.index("申请类型")] == "标准"
    assert ga[header.index("生效日期")] == shown(2026, 1, 15)
    rs = next(r for r in rows_of(allocation) if r[1] == "RS-004")
    assert (rs[header.index("功率（W）")], rs[header.index("带宽（Mbps）")]) == (3200, 200)


def test_measured_sheet_keeps_percent_numbers_and_says_the_quality() -> None:
    """Means and peaks are Excel percentages (0.08 shown as 8.0%), with samples and the quality in words;
    an unmeasured line is unknown with its reason, never 0%."""
    wb = load_workbook(io.BytesIO(render_xlsx(report(), "en")))
    ws = wb["Measured use"]
    header = rows_of(ws)[0]
    assert header[:8] == ("unit", "system code", "system", "cloud", "resource", "of", "mean", "peak")
    rows = [r for r in rows_of(ws)[1:] if r[1]]
    cpu = next(r for r in rows if r[1] == "GA-007" and r[4] == "CPU")
    assert cpu[header.index("mean")] == pytest.approx(0.08)
    assert cpu[header.index("peak")] == pytest.approx(0.235)
    assert cpu[header.index("samples")] == 31
    assert cpu[header.index("quality")] == "measured"
    assert cpu[header.index("peak hour (UTC+8)")] == shown(2026, 10, 14, 14, 0)
    mean_cell = ws.cell(row=2 + rows.index(cpu), column=header.index("mean") + 1)
    assert mean_cell.number_format == "0.0%"
    disk = next(r for r in rows if r[1] == "GA-007" and r[4] == "disk")
    assert (disk[header.index("quality")], disk[header.index("note")]) == (
        "estimated",
        "31 of 31 samples are estimates",
    )
    hosted = next(r for r in rows if r[1] == "RS-004" and r[4] == "CPU")
    assert (hosted[header.index("mean")], hosted[header.index("quality")]) == (None, "unknown")
    assert hosted[header.index("note")] == "nothing on this cloud to measure"
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["A"].width >= 8


def test_findings_actions_and_vendor_sheets() -> None:
    """Findings with their state and deadline; actions say they are not recorded yet rather than none; the vendor's
    45% CPU against 8% measured differs by 37 points."""
    wb = load_workbook(io.BytesIO(render_xlsx(report(), "en")))
    findings = rows_of(wb["Findings"])
    assert findings[1][:3] == (7, "市公安局", "GA-007")
    assert findings[1][findings[0].index("state")] == "reminded"
    assert findings[1][findings[0].index("outcome")] == "downsize"
    assert findings[1][findings[0].index("deadline")] == shown(2026, 11, 4)
    actions = rows_of(wb["Actions"])
    assert actions[1][0].startswith("This installation does not record enforcement actions yet")
    vendor = rows_of(wb["Reported vs measured"])
    head = vendor[0]
    cpu = vendor[1]
    assert (cpu[head.index("metric")], cpu[head.index("verdict")]) == ("CPU mean", "DIFFERS")
    assert cpu[head.index("reported")] == pytest.approx(0.45)
    assert cpu[head.index("difference (points)")] == 37
    assert vendor[2][head.index("difference (points)")] is None


def test_findings_not_recorded_are_not_shown_as_none() -> None:
    """A store without findings says so on the summary and the findings sheet."""
    data = replace(report(findings_recorded=False), findings=())
    wb = load_workbook(io.BytesIO(render_xlsx(data, "zh")))
    facts = {r[0]: r[1] for r in rows_of(wb["汇总"]) if r[0]}
    assert facts["问题数"] == "尚未记录"
    assert rows_of(wb["问题与整改"])[1][0].startswith("本系统尚未记录问题")


def test_same_report_same_bytes() -> None:
    """Rendering twice gives identical files, so the logged SHA-256 identifies the file."""
    data = report()
    for render in (render_xlsx, render_html, render_csv):
        assert render(data, "zh") == render(data, "zh")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_is_self_contained_with_svg_charts(lang: str) -> None:
    """One page with inline SVG charts naming each system, a CJK-capable font stack, no script and no URL."""
    page = render_html(report(), lang).decode("utf-8")  # type: ignore[arg-type]
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # utilization, and reported against measured
    assert "视频联网平台" in page and "社保核心数据库" in page
    assert "Noto Sans CJK SC" in page and "Microsoft YaHei" in page
    assert "<script" not in page
    assert not re.search(r"(https?:)?//[a-z]", page)
    assert not re.search(r"\b(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    if lang == "zh":
        assert "2026-10 政务云资源使用情况月报" in page and "含估算" in page and "不符" in page
    else:
        assert "Government cloud utilization report, 2026-10" in page and "estimated" in page


def test_html_draws_unknown_as_a_word_not_a_zero_bar() -> None:
    """The hosted system's resources are written as unknown; its bars are not drawn."""
    page = render_html(report(), "en").decode("utf-8")
    chart = page[page.index("<svg") : page.index("</svg>")]
    hosted = chart[chart.index("社保核心数据库") :]
    assert hosted.count(">unknown<") == 3
    assert '<rect x="300"' not in hosted


def test_csv_is_one_flat_table() -> None:
    """One row per system and cloud: allocation, each resource's figures and quality, findings, vendor figures."""
    text = render_csv(report(), "en").decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["system code"] for r in rows] == ["GA-007", "RS-004"]
    ga = rows[0]
    assert (ga["vCPU"], ga["memory GiB"], ga["storage GiB"], ga["instances"]) == ("32", "64", "2000", "8")
    assert (ga["CPU mean"], ga["CPU peak"], ga["CPU samples"], ga["CPU quality"]) == ("8.0", "23.5", "31", "measured")
    assert (ga["disk quality"], ga["findings"], ga["state"]) == ("estimated", "1", "reminded 1")
    assert (ga["reported CPU mean"], ga["reported storage"], ga["reported differs"]) == ("45.0", "72.0", "1")
    assert ga["Actions"] == ""  # not recorded: empty, not 0
    rs = rows[1]
    assert (rs["rack units"], rs["power W"], rs["bandwidth Mbps"], rs["CPU mean"], rs["CPU quality"]) == (
        "8",
        "3200",
        "200",
        "",
        "unknown",
    )
    zh = render_csv(report(), "zh").decode("utf-8")
    assert zh.splitlines()[0].lstrip("\ufeff").startswith("使用单位,系统编号,应用系统,云平台")


def test_an_action_is_listed() -> None:
    """Actions, once enforcement records them, are listed with their finding and time."""
    base = report()
    taken = Action(
        3, 7, "GA-007", "yunguan-local", "resize-server", "srv-1", "done", dt.datetime(2026, 10, 20, tzinfo=UTC)
    )
    data = replace(base, actions=(taken,), actions_recorded=True)
    rows = rows_of(load_workbook(io.BytesIO(render_xlsx(data, "en")))["Actions"])
    assert rows[1] == (3, 7, "市公安局", "GA-007", "yunguan-local", "resize server", "srv-1", "done",
                       shown(2026, 10, 20, 8, 0))  # fmt: skip
