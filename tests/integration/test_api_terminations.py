"""Termination over the HTTP API, on SQLite and PostgreSQL with the demo ledger: a unit requests its own system's
termination and confirms its backup with an evidence file, and cannot see or touch another department's system;
the confirmation is refused before the operator's approval; auditors read and write nothing; errors name the field."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from api_fixtures import UNIT, Api, api_fixture  # noqa: F401 - api_fixture: fixture
from httpx import Response

from controlplane.api.tokens import Role, create_token
from controlplane.config import Settings
from controlplane.termination import cases
from controlplane.termination.wiring import configured_terms

OTHER_UNIT = "市人力资源和社会保障局"  # owns RS-003; UNIT (市公安局) owns GA-007


@pytest.fixture(name="settings")
def suining_settings(settings: Settings) -> Settings:
    """The tests' configuration with the Suining pack: a request more than a month after use stopped is late."""
    return settings.model_copy(update={"policy": settings.policy.model_copy(update={"pack": "suining"})})


def _problem(answer: Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


def _unit_token(api: Api, unit: str) -> dict[str, str]:
    rt = api.runtime
    with rt.engine.begin() as conn:
        _, text = create_token(
            conn, rt.audit, role=Role.UNIT, name="unit-b", days=30, now=rt.clock.now(), actor="operator:t", unit=unit
        )
    return {"Authorization": f"Bearer {text}"}


def _approve(api: Api, system: str) -> None:
    """The operator's approval, as ``yunguan terminate approve`` does it (the API has no route for it)."""
    rt = api.runtime
    with rt.engine.begin() as conn:
        case = cases.case_of(conn, system)
        cases.approve(conn, rt.audit, configured_terms(rt), case.id, actor="operator:wang", now=rt.clock.now())


def _events(api: Api, action: str) -> list[dict[str, Any]]:
    answer = api.client.get("/v1/audit/events", params={"action": action}, headers=api.auth(Role.AUDITOR))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_unit_requests_and_confirms_backup_of_its_own_system(api: Api) -> None:
    """Request → 409 before approval → approved → evidence kept by SHA-256 → backup-confirmed, logged as the unit."""
    unit = api.auth(Role.UNIT)
    asked = api.client.post(
        "/v1/terminations",
        json={"system": "GA-007", "reason": "迁往新平台", "stopped_use": "2026-11-10"},
        headers={**unit, "Idempotency-Key": "term-1"},
    )
    assert asked.status_code == 201, asked.text
    case = asked.json()
    assert (case["system"], case["unit"], case["state"], case["late"]) == ("GA-007", UNIT, "requested", False)
    assert asked.headers["location"] == "/v1/terminations/GA-007"
    replay = api.client.post(
        "/v1/terminations",
        json={"system": "GA-007", "reason": "迁往新平台", "stopped_use": "2026-11-10"},
        headers={**unit, "Idempotency-Key": "term-1"},
    )
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == case["id"]
    again = _problem(api.client.post("/v1/terminations", json={"system": "GA-007", "reason": "x"}, headers=unit), 409)
    assert "already has open termination case" in again["detail"]

    evidence = "备份已完成 backup done\n".encode()
    url = "/v1/terminations/GA-007/backup-confirmation"
    early = _problem(api.client.post(url, params={"name": "备份记录.txt"}, content=evidence, headers=unit), 409)
    assert early["type"].endswith("/termination-state")
    assert "cannot confirm-backup a case that is requested (only when approved)" in early["detail"]
    assert not (api.runtime.settings.state_dir / "evidence").exists() or not any(
        (api.runtime.settings.state_dir / "evidence").rglob("*")
    )

    _approve(api, "GA-007")
    empty = _problem(api.client.post(url, params={"name": "x.txt"}, content=b"", headers=unit), 422)
    assert empty["field"] == "evidence"
    done = api.client.post(url, params={"name": "备份记录.txt"}, content=evidence, headers=unit)
    assert done.status_code == 200, done.text
    confirmed = done.json()
    digest = hashlib.sha256(evidence).hexdigest()
    assert confirmed["state"] == "backup-confirmed"
    assert (confirmed["backup_sha256"], confirmed["backup_size"], confirmed["backup_name"]) == (
        digest,
        len(evidence),
        "备份记录.txt",
    )
    kept = api.runtime.settings.state_dir / "evidence" / digest[:2] / digest
    assert kept.read_bytes() == evidence
    twice = _problem(api.client.post(url, params={"name": "b.txt"}, content=b"y", headers=unit), 409)
    assert "backup-confirmed" in twice["detail"]

    unit_actor = f"unit:test-unit#{api.tokens[Role.UNIT].split('_')[1]}"
    assert [e["actor"] for e in _events(api, "termination.request")] == [unit_actor]
    assert [e["actor"] for e in _events(api, "termination.confirm-backup")] == [unit_actor]

    shown = api.client.get("/v1/terminations/GA-007", headers=api.auth(Role.AUDITOR))
    assert shown.status_code == 200, shown.text
    assert shown.json()["case"]["approved_by"] == "operator:wang"
    assert shown.json()["steps"] == []


def test_another_departments_system_is_hidden(api: Api) -> None:
    """Unit B cannot see, request or confirm for unit A's system: the same 404 as a system the ledger lacks."""
    api.client.post("/v1/terminations", json={"system": "GA-007", "reason": "r"}, headers=api.auth(Role.OPERATOR))
    other = _unit_token(api, OTHER_UNIT)
    assert api.client.get("/v1/terminations", headers=other).json()["items"] == []
    hidden = _problem(api.client.get("/v1/terminations/GA-007", headers=other), 404)
    unknown = _problem(api.client.get("/v1/terminations/NO-SUCH", headers=other), 404)
    assert hidden["detail"].replace("GA-007", "X") == unknown["detail"].replace("NO-SUCH", "X")
    _problem(api.client.post("/v1/terminations", json={"system": "GA-007", "reason": "r"}, headers=other), 404)
    _problem(api.client.post("/v1/terminations", json={"system": "ZW-001", "reason": "r"}, headers=other), 404)
    _problem(
        api.client.post(
            "/v1/terminations/GA-007/backup-confirmation", params={"name": "a"}, content=b"x", headers=other
        ),
        404,
    )
    own = api.client.post("/v1/terminations", json={"system": "RS-003", "reason": "r"}, headers=other)
    assert own.status_code == 201, own.text
    listed = api.client.get("/v1/terminations", headers=other).json()["items"]
    assert [c["system"] for c in listed] == ["RS-003"]
    everything = api.client.get("/v1/terminations", headers=api.auth(Role.OPERATOR)).json()["items"]
    assert [c["system"] for c in everything] == ["GA-007", "RS-003"]
    filtered = api.client.get(
        "/v1/terminations", params={"system": "RS-003", "state": "requested"}, headers=api.auth(Role.AUDITOR)
    )
    assert [c["system"] for c in filtered.json()["items"]] == ["RS-003"]
    assert len(_events(api, "termination.request")) == 2


def test_auditor_and_vendor_cannot_write(api: Api) -> None:
    """An auditor reads cases but may neither request nor confirm; a vendor may not even read them."""
    auditor = api.auth(Role.AUDITOR)
    _problem(api.client.post("/v1/terminations", json={"system": "GA-007", "reason": "r"}, headers=auditor), 403)
    url = "/v1/terminations/GA-007/backup-confirmation"
    _problem(api.client.post(url, params={"name": "a"}, content=b"x", headers=auditor), 403)
    _problem(api.client.get("/v1/terminations", headers=api.auth(Role.VENDOR)), 403)
    assert api.client.get("/v1/terminations", headers=auditor).json()["items"] == []
    assert _events(api, "termination.request") == []


def test_bad_input_names_the_field_and_late_requests_are_flagged(api: Api) -> None:
    """422 names the field (reason, stopped_use, name); an unknown system 404; a late request is flagged and logged."""
    admin = api.auth(Role.ADMIN)
    missing = _problem(api.client.post("/v1/terminations", json={"system": "GA-007"}, headers=admin), 422)
    assert missing["errors"][0]["loc"] == ["body", "reason"]
    blank = _problem(api.client.post("/v1/terminations", json={"system": "GA-007", "reason": " "}, headers=admin), 422)
    assert blank["field"] == "reason" and blank["errors"][0]["loc"] == ["body", "reason"]
    future = _problem(
        api.client.post(
            "/v1/terminations", json={"system": "GA-007", "reason": "r", "stopped_use": "2027-01-01"}, headers=admin
        ),
        422,
    )
    assert future["field"] == "stopped_use" and "stopped_use" in future["detail"]
    _problem(api.client.post("/v1/terminations", json={"system": "NO-SUCH", "reason": "r"}, headers=admin), 404)
    _problem(api.client.get("/v1/terminations/GA-012", headers=admin), 404)  # known, but no case
    nameless = api.client.post(
        "/v1/terminations/GA-007/backup-confirmation", params={"name": " "}, content=b"x", headers=admin
    )
    assert _problem(nameless, 422)["field"] == "name"
    bad_state = _problem(api.client.get("/v1/terminations", params={"state": "gone"}, headers=admin), 422)
    assert bad_state["errors"][0]["loc"] == ["query", "state"]

    late = api.client.post(
        "/v1/terminations", json={"system": "GA-007", "reason": "r", "stopped_use": "2026-08-01"}, headers=admin
    )
    assert late.status_code == 201 and late.json()["late"] is True, late.text
    flagged = _events(api, "termination.late")
    assert [e["target"] for e in flagged] == [f"termination:{late.json()['id']}:system:GA-007"]
