"""`yunguan policy validate | explain | schema | test` through the CLI: exit codes 0, 1 and 3, the pack in words in
both languages, the schema as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controlplane.cli.app import app, hoist_global_options

SUITES = Path(__file__).resolve().parents[2] / "policies" / "tests"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        "policy:\n  pack: chongqing\n  overrides:\n    chongqing-17-idle-cpu: {enabled: true, conditions.0.value: 25}\n"
    )
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, hoist_global_options(list(args)), catch_exceptions=False)

    return invoke


def test_validate_a_good_and_a_bad_pack(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A shipped pack is valid (exit 0); a broken file is rejected with file:line, rule and field (exit 3)."""
    done = run("--lang", "en", "policy", "validate", "bozhou")
    assert done.exit_code == 0
    assert "pack bozhou is valid: 4 rules, 4 enabled" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pack: bad\ncity: x\ndocument: y\nrules:\n  - {id: bad-1, type: idle, citation: X}\n", encoding="utf-8"
    )
    done = run("--lang", "en", "policy", "validate", str(bad))
    assert done.exit_code == 3
    assert f"{bad}:5: pack bad: rule bad-1: scope: Field required" in done.stderr


def test_explain_in_chinese_and_english(run) -> None:  # type: ignore[no-untyped-def]
    """Thresholds in words with citations; no pack named: the configured one with its overrides."""
    zh = run("policy", "explain", "suining", "--lang", "zh")
    assert zh.exit_code == 0
    assert "CPU 月平均利用率低于 10%" in zh.stdout and "[Suining art. 14]" in zh.stdout
    assert "存储月平均利用率低于 40%，或（存储月平均利用率低于 60%，且月平均剩余存储空间大于 1 TiB）" in zh.stdout
    en = run("--lang", "en", "policy", "explain", "suining")
    assert "monthly mean CPU use below 10%" in en.stdout
    configured = run("--lang", "en", "policy", "explain")
    assert "monthly mean idle share of CPU above 25%" in configured.stdout
    assert (
        "reminder the same day → urging more than 1 month(s) later → enforceable more than 5 working day(s) later"
        in (configured.stdout)
    )


def test_schema_is_json(run) -> None:  # type: ignore[no-untyped-def]
    """`policy schema` prints the JSON schema of a pack file."""
    done = run("policy", "schema")
    assert done.exit_code == 0
    assert "ThresholdRule" in json.loads(done.stdout)["$defs"]


def test_case_file_exit_codes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """All pass: 0; one fails: 1, with what was expected and got; a bad file: 3."""
    ok = run("--lang", "en", "policy", "test", "suining", str(SUITES / "suining.cases.yaml"))
    assert ok.exit_code == 0, ok.stdout
    assert "0 failed" in ok.stderr
    wrong = tmp_path / "wrong.cases.yaml"
    text = (SUITES / "suining.cases.yaml").read_text(encoding="utf-8")
    wrong.write_text(
        text.replace("expect: {suining-14-low-cpu: finding}", "expect: {suining-14-low-cpu: clear}", 1),
        encoding="utf-8",
    )
    failed = run("--lang", "en", "policy", "test", "suining", str(wrong))
    assert failed.exit_code == 1
    assert "FAIL  CPU mean just below 10% is low" in failed.stdout
    assert "expected clear, got finding" in failed.stdout
    bad = tmp_path / "bad.cases.yaml"
    bad.write_text("cases: [1]\n", encoding="utf-8")
    assert run("--lang", "en", "policy", "test", "suining", str(bad)).exit_code == 3
