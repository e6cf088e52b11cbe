"""`yunguan enforce` and `yunguan findings approve` as an operator types them, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app

PACK = Path(__file__).parent / "data" / "enforce-pack.yaml"


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    config = tmp_path / "yunguan.yaml"
    config.write_text(f"database:\n  url: {db_url}\npolicy:\n  pack: {PACK}\n", encoding="utf-8")
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()

    def invoke(*args: str, cfg: Path = config):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", "--config", str(cfg), *args], catch_exceptions=False)

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


def test_nothing_to_plan_approve_or_run(run) -> None:  # type: ignore[no-untyped-def]
    """With no finding: plan plans nothing, list is empty, approving an unknown finding is a usage error that says
    so, and a dry run has nothing to do."""
    assert run("enforce", "plan").exit_code == 0
    listed = run("enforce", "list", "-o", "json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    approve = run("findings", "approve", "99")
    assert approve.exit_code == 2 and "finding 99 has no planned action" in approve.stderr
    assert run("enforce", "run", "--dry-run").exit_code == 0


def test_without_a_pack_enforcement_refuses(run, tmp_path: Path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """No policy.pack configured: the command says so and exits 2 instead of guessing rules."""
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"database:\n  url: {db_url}\n", encoding="utf-8")
    result = run("enforce", "run", cfg=bare)
    assert result.exit_code == 2 and "no policy pack is configured" in result.stderr
