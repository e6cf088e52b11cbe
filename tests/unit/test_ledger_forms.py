"""Reading the forms units fill in: Chinese or English headers, CSV/XLSX/YAML, every error by row and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook

from controlplane.domain import AllocationKind, Cloud, Zone
from controlplane.ledger.forms import LedgerFileError, read_ledger_file
from controlplane.ledger.rows import parse_ledger

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
CLOUDS = {
    "yunguan-local": Cloud(name="yunguan-local", kind="openstack", vendor="v", zone="extranet"),
    "k8s-local": Cloud(name="k8s-local", kind="kubernetes", vendor="v", zone="internet"),
    "hosting-zone": Cloud(name="hosting-zone", kind="hosting", vendor="v", zone="extranet"),
}
GOOD_ROW = [
    "Bureau",
    "OA",
    "2",
    "internet",
    "shared",
    "yunguan-local",
    "4",
    "8",
    "100",
    "A-1",
    "2026-03-01",
    "standard",
    "",
]
_FIELDS = ["unit", "system", "mlps", "zone", "mode", "cloud", "vcpu", "memory", "storage", "ref", "date", "kind", "to"]


def variant(**changes: str) -> list[str]:
    """GOOD_ROW with some cells changed, named by field."""
    return [changes.get(name, value) for name, value in zip(_FIELDS, GOOD_ROW, strict=True)]


EN_HEADER = [
    "unit",
    "system",
    "MLPS level",
    "zone",
    "mode",
    "cloud",
    "vCPU",
    "memory GiB",
    "storage GiB",
    "approval number",
    "approval date",
    "kind",
    "effective to",
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_chinese_csv_example_parses_whole() -> None:
    """The shipped Chinese form yields its units, systems, revisions and footprints."""
    batch = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.csv"), CLOUDS)
    assert "市公安局交警支队" in batch.departments
    assert batch.departments["市公安局交警支队"][0].parent == "市公安局"
    assert len(batch.revisions) == 7
    zw = batch.systems["ZW-001"][0]
    assert zw.zone is Zone.EXTRANET
    temporary = [r for r, _ in batch.revisions if r.kind is AllocationKind.TEMPORARY]
    assert temporary[0].quantities.memory_bytes == 48 * 1024**3
    assert {f.ref for f, _ in batch.footprints if f.system == "RS-004"} == {"SN-HOST-0001", "SN-HOST-0002"}


def test_xlsx_example_matches_csv() -> None:
    """The XLSX form gives the same batch as the CSV one."""
    from_csv = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.csv"), CLOUDS)
    from_xlsx = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.xlsx"), CLOUDS)
    assert [r for r, _ in from_xlsx.revisions] == [r for r, _ in from_csv.revisions]


def test_english_headers_and_excel_dates(tmp_path: Path) -> None:
    """English headers and real date cells from Excel are read."""
    import datetime as dt

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(EN_HEADER)
    sheet.append(
        [
            "Bureau",
            "OA",
            2,
            "internet",
            "shared",
            "yunguan-local",
            4,
            8,
            100,
            "A-1",
            dt.datetime(2026, 3, 1, tzinfo=dt.UTC).replace(tzinfo=None),  # Excel cells are naive
            "standard",
            None,
        ]
    )
    path = tmp_path / "en.xlsx"
    book.save(path)
    batch = parse_ledger(read_ledger_file(path), CLOUDS)
    assert batch.revisions[0][0].approval_date == dt.date(2026, 3, 1)
    assert batch.revisions[0][0].quantities.storage_bytes == 100 * 1024**3


def test_every_error_is_listed_by_row_and_column(tmp_path: Path) -> None:
    """A file with several bad cells is rejected with each one named; good rows do not hide bad ones."""
    path = write_csv(
        tmp_path / "bad.csv",
        [
            EN_HEADER,
            [*GOOD_ROW],
            variant(system="GIS", mlps="5", zone="moon", cloud="nowhere", vcpu="x", ref="A-2", date="2026-13-01"),
            variant(system="Web", ref="A-3", date="2026-01-01", kind="temporary", to="2026-05-01"),
        ],
    )
    with pytest.raises(LedgerFileError) as err:
        parse_ledger(read_ledger_file(path), CLOUDS)
    found = {(e.row, e.column) for e in err.value.errors}
    assert found == {
        (3, "mlps_level"),
        (3, "zone"),
        (3, "cloud"),
        (3, "vcpu"),
        (3, "approval_date"),
        (4, "effective_to"),
    }
    text = str(err.value)
    assert f"{path}: row 3, column 网络区域 / zone: unknown value 'moon'" in text
    assert "Bozhou 22" in text


def test_unknown_and_missing_columns_are_named(tmp_path: Path) -> None:
    """A header the reader does not know, and required ones that are absent, are all reported."""
    path = write_csv(tmp_path / "h.csv", [["使用单位", "应用系统", "颜色"], ["a", "b", "c"]])
    with pytest.raises(LedgerFileError) as err:
        read_ledger_file(path)
    columns = {e.column for e in err.value.errors}
    assert "颜色" in columns
    assert {"cloud", "approval_ref", "kind"} <= columns


def test_conflicting_rows_for_one_system_are_refused(tmp_path: Path) -> None:
    """Two rows describing the same system differently point at each other."""
    row = [*GOOD_ROW]
    other = [*row]
    other[3], other[9] = "extranet", "A-2"
    path = write_csv(tmp_path / "c.csv", [EN_HEADER, row, other])
    with pytest.raises(LedgerFileError, match=r"row 3, column 应用系统 / system: .* in row 2"):
        parse_ledger(read_ledger_file(path), CLOUDS)


def test_footprint_must_fit_the_cloud_kind(tmp_path: Path) -> None:
    """A namespace on an OpenStack cloud is refused."""
    header = [*EN_HEADER, "namespaces"]
    row = [*GOOD_ROW, "oa"]
    with pytest.raises(LedgerFileError, match="this column is for kubernetes clouds"):
        parse_ledger(read_ledger_file(write_csv(tmp_path / "f.csv", [header, row])), CLOUDS)


def test_yaml_declares_its_clouds() -> None:
    """The YAML example imports with no configured cloud at all."""
    batch = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.yaml"), {})
    assert [c.name for c in batch.clouds] == ["yunguan-local"]
    assert len(batch.revisions) == 2


def test_gb18030_csv_from_chinese_excel_is_read(tmp_path: Path) -> None:
    """A CSV saved by Chinese Windows Excel (GB18030) reads the same as UTF-8."""
    text = (EXAMPLES / "ledger-demo.csv").read_text(encoding="utf-8")
    path = tmp_path / "gbk.csv"
    path.write_bytes(text.encode("gb18030"))
    assert len(parse_ledger(read_ledger_file(path), CLOUDS).revisions) == 7
