"""Reading the vendors' monthly utilization form: headers in either language, CSV (UTF-8, BOM, GB18030) and XLSX,
percentages written as people write them, and every bad cell named by file, row and column."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from controlplane.domain import Cloud
from controlplane.ledger.forms import LedgerFileError
from controlplane.vendor_usage.form import KnownLedger, parse_percent, parse_report, read_report_file

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
KNOWN = KnownLedger(
    clouds={
        "yunguan-local": Cloud(name="yunguan-local", kind="openstack", vendor="本地测试云", zone="extranet"),
        "k8s-local": Cloud(name="k8s-local", kind="kubernetes", vendor="本地测试云", zone="internet"),
    },
    systems={
        "ZW-001": ("政务服务网", "市政务服务数据管理局"),
        "GA-007": ("视频联网平台", "市公安局"),
        "GA-012": ("交通信号系统", "市公安局交警支队"),
        "RS-003": ("社保卡服务", "市人力资源和社会保障局"),
        "X-1": ("OA", "Bureau A"),
        "X-2": ("OA", "Bureau B"),
    },
    on_cloud=frozenset(
        {
            ("ZW-001", "yunguan-local"),
            ("GA-007", "yunguan-local"),
            ("GA-012", "yunguan-local"),
            ("RS-003", "k8s-local"),
            ("X-1", "yunguan-local"),
            ("X-2", "yunguan-local"),
        }
    ),
)
NOVEMBER = (2026, 11)
EN_HEADER = ["month", "cloud", "system code", "server id", "cpu mean %", "memory mean %", "storage %", "cpu peak %"]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def parse(path: Path, vendor: str | None = None):  # type: ignore[no-untyped-def]
    return parse_report(read_report_file(path), KNOWN, NOVEMBER, vendor)


def figures(batch) -> dict[tuple[str, str, str], Decimal]:  # type: ignore[no-untyped-def]
    return {(f.system, f.server, f.metric): f.percent for f, _ in batch.figures}


def test_demo_example_matches_the_demo_ledger() -> None:
    """The shipped example parses whole: by code, or by system name and unit; 45% and 45 read alike."""
    batch = parse(EXAMPLES / "vendor-usage-demo.csv")
    found = figures(batch)
    assert found["GA-007", "", "cpu_mean"] == Decimal(45)
    assert found["GA-012", "", "cpu_mean"] == Decimal("12.5")
    assert found["ZW-001", "", "memory_peak"] == Decimal(70)
    assert {f.vendor for f, _ in batch.figures} == {"本地测试云"}
    assert {f.month for f, _ in batch.figures} == {"2026-10"}
    assert len(batch.figures) == 5 + 5 + 3 + 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("35", "35"), ("35%", "35"), (" 35.5 % ", "35.5"), ("35％", "35"), ("0", "0"), ("100%", "100"), ("7.125", "7.12")],
)
def test_percent_as_people_write_it(text: str, expected: str) -> None:
    """With or without the percent sign (either width), kept to 0.01 point."""
    assert parse_percent(text) == Decimal(expected)


def test_gb18030_csv_and_blank_optional_cells(tmp_path: Path) -> None:
    """A CSV saved by Chinese Excel (GB18030) reads; blank figures and a blank server id are simply absent."""
    header = ["月份", "云平台", "系统编号", "云主机ID", "CPU平均利用率（%）", "内存平均利用率（%）", "存储利用率（%）"]
    path = write_csv(
        tmp_path / "gbk.csv",
        [header, ["2026年10月", "yunguan-local", "GA-007", "", "45%", "", ""]],
        encoding="gb18030",
    )
    assert figures(parse(path)) == {("GA-007", "", "cpu_mean"): Decimal(45)}


def test_utf8_bom_and_per_server_rows(tmp_path: Path) -> None:
    """UTF-8 with a BOM (Excel's "CSV UTF-8"); a server id makes the figure that server's."""
    path = write_csv(
        tmp_path / "bom.csv",
        [EN_HEADER, ["2026/10", "yunguan-local", "GA-007", "srv-1", "8", "20", "30", "9"]],
        encoding="utf-8-sig",
    )
    found = figures(parse(path, vendor="V"))
    assert found["GA-007", "srv-1", "cpu_peak"] == Decimal(9)


def test_xlsx_first_sheet_with_percent_cells_and_date_month(tmp_path: Path) -> None:
    """An XLSX month cell Excel turned into a date, and a cell formatted as a percentage, read as shown."""
    import datetime as dt

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["月份", "云平台", "应用系统", "使用单位", "CPU平均利用率（%）", "内存平均利用率（%）"])
    sheet.append([dt.datetime(2026, 10, 1), "yunguan-local", "OA", "Bureau B", 0.35, 60])  # noqa: DTZ001 - Excel
    sheet["E2"].number_format = "0.00%"
    book.create_sheet("ignored").append(["not", "read"])
    path = tmp_path / "r.xlsx"
    book.save(path)
    batch = parse(path)
    assert figures(batch) == {("X-2", "", "cpu_mean"): Decimal(35), ("X-2", "", "memory_mean"): Decimal(60)}
    assert batch.figures[0][0].month == "2026-10"


def test_every_error_names_file_row_and_column(tmp_path: Path) -> None:
    """One file with a bad cell of every kind: all are listed, each as FILE: row N, column 中文 / english: what."""
    header = ["月份", "云平台", "系统编号", "应用系统", "使用单位", "CPU平均利用率（%）", "内存平均利用率（%）"]
    header += ["CPU峰值利用率（%）", "报送单位"]
    rows = [
        header,
        ["2026-10", "yunguan-local", "GA-007", "", "", "45", "60", "", ""],  # good
        ["2026-13", "nowhere", "GA-007", "", "", "145", "x", "", ""],
        ["2026-10", "yunguan-local", "NOPE", "", "", "1", "", "", ""],
        ["2026-11", "yunguan-local", "", "OA", "", "1", "", "", ""],
        ["2026-10", "k8s-local", "GA-007", "", "", "", "", "", ""],
        ["2026-10", "yunguan-local", "ZW-001", "", "", "50", "", "40", "其他服务商"],
        ["2026-10", "yunguan-local", "", "", "", "-1", "", "", ""],
        ["2026-10", "yunguan-local", "GA-007", "", "", "46", "", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(LedgerFileError) as err:
        parse(path, vendor="本地测试云")
    text = str(err.value)
    expected = [
        "row 3, column 月份 / month: not a month: '2026-13' (write 2026-10)",
        "row 3, column 云平台 / cloud: unknown cloud 'nowhere' (known: k8s-local, yunguan-local)",
        "row 3, column CPU平均利用率（%） / CPU mean %: '145' is outside 0-100%",
        "row 3, column 内存平均利用率（%） / memory mean %: not a percentage: 'x' (write 35 or 35%)",
        "row 4, column 系统编号 / system code: unknown system 'NOPE': not in the ledger",
        "row 5, column 月份 / month: 2026-11 is not over yet: a report covers a whole past month",
        "row 5, column 应用系统 / system: several systems are named 'OA' (X-1, X-2): give the system code",
        "row 6, column 云平台 / cloud: system 'GA-007' has no approval or footprint on cloud 'k8s-local'",
        "row 6: no figure: fill at least one utilization column",
        "row 7, column CPU峰值利用率（%） / CPU peak %: the peak (40) is below the mean (50)",
        "row 7, column 报送单位 / vendor: the row says '其他服务商', --vendor says '本地测试云'",
        "row 8, column 系统编号 / system code: empty: give the system code, or the system name and unit",
        "row 8, column CPU平均利用率（%） / CPU mean %: '-1' is outside 0-100%",
        (
            "row 9, column CPU平均利用率（%） / CPU mean %: "
            "row 2 gives another figure for the same month, system and server"
        ),
    ]
    for line in expected:
        assert f"{path}: {line}" in text
    assert len(err.value.errors) == len(expected)


def test_unknown_header_and_missing_required_columns(tmp_path: Path) -> None:
    """A column the form does not have and the required ones absent are named on row 1."""
    path = write_csv(tmp_path / "h.csv", [["系统编号", "颜色", "CPU平均利用率"], ["GA-007", "red", "5"]])
    with pytest.raises(LedgerFileError) as err:
        read_report_file(path)
    text = str(err.value)
    assert f"{path}: row 1, column 颜色: unknown column" in text
    assert f"{path}: row 1, column 月份 / month: required column missing" in text
    assert f"{path}: row 1, column 云平台 / cloud: required column missing" in text


def test_name_and_code_must_agree_and_the_cloud_vendor_is_the_default(tmp_path: Path) -> None:
    """A code with another system's name is refused; with no 报送单位 and no --vendor, the cloud's vendor reported."""
    header = ["月份", "云平台", "系统编号", "应用系统", "CPU平均利用率（%）"]
    bad = write_csv(tmp_path / "n.csv", [header, ["2026-10", "yunguan-local", "GA-007", "政务服务网", "5"]])
    with pytest.raises(LedgerFileError, match=r"row 2, column 应用系统 / system: system 'GA-007' is '视频联网平台'"):
        parse(bad)
    good = write_csv(tmp_path / "g.csv", [header, ["2026-10", "yunguan-local", "GA-007", "视频联网平台", "5"]])
    assert parse(good).figures[0][0].vendor == "本地测试云"
