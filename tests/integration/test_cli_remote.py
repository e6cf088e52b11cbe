"""The operator CLI over the agent's API, on SQLite and PostgreSQL: uvicorn serves the API on a free loopback port
over a real store holding the demo ledger, and ``yunguan --server URL --token-file F ...`` runs through typer's
CliRunner. Reads match the local command's output, a reconcile run is started and followed to its end, a report
is downloaded with the SHA-256 the operation log records, refusals are clear exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest
from api_fixtures import open_finding
from hosting_data import OPERATOR, VENDOR_A, register, spec
from remote_fixtures import Served, free_port, served_fixture  # noqa: F401 - the fixture `served`
from sqlalchemy import insert

from controlplane.api.tokens import Role
from controlplane.audit.log import iter_events
from controlplane.runtime import Runtime
from controlplane.store.tables import drift_records, reconcile_run_clouds, reconcile_runs


def _drift(rt: Runtime) -> None:
    with rt.engine.begin() as conn:
        run = conn.execute(
            insert(reconcile_runs).values(
                started_at=rt.clock.now(),
                ended_at=rt.clock.now(),
                status="ok",
                dry_run=False,
                clouds="{}",
                counts="{}",
                api_calls=3,
                new_drift=3,
                resolved_drift=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(insert(reconcile_run_clouds).values(run_id=run, cloud="yunguan-local", complete=True, api_calls=3))
        for system, cls, rid in (("GA-007", "over", "p-spwl"), ("ZW-001", "quota-mismatch", "p-zwfw")):
            conn.execute(
                insert(drift_records).values(
                    run_id=run,
                    cloud="yunguan-local",
                    system=system,
                    drift_class=cls,
                    resource_kind="project",
                    resource_id=rid,
                    resource_name=rid,
                    detail=json.dumps({"vcpu": {"approved": 32, "observed": 40}}),
                    is_new=True,
                )
            )


def test_drift_over_the_api_matches_local(served: Served) -> None:
    """`drift` through the API prints what the local command prints, in every format, with the same exit code."""
    _drift(served.runtime)
    for args in (["-o", "json"], ["-o", "csv"], ["--lang", "en"], ["--class", "over", "-o", "json"]):
        local = served.run("drift", *args)
        remote = served.remote("drift", *args)
        assert local.exit_code == remote.exit_code == 1, (remote.stdout, remote.stderr)
        assert remote.stdout == local.stdout
    assert [d["resource_id"] for d in json.loads(served.remote("drift", "--class", "over", "-o", "json").stdout)] == [
        "p-spwl"
    ]


def test_reconcile_started_and_followed_to_its_end(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reconcile CLOUD` starts a run on the server and follows it: the cloud cannot be reached, so the run is
    partial and the exit code 6, as locally; the run is the operator token's, in the operation log."""
    unreachable = served.tmp / "clouds.yaml"  # whatever cloud the environment points at (CI: the local OpenStack)
    unreachable.write_text(
        "clouds:\n  yunguan-local:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n"
        "      password: p\n      project_name: p\n      user_domain_name: Default\n"
        "      project_domain_name: Default\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(unreachable))
    result = served.remote("--lang", "en", "reconcile", "yunguan-local")
    assert result.exit_code == 6, (result.stdout, result.stderr)
    assert "yunguan-local" in result.stdout and "partial" in result.stdout
    assert "yunguan-local" in result.stderr  # the note on why the cloud is partial
    with served.runtime.engine.connect() as conn:
        (logged,) = [e for e in iter_events(conn) if e.action == "reconcile.run"]
    assert logged.actor.startswith("operator:cli-operator#")
    assert logged.request_id.startswith("cli-")
    unknown = served.remote("reconcile", "mars")
    assert unknown.exit_code == 2
    assert "422" in unknown.stderr and "[request cli-" in unknown.stderr


def test_refusals_are_clear(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong token, a role that may not, a closed port and a command with no remote form: clear exit codes."""
    wrong = served.run("--server", served.url, "--token-file", served.token_file(text="yg_nope_nope"), "drift")
    assert wrong.exit_code == 2
    assert "not allowed" in wrong.stderr and "[request cli-" in wrong.stderr
    auditor = served.remote("reconcile", "--all", role=Role.AUDITOR)
    assert auditor.exit_code == 2 and "not allowed" in auditor.stderr
    closed = served.run("--server", f"http://127.0.0.1:{free_port()}", "--token-file", served.token_file(), "drift")
    assert closed.exit_code == 5 and "unreachable" in closed.stderr
    monkeypatch.setenv("YUNGUAN_SERVER", served.url)
    monkeypatch.setenv("YUNGUAN_TOKEN", "yg_nope_nope")
    assert served.run("drift").exit_code == 2
    local_only = served.run("usage", "rollup")
    assert local_only.exit_code == 2 and "no remote form" in local_only.stderr
    no_token = served.run("drift")
    assert no_token.exit_code == 2
    monkeypatch.delenv("YUNGUAN_TOKEN")
    assert "no token" in served.run("drift").stderr
    offline = served.run("--lang", "en", "audit", "verify", "--offline")  # local, whatever the server
    assert offline.exit_code == 0 and "operation log intact" in offline.stdout


def test_report_download_and_audit_verify(served: Served) -> None:
    """The report is downloaded with the SHA-256 the operation log records; `audit verify` is the server's, from
    the client config file."""
    out = served.tmp / "report.csv"
    got = served.remote("--lang", "en", "report", "monthly", "2026-10", "--format", "csv", "--out", str(out))
    assert got.exit_code == 0, got.stderr
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    with served.runtime.engine.connect() as conn:
        (logged,) = [e for e in iter_events(conn) if e.action == "report.generate"]
    assert json.loads(str(logged.after))["sha256"] == digest
    assert digest in got.stderr
    assert served.remote("report", "monthly", "2026-11", "--out", str(served.tmp / "x.xlsx")).exit_code == 2
    client = served.tmp / "client.yaml"
    client.write_text(f"server: {served.url}\ntoken_file: {served.token_file(Role.AUDITOR)}\n", encoding="utf-8")
    verified = served.run("--lang", "en", "audit", "verify", env={"YUNGUAN_CLIENT_CONFIG": str(client)})
    assert verified.exit_code == 0, verified.stderr
    assert "operation log intact" in verified.stdout


def test_findings_and_equipment_over_the_api(served: Served) -> None:
    """`findings list/show` and `equipment list` read the same as locally; `findings approve` approves the plan
    on the server (a second time: nothing planned, exit 2)."""
    finding = open_finding(served.runtime, "GA-007")
    register(served.runtime, OPERATOR, spec("SN-REMOTE-1", 1), vendor=VENDOR_A)
    for args in (["findings", "list", "-o", "json"], ["findings", "show", str(finding), "-o", "json"]):
        local = served.run(*args)
        remote = served.remote(*args)
        assert local.exit_code == remote.exit_code == 0, remote.stderr
        assert remote.stdout == local.stdout
    for args in (["equipment", "list", "-o", "json"], ["--lang", "en", "equipment", "list"]):
        local = served.run(*args)
        remote = served.remote(*args)
        assert local.exit_code == remote.exit_code == 0, remote.stderr
        assert remote.stdout == local.stdout and "SN-REMOTE-1" in remote.stdout
    assert served.remote("findings", "show", "999999").exit_code == 2
    approved = served.remote("--lang", "en", "findings", "approve", str(finding))
    assert approved.exit_code == 0, approved.stderr
    with served.runtime.engine.connect() as conn:
        (logged,) = [e for e in iter_events(conn) if e.action == "enforcement.approve"]
    assert logged.actor.startswith("operator:cli-operator#")
    again = served.remote("findings", "approve", str(finding))
    assert again.exit_code == 2 and "409" in again.stderr
