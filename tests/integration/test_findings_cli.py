"""``yunguan findings`` and ``yunguan notices`` through the real CLI on both stores, with an injected clock: list
and show a finding opened by an evaluation of the shipped Chongqing pack's rule, tick it to reminded (its notice
delivered to a local webhook), dispute, exempt, refusals with their exit codes, zh and en labels, and the operation
log still intact."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from findings_data import at, evaluation, with_demo_ledger
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from controlplane.calendar import WorkingCalendar
from controlplane.cli import context
from controlplane.cli.app import app, hoist_global_options
from controlplane.clock import FixedClock
from controlplane.config import Settings, load_settings
from controlplane.policy import transitions
from controlplane.policy.model import Verdict
from controlplane.policy.notices.webhook import SIGNATURE_HEADER, signature_valid
from controlplane.policy.packs import escalations
from controlplane.runtime import Runtime, open_runtime

D = dt.date
RULE = "chongqing-17-idle-cpu"


@pytest.fixture
def cli(  # noqa: PLR0917 - a fixture takes the fixtures it uses
    runtime: Runtime,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: FixedClock,
    httpserver: HTTPServer,
):  # type: ignore[no-untyped-def]
    """The CLI on a store holding one open finding of ZW-001 (opened 2026-07-20), notices to a local webhook."""
    with_demo_ledger(runtime)
    (tmp_path / "hook.key").write_text("cli-hook-secret\n", encoding="utf-8")
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "database": {"url": db_url},
                "clouds": [c.model_dump(mode="json") for c in runtime.settings.clouds],
                "policy": {"pack": "chongqing", "overrides": {RULE: {"enabled": True, "conditions.0.value": 30}}},
                "notices": {
                    "webhook": {
                        "url": httpserver.url_for("/hook"),
                        "secret_file": str(tmp_path / "hook.key"),
                        "retries": 0,
                    }
                },
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))

    def fixed(settings: Settings, check_schema: bool = True) -> Runtime:
        return open_runtime(settings, clock=clock, check_schema=check_schema)

    monkeypatch.setattr(context, "open_runtime", fixed)
    at(clock, D(2026, 7, 20))
    escalation_of = escalations(load_settings(config).policy)
    with runtime.engine.begin() as conn:
        transitions.record_evaluations(
            conn,
            runtime.audit,
            [evaluation(Verdict.FINDING, "2026-06").model_copy(update={"rule_id": RULE})],
            escalation_of,
            clock.now(),
            "agent:policy",
            calendar=WorkingCalendar(),
        )
    runner = CliRunner()

    def run(*args: str, lang: str = "en") -> Any:
        return runner.invoke(app, hoist_global_options(["--lang", lang, "--actor", "operator:li", *args]))

    return run


def ok(done: Any) -> Any:
    assert done.exit_code == 0, done.stdout + done.stderr
    return done


def test_list_tick_show_and_notices(cli: Any, httpserver: HTTPServer) -> None:
    """An open finding; the tick reminds (the webhook gets the signed notice); show has its history and notice."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=200)
    (row,) = json.loads(ok(cli("findings", "list", "-o", "json")).stdout)
    assert (row["state"], row["system"], row["rule"], row["deadline"]) == ("open", "ZW-001", RULE, "2026-07-20")
    assert row["evidence"] == "cpu_percent mean 4.2 < 10"
    ticked = ok(cli("findings", "tick"))
    assert "findings moved: reminded 1" in ticked.stderr
    assert "notices: 1 delivered, 0 failed" in ticked.stderr
    (request, _) = httpserver.log[0]
    assert signature_valid("cli-hook-secret", request.get_data(), request.headers[SIGNATURE_HEADER])
    assert json.loads(request.get_data())["finding"]["rule_id"] == RULE

    table = ok(cli("findings", "list", "--state", "reminded", lang="zh")).stdout
    assert "已提醒" in table
    assert "2026-08-20" in table
    assert ok(cli("findings", "list", "--state", "open")).stderr.strip() == "no findings match"
    csv_out = ok(cli("findings", "list", "--system", "ZW-001", "-o", "csv")).stdout
    assert csv_out.splitlines()[0].startswith("id,state,system,cloud,scope,rule")

    finding_id = str(row["id"])
    shown = json.loads(ok(cli("findings", "show", finding_id, "-o", "json")).stdout)[0]
    assert [e["transition"] for e in shown["history"]] == ["open", "remind"]
    assert [e["actor"] for e in shown["history"]] == ["agent:policy", "operator:li"]
    assert shown["notices"][0]["status"] == "delivered"
    text = ok(cli("findings", "show", finding_id)).stdout
    assert "Chongqing art. 17" in text
    assert "remind" in text

    (notice,) = json.loads(ok(cli("notices", "list", "-o", "json")).stdout)
    assert (notice["kind"], notice["status"], notice["deadline"]) == ("reminded", "delivered", "2026-08-20")
    assert notice["deliveries"] == [f"webhook {httpserver.url_for('/hook')}: delivered"]
    assert "提醒" in ok(cli("notices", "list", lang="zh")).stdout
    assert ok(cli("findings", "tick")).stderr.startswith("no finding was due")
    assert len(httpserver.log) == 1  # delivered once


def test_dispute_exempt_refusals_and_the_log(cli: Any, httpserver: HTTPServer) -> None:
    """Dispute, then exempt (settling it), refusals exit 1 naming the state, an unknown id exits 2; a failing
    webhook does not fail the tick; the operation log verifies."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("down", status=503)
    (row,) = json.loads(ok(cli("findings", "list", "-o", "json")).stdout)
    finding_id = str(row["id"])
    ticked = ok(cli("findings", "tick"))
    assert "notices: 0 delivered, 1 failed" in ticked.stderr
    assert "HTTP 503" in ticked.stderr
    (notice,) = json.loads(ok(cli("notices", "list", "--status", "failed", "-o", "json")).stdout)
    assert "(1× POST" in notice["deliveries"][0]

    disputed = ok(cli("findings", "dispute", finding_id, "--reason", "year-end peak"))
    assert disputed.stderr.strip() == f"finding {finding_id}: reminded → disputed"
    refused = cli("findings", "dispute", finding_id, "--reason", "again")
    assert refused.exit_code == 1
    assert "is disputed: cannot dispute it" in refused.stderr
    exempted = ok(cli("findings", "exempt", finding_id, "--reason", "migration", "--until", "2026-08-31", lang="zh"))
    assert exempted.stderr.strip() == f"问题 {finding_id}：有异议 → 已豁免"
    assert cli("findings", "exempt", finding_id, "--reason", "x", "--until", "2026-08-31").exit_code == 1
    assert cli("findings", "resolve", finding_id, "--reason", "fixed").exit_code == 1  # exempted: not by hand
    assert cli("findings", "show", "999").exit_code == 2
    assert cli("findings", "dispute", "999", "--reason", "x").exit_code == 2
    (row,) = json.loads(ok(cli("findings", "list", "--state", "exempted", "-o", "json")).stdout)
    assert (row["exempt_until"], row["deadline"]) == ("2026-08-31", None)
    assert ok(cli("audit", "verify")).exit_code == 0
