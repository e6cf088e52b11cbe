"""Fixtures of the HTTP API tests: the app over a real store (SQLite and PostgreSQL through ``runtime``) holding the
demo ledger, a TestClient, and a token of each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from controlplane.api.app import create_app
from controlplane.api.tokens import Role, create_token
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
VENDOR = "本地测试云"
UNIT = "市公安局"


def import_demo(rt: Runtime) -> None:
    raw = read_ledger_file(EXAMPLES / "ledger-demo.csv")
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        apply_batch(conn, parse_ledger(raw, load_clouds(conn)), rt.audit, "operator:test", rt.clock.now())


def make_token(rt: Runtime, role: Role, *, days: int = 30, name: str | None = None) -> str:
    with rt.engine.begin() as conn:
        _, text = create_token(
            conn,
            rt.audit,
            role=role,
            name=name or f"test-{role.value}",
            days=days,
            now=rt.clock.now(),
            actor="operator:test",
            vendor=VENDOR if role is Role.VENDOR else None,
            unit=UNIT if role is Role.UNIT else None,
        )
    return text


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    runtime: Runtime
    tokens: dict[Role, str]

    def auth(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(name="api")
def api_fixture(runtime: Runtime) -> Iterator[Api]:
    """The API over a store holding the demo ledger, with a token of each role."""
    import_demo(runtime)
    tokens = {role: make_token(runtime, role) for role in Role}
    app = create_app(lambda: runtime, routers=[])
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Api(app, client, runtime, tokens)


def open_finding(rt: Runtime, system: str, *, rule: str = "idle-cpu", scope: str = "srv-1") -> int:
    """An open finding of ``system`` on yunguan-local (as the evaluator would open it), with a planned resize."""
    from controlplane.policy.actuation import ActionKind, ActionSpec
    from controlplane.policy.enforce import plan
    from controlplane.policy.findings import insert_finding

    now = rt.clock.now()
    values = {
        "key": f"suining/{rule}/{system}/yunguan-local/{scope}",
        "pack": "suining",
        "rule_id": rule,
        "citation": "Suining art. 14",
        "system": system,
        "cloud": "yunguan-local",
        "scope_kind": "server",
        "scope_id": scope,
        "outcome": "downsize",
        "state": "open",
        "cycle": 1,
        "opened": now,
        "state_since": now,
        "updated": now,
        "period": "2026-10",
        "window_start": now,
        "window_end": now,
        "evidence": "[]",
        "reason": "CPU mean under 15%",
        "last_verdict": "finding",
        "deadline": None,
        "notified": "[]",
    }
    with rt.engine.begin() as conn:
        finding = insert_finding(conn, rt.audit, values, now=now, actor="agent:test")
        plan(
            conn,
            rt.audit,
            finding_id=finding.id,
            finding_key=finding.key,
            rule_id=rule,
            spec=ActionSpec(kind=ActionKind.RESIZE_SERVER, cloud="yunguan-local", target=scope, flavor="m1.small"),
            detail={"why": "test"},
            now=now,
            actor="agent:test",
        )
    return finding.id


@pytest.fixture
def no_openstack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """yunguan-local points nowhere (a closed loopback port), whatever the environment says (CI: the local
    OpenStack), so reconcile runs the API starts end quickly as partial runs."""
    unreachable = tmp_path / "clouds-unreachable.yaml"
    unreachable.write_text(
        "clouds:\n  yunguan-local:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n"
        "      password: p\n      project_name: p\n      user_domain_name: Default\n"
        "      project_domain_name: Default\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(unreachable))
