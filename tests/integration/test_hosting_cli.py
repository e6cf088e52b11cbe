"""`yunguan equipment` end to end on both stores: an operator registers a file of equipment atomically (errors by
row and column, nothing written), lists and shows it in zh and en, retires one, and `yunguan reconcile` of the
hosting zone compares what is registered with the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
DATA = Path(__file__).with_name("data")
VENDOR = "某托管服务商"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`yunguan` in-process against this test's database, the demo ledger imported."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--actor", "operator:alice", *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    for ledger in (EXAMPLES / "ledger-demo.csv", DATA / "hosting-ledger.yaml"):
        assert run("ledger", "import", str(ledger)).exit_code == 0
    return run


def test_register_list_show_retire(cli) -> None:  # type: ignore[no-untyped-def]
    """Both rows registered in one go; listed as JSON; shown with zh labels; one retired, freeing its place."""
    done = cli("--lang", "en", "equipment", "register", str(EXAMPLES / "equipment-demo.yaml"), "--vendor", VENDOR)
    assert done.exit_code == 0, done.stderr
    assert "registered 2 piece(s) of equipment" in done.stderr
    listed = json.loads(cli("equipment", "list", "-o", "json").stdout)
    assert [(e["serial"], e["system"], e["kind"], e["position"]) for e in listed] == [
        ("SN-HOST-0001", "RS-004", "server", "遂宁数据中心/3F-301/A07 U1-U2"),
        ("SN-HOST-0002", "RS-004", "storage", "遂宁数据中心/3F-301/A07 U3-U6"),
    ]
    assert listed[0]["bandwidth_mbps"] == "100" and listed[0]["registered_by"] == "operator:alice"
    first = listed[0]["id"]
    shown = cli("--lang", "zh", "equipment", "show", str(first))
    assert shown.exit_code == 0
    assert "序列号" in shown.stdout and "SN-HOST-0001" in shown.stdout and "托管服务商" in shown.stdout
    retired = cli(
        "--lang", "en", "equipment", "retire", str(listed[1]["id"]), "--reason", "disposed", "--on", "2026-11-20"
    )
    assert retired.exit_code == 0, retired.stderr
    assert "retired on 2026-11-20: disposed" in retired.stderr
    assert "Chongqing 39" in retired.stderr
    again = cli("--lang", "en", "equipment", "retire", str(listed[1]["id"]))
    assert again.exit_code == 2 and "already retired" in again.stderr
    assert cli("--lang", "en", "equipment", "show", "999").exit_code == 2
    active = json.loads(cli("equipment", "list", "--state", "registered", "-o", "json").stdout)
    assert [e["serial"] for e in active] == ["SN-HOST-0001"]


def test_a_bad_file_is_rejected_whole_naming_row_and_column(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Exit 3, every problem as FILE: row N, column 中文 / english, and nothing registered: a bad cell, an overlap
    between two rows of the file, and a serial repeated within it."""
    bad = tmp_path / "equipment.csv"
    bad.write_text(
        "托管服务商,序列号,设备类型,型号,使用单位,应用系统,数据中心,机房,机柜,起始U位,占用U数,功率（W）,托管日期\n"
        f"{VENDOR},SN-1,服务器,R740,市人力资源和社会保障局,RS-004,DC,301,A07,1,2,800,2026-03-05\n"
        f"{VENDOR},SN-2,服务器,R740,市人力资源和社会保障局,RS-004,DC,301,A07,2,2,800,2026-03-05\n"
        f"{VENDOR},SN-3,冰箱,R740,市人力资源和社会保障局,RS-004,DC,301,A07,9,2,-5,2026-13-05\n"
        f"{VENDOR},SN-1,服务器,R740,市人力资源和社会保障局,RS-004,DC,301,A07,20,2,800,2026-03-05\n",
        encoding="utf-8",
    )
    result = cli("--lang", "en", "equipment", "register", str(bad))
    assert result.exit_code == 3
    assert f"{bad}: row 3, column 起始U位 / start U: rack position DC/301/A07 U2-U3 overlaps SN-1" in result.stderr
    assert f"{bad}: row 4, column 设备类型 / kind: unknown value '冰箱'" in result.stderr
    assert "row 4, column 功率（W） / power W: not a whole non-negative number" in result.stderr
    assert "row 4, column 托管日期 / hosted since: not a date" in result.stderr
    assert "row 5, column 序列号 / serial: serial 'SN-1' is already registered" in result.stderr
    assert json.loads(cli("equipment", "list", "-o", "json").stdout) == []


def test_reconcile_of_the_hosting_zone(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With RS-004's two devices registered within its approval, the zone's drift is BK-009's under (approved, nothing
    registered); a device for no system adds an unapproved one."""
    assert cli("equipment", "register", str(EXAMPLES / "equipment-demo.yaml"), "--vendor", VENDOR).exit_code == 0
    first = cli("reconcile", "hosting-zone")
    assert first.exit_code == 1, first.stderr
    drift = json.loads(cli("drift", "--cloud", "hosting-zone", "-o", "json").stdout)
    assert [(d["drift_class"], d["system"]) for d in drift] == [("under", "BK-009")]
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        "rows:\n  - {vendor: 某托管服务商, serial: SN-X, kind: network, model: S5735, unit: 市人力资源和社会保障局,\n"
        "     site: 遂宁数据中心, room: 3F-301, rack: A07, start U: 7, height U: 1, power W: 150,\n"
        "     hosted since: 2026-11-01}\n",
        encoding="utf-8",
    )
    assert cli("equipment", "register", str(loose)).exit_code == 0
    assert cli("reconcile", "hosting-zone").exit_code == 1
    drift = json.loads(cli("drift", "--cloud", "hosting-zone", "-o", "json").stdout)
    assert sorted((d["drift_class"], d["resource_id"]) for d in drift) == [
        ("unapproved", "SN-X"),
        ("under", "BK-009:provisioning"),
    ]
