"""`yunguan terminate` and `yunguan wipe verify` as operators type them, on both stores: the late flag shown, the
two-person rule and the transition refusing with exit 1 and their reason, unknown systems exit 2, bad input 3; and a
reclaimed case's certificate written (JSON and HTML), valid against the store and against an `audit export`, and
invalid once a field is changed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from test_termination_flow import CLOUD, DictWiper, targets
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.clock import FixedClock, SystemClock, today_cst
from controlplane.config import load_settings
from controlplane.ledger.store import footprints
from controlplane.runtime import open_runtime
from controlplane.termination.plan import build_plan
from controlplane.termination.run import Runner
from controlplane.termination.terms import TerminationTerms

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8")
        + f"database:\n  url: {db_url}\npolicy:\n  pack: suining\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str, actor: str = "operator:a") -> Any:
        return runner.invoke(app, ["--lang", "en", "--actor", actor, *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.csv")).exit_code == 0
    run.config = config  # type: ignore[attr-defined]
    return run


def test_the_workflow_and_its_refusals(cli: Any, tmp_path: Path) -> None:
    """Late request flagged; approve by b; the unit's evidence; b may not approve the wipe, c may; the run is refused
    before the transition ends; unknown systems and missing evidence are refused with their codes."""
    stopped = (today_cst(SystemClock()) - dt.timedelta(days=70)).isoformat()
    done = cli("terminate", "request", "ZW-001", "--reason", "迁移至省平台", "--stopped-use", stopped)
    assert done.exit_code == 0, done.stderr
    assert "late request" in done.stderr
    assert cli("terminate", "request", "ZW-001", "--reason", "again").exit_code == 3
    assert cli("terminate", "request", "NOPE", "--reason", "x").exit_code == 2
    assert cli("terminate", "approve", "ZW-001", actor="operator:b").exit_code == 0
    assert cli("terminate", "approve-wipe", "ZW-001", actor="operator:c").exit_code == 1  # backup not confirmed
    evidence = tmp_path / "迁移备份确认.pdf"
    evidence.write_bytes(b"%PDF-1.4 backup and migration done")
    done = cli("terminate", "confirm-backup", "ZW-001", "--evidence", str(evidence), actor="unit:市政务服务数据管理局")
    assert done.exit_code == 0, done.stderr
    refused = cli("terminate", "approve-wipe", "ZW-001", actor="operator:b")
    assert refused.exit_code == 1
    assert "two-person rule" in refused.stderr
    assert cli("terminate", "approve-wipe", "ZW-001", actor="operator:c").exit_code == 0
    refused = cli("terminate", "run", "ZW-001", actor="operator:c")
    assert refused.exit_code == 1
    assert "transition period runs until" in refused.stderr
    shown = json.loads(cli("terminate", "show", "ZW-001", "-o", "json").stdout)[0]
    assert shown["late"] is True
    assert shown["state"] == "wipe-approved"
    assert (shown["approved_by"], shown["wipe_approved_by"]) == ("operator:b", "operator:c")
    assert shown["backup_sha256"]
    assert "late" in cli("terminate", "show", "ZW-001").stderr
    listed = json.loads(cli("terminate", "list", "-o", "json").stdout)
    assert [(c["system"], c["state"]) for c in listed] == [("ZW-001", "wipe-approved")]
    refused = cli("terminate", "certificate", "ZW-001", "-o", str(tmp_path / "c.json"))
    assert refused.exit_code == 1
    assert "issued once it is reclaimed" in refused.stderr
    assert cli("terminate", "show", "GA-007").exit_code == 2


def reclaim(config: Path) -> None:
    """Bring ZW-001's case to reclaimed with the clock moved past the transition (in-test wiper)."""
    clock = FixedClock(dt.datetime.now(dt.UTC) + dt.timedelta(days=200))
    rt = open_runtime(load_settings(config), clock=clock)
    try:
        wiper = DictWiper(rt, targets())
        with rt.engine.connect() as conn:
            items = footprints(conn, "ZW-001")
        plan = build_plan("ZW-001", items, wipers={CLOUD: wiper}, disk_wipers={}, equipment=[], vendors={})
        terms = TerminationTerms()
        report = Runner(rt.engine, rt.audit, clock, terms, {CLOUD: wiper}, {}, "operator:c").run(
            "ZW-001", plan, wiper.reconcile
        )
        assert report.state.value == "reclaimed"
    finally:
        rt.close()


def test_certificate_written_and_verified(cli: Any, tmp_path: Path) -> None:
    """JSON and HTML written, the case closed; valid against the store and an export; a changed field exits 1."""
    evidence = tmp_path / "backup.pdf"
    evidence.write_bytes(b"done")
    for args, actor in (
        (("request", "ZW-001", "--reason", "x"), "operator:a"),
        (("approve", "ZW-001"), "operator:b"),
        (("confirm-backup", "ZW-001", "--evidence", str(evidence)), "unit:u"),
        (("approve-wipe", "ZW-001"), "operator:c"),
    ):
        assert cli("terminate", *args, actor=actor).exit_code == 0
    reclaim(cli.config)
    cert, page = tmp_path / "cert.json", tmp_path / "cert.html"
    done = cli("terminate", "certificate", "ZW-001", "-o", str(cert), "--html", str(page))
    assert done.exit_code == 0, done.stderr
    assert "清除证明" in page.read_text(encoding="utf-8")
    assert json.loads(cli("terminate", "show", "ZW-001", "-o", "json").stdout)[0]["state"] == "closed"
    assert cli("wipe", "verify", str(cert)).exit_code == 0
    export = tmp_path / "log.jsonl"
    assert cli("audit", "export", "--out", str(export)).exit_code == 0
    assert cli("wipe", "verify", str(cert), "--log-export", str(export)).exit_code == 0
    document = json.loads(cert.read_text(encoding="utf-8"))
    document["certificate"]["resources"][0]["category"] = "destroy"
    cert.write_text(json.dumps(document), encoding="utf-8")
    invalid = cli("wipe", "verify", str(cert))
    assert invalid.exit_code == 1
    assert "signature does not match" in invalid.stderr
