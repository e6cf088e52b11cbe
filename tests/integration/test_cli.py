"""The operator CLI end to end on both stores: what an operator types, sees, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from controlplane.cli.app import app, hoist_global_options
from controlplane.store.engine import make_engine
from controlplane.store.tables import audit_events

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `yunguan` in-process against a config pointing at this test's database."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def test_import_show_verify(cli) -> None:  # type: ignore[no-untyped-def]
    """The daily path: upgrade, import the form, read the ledger as JSON, verify the log."""
    assert cli("db", "upgrade").exit_code == 0
    result = cli("--lang", "en", "ledger", "import", str(EXAMPLES / "ledger-demo.csv"))
    assert result.exit_code == 0, result.stderr
    assert "imported" in result.stderr
    shown = cli("ledger", "show", "--at", "2026-07-01", "-o", "json")
    rows = json.loads(shown.stdout)
    zw = next(r for r in rows if r["system"] == "ZW-001")
    assert (zw["vcpu"], zw["memory_gib"], zw["kind"]) == ("24", "48", "temporary")
    table = cli("--lang", "zh", "ledger", "show", "--system", "GA-007")
    assert "GA-007" in table.stdout and "市公安局" in table.stdout and "批复资源台账" in table.stdout
    assert "ZW-001" not in table.stdout
    verified = cli("--lang", "en", "audit", "verify")
    assert verified.exit_code == 0
    assert "operation log intact" in verified.stdout


def test_bad_file_exit_3_lists_errors_and_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A broken form exits 3, names each row and column on stderr, and the ledger stays empty."""
    cli("db", "upgrade")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "unit,system,MLPS level,zone,mode,cloud,vCPU,approval number,approval date,kind\n"
        "Bureau,OA,2,internet,shared,yunguan-local,4,A-1,2026-03-01,standard\n"
        "Bureau,GIS,2,internet,rental,yunguan-local,-4,A-2,2026-03-01,standard\n",
        encoding="utf-8",
    )
    result = cli("--lang", "en", "ledger", "import", str(bad))
    assert result.exit_code == 3
    assert "rejected whole, 2 error(s), nothing written" in result.stderr
    assert f"{bad}: row 3, column 服务模式 / mode: unknown value 'rental'" in result.stderr
    assert "row 3, column vCPU（核） / vCPU: negative CPU" in result.stderr
    assert json.loads(cli("ledger", "show", "-o", "json").stdout) == []


def test_tampering_exits_1_and_names_the_first_bad_seq(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Editing one event row makes `audit verify` exit 1 and print its seq."""
    cli("db", "upgrade")
    cli("ledger", "import", str(EXAMPLES / "ledger-demo.csv"))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 9).values(actor="operator:mallory"))
    engine.dispose()
    result = cli("--lang", "en", "audit", "verify")
    assert result.exit_code == 1
    assert "first bad seq 9" in result.stdout
    report = json.loads(cli("audit", "verify", "-o", "json").stdout)[0]
    assert report["first_bad_seq"] == 9 and report["ok"] is False


def test_export_then_verify_against_archive(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`audit export` writes JSON Lines that `audit verify --checkpoints` accepts."""
    cli("db", "upgrade")
    cli("ledger", "import", str(EXAMPLES / "ledger-demo.csv"))
    assert cli("audit", "checkpoint").exit_code == 0
    out = tmp_path / "archive.jsonl"
    assert cli("audit", "export", "--since", "2020-01-01", "--out", str(out)).exit_code == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {line["type"] for line in lines} == {"event", "checkpoint", "public_key"}
    assert cli("audit", "verify", "--checkpoints", str(out)).exit_code == 0


def test_unmigrated_store_exits_5(cli) -> None:  # type: ignore[no-untyped-def]
    """Before `db upgrade`, commands refuse with the fix and exit 5."""
    result = cli("--lang", "en", "ledger", "show")
    assert result.exit_code == 5
    assert "run `yunguan db upgrade`" in result.stderr


def test_config_error_exits_4_citing_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config with 100-day retention exits 4 and cites Suining 31."""
    config = tmp_path / "c.yaml"
    config.write_text("audit:\n  retention_days: 100\n", encoding="utf-8")
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["--lang", "en", "--config", str(config), "audit", "verify"])
    assert result.exit_code == 4
    assert "Suining art. 31" in result.stderr and str(config) in result.stderr


def test_lang_option_may_stand_anywhere() -> None:
    """`yunguan ledger show --lang en -o json` means the same as `yunguan --lang en ledger show -o json`."""
    assert hoist_global_options(["ledger", "show", "--lang", "en", "-o", "json"]) == [
        "--lang",
        "en",
        "ledger",
        "show",
        "-o",
        "json",
    ]
    assert hoist_global_options(["audit", "verify", "--config=x.yaml"]) == [
        "--config=x.yaml",
        "audit",
        "verify",
    ]


def test_console_script_and_agent_on_embedded_defaults(tmp_path: Path) -> None:
    """With no config file at all: the installed `yunguan` upgrades the SQLite store, and the agent starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNGUAN_")}
    env["YUNGUAN_STATE_DIR"] = str(tmp_path / "state")
    yunguan = Path(sys.executable).with_name("yunguan")
    up = subprocess.run(
        [str(yunguan), "db", "upgrade", "--lang", "en"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    assert (tmp_path / "state" / "yunguan.db").exists()
    agent = subprocess.run(
        [sys.executable, str(REPO / "agent.py"), "--check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert agent.returncode == 0, agent.stderr
    ready = json.loads(agent.stdout.splitlines()[-1])
    assert ready["event"] == "agent ready" and ready["database"] == "sqlite"


@pytest.mark.postgres
def test_database_password_never_reaches_output_or_operation_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    """A password in the database URL appears in no output, no log line, no error and no exported event."""
    db_url = pg_url
    secret = "Zq7-not-for-logs-91"
    with_pw = db_url.replace("postgres@", f"postgres:{secret}@")  # loopback trust auth ignores it
    config = tmp_path / "c.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8")
        + f"database:\n  url: {with_pw}\nlog:\n  level: debug\n  format: json\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    outputs = []
    for args in (
        ["db", "upgrade"],
        ["ledger", "import", str(EXAMPLES / "ledger-demo.csv")],
        ["audit", "verify"],
        ["audit", "export", "--out", str(tmp_path / "a.jsonl")],
    ):
        result = runner.invoke(app, ["--config", str(config), *args])
        assert result.exit_code == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"database:\n  url: {with_pw.replace(':5432', ':1')}\n", encoding="utf-8")
    failed = runner.invoke(app, ["--config", str(broken), "ledger", "show"])
    assert failed.exit_code == 5
    outputs += [failed.stdout, failed.stderr, (tmp_path / "a.jsonl").read_text(encoding="utf-8")]
    assert all(secret not in text for text in outputs)
    assert "database: OperationalError" in failed.stderr
