"""The hosting routes through FastAPI's TestClient, on SQLite and PostgreSQL, mounted as the API mounts them
(``controlplane.api.extensions``): vendors register, change, retire and upload evidence for their own equipment;
another vendor's id answers exactly the 404 a missing id does, for every route; operators and auditors read
everything and write nothing; the operation log names the vendor's token as actor and carries the request id;
evidence comes back with its SHA-256 and is refused once its file changed on disk."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hosting_data import UNIT, VENDOR_A, VENDOR_B, import_ledger
from httpx import Response

from controlplane.api.app import create_app
from controlplane.api.tokens import Role, create_token
from controlplane.audit.log import iter_events
from controlplane.runtime import Runtime

PROBLEM = "application/problem+json"


@dataclass
class Api:
    client: TestClient
    runtime: Runtime
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, **kw: Any) -> Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kw.pop("headers", {})}
        return self.client.request(method, f"/v1{path}", headers=headers, **kw)


def token(rt: Runtime, role: Role, name: str, **scope: str) -> str:
    with rt.engine.begin() as conn:
        _, text = create_token(
            conn, rt.audit, role=role, name=name, days=30, now=rt.clock.now(), actor="operator:test", **scope
        )
    return text


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    import_ledger(runtime)
    tokens = {
        "a": token(runtime, Role.VENDOR, "vendor-a", vendor=VENDOR_A),
        "b": token(runtime, Role.VENDOR, "vendor-b", vendor=VENDOR_B),
        "operator": token(runtime, Role.OPERATOR, "ops"),
        "auditor": token(runtime, Role.AUDITOR, "audit"),
        "admin": token(runtime, Role.ADMIN, "root"),
        "unit": token(runtime, Role.UNIT, "hr", unit=UNIT),
    }
    with TestClient(create_app(lambda: runtime), raise_server_exceptions=True) as client:
        yield Api(client, runtime, tokens)


def body(serial: str, u_start: int, u_height: int = 2, **kw: Any) -> dict[str, Any]:
    return {
        "serial": serial,
        "kind": "server",
        "model": "PowerEdge R740",
        "unit": UNIT,
        "system": "RS-004",
        "position": {"site": "遂宁数据中心", "room": "3F-301", "rack": "A07", "u_start": u_start, "u_height": u_height},
        "power_watts": 800,
        "ports": 2,
        "bandwidth_bps": 100_000_000,
        "hosted_since": "2026-03-05",
        **kw,
    }


def registered(api: Api, who: str = "a", **kw: Any) -> dict[str, Any]:
    answer = api.call(who, "POST", "/equipment", json=body(**{"serial": "SN-1", "u_start": 1} | kw))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def problem(answer: Response) -> dict[str, Any]:
    assert answer.headers["content-type"] == PROBLEM, answer.text
    found: dict[str, Any] = answer.json()
    return {k: found[k] for k in ("type", "title", "status", "detail")}


def test_a_vendor_registers_changes_and_retires_its_equipment(api: Api) -> None:
    """201 with Location, a move that touches the next device is fine, one that intersects it is 409 naming it;
    retiring frees the space; every change is logged with the vendor's token as actor and the request id."""
    first = registered(api)
    assert (first["vendor"], first["state"], first["sanitization_pending"]) == (VENDOR_A, "registered", False)
    second = registered(api, serial="SN-2", u_start=5)
    path = f"/equipment/{first['id']}"
    moved = api.call("a", "PATCH", path, json={"position": body("x", 3, 2)["position"], "state": "active"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["position"]["u_start"], moved.json()["state"]) == (3, "active")
    clash = api.call("a", "PATCH", path, json={"position": body("x", 4, 2)["position"]})
    assert clash.status_code == 409
    assert "overlaps SN-2" in clash.json()["detail"] and clash.json()["field"] == "position"
    retired = api.call(
        "a", "POST", f"/equipment/{second['id']}/retire", json={"reason": "removed"}, headers={"X-Request-Id": "r-1"}
    )
    assert retired.status_code == 200 and retired.json()["retired_on"] == "2026-11-20"
    assert api.call("a", "PATCH", path, json={"position": body("x", 4, 2)["position"]}).status_code == 200
    with api.runtime.engine.connect() as conn:
        logged = [e for e in iter_events(conn) if e.action.startswith("equipment.")]
    assert [e.action for e in logged] == [
        "equipment.register",
        "equipment.register",
        "equipment.update",
        "equipment.retire",
        "equipment.update",
    ]
    assert all(e.actor.startswith("vendor:vendor-a#") for e in logged)
    assert logged[3].request_id == "r-1"
    assert json.loads(logged[3].after)["vendor"] == VENDOR_A


def test_another_vendors_id_answers_exactly_like_a_missing_one(api: Api) -> None:
    """Vendor B cannot read, list, change, retire, upload to or download from A's equipment, nor tell it exists."""
    mine = registered(api)["id"]
    missing = mine + 1000

    def answers(ident: int) -> list[dict[str, Any]]:
        calls = [
            ("GET", f"/equipment/{ident}", {}),
            ("PATCH", f"/equipment/{ident}", {"json": {"power_watts": 1}}),
            ("POST", f"/equipment/{ident}/retire", {"json": {"reason": "disposed"}}),
            ("POST", f"/equipment/{ident}/evidence?kind=other&name=x.txt", {"content": b"x"}),
            ("GET", f"/equipment/{ident}/evidence", {}),
            ("GET", f"/equipment/{ident}/evidence/1", {}),
        ]
        found = []
        for method, path, kw in calls:
            answer = api.call("b", method, path, **kw)
            assert answer.status_code == 404, (method, path, answer.text)
            found.append(problem(answer))
        return found

    assert answers(mine) == answers(missing)
    assert api.call("b", "GET", "/equipment").json() == {"items": [], "next": None}
    assert api.call("b", "GET", f"/equipment?vendor={VENDOR_A}").json()["items"] == []
    taken = api.call("b", "POST", "/equipment", json=body("SN-1", 1, vendor=VENDOR_A))
    assert taken.status_code == 403
    unchanged = api.call("a", "GET", f"/equipment/{mine}").json()
    assert (unchanged["power_watts"], unchanged["state"], unchanged["evidence"]) == (800, "registered", [])


def test_operators_and_auditors_read_everything_and_write_nothing(api: Api) -> None:
    """The API's roles: operators and auditors list every vendor's equipment; neither may register (403)."""
    registered(api)
    registered(api, who="b", serial="SN-B", system=None)
    for who in ("operator", "auditor", "admin"):
        listed = api.call(who, "GET", "/equipment").json()["items"]
        assert [(e["vendor"], e["serial"]) for e in listed] == sorted([(VENDOR_A, "SN-1"), (VENDOR_B, "SN-B")])
    for who in ("operator", "auditor"):
        assert api.call(who, "POST", "/equipment", json=body("SN-9", 30, vendor=VENDOR_A)).status_code == 403
    admin = api.call("admin", "POST", "/equipment", json=body("SN-9", 30))
    assert admin.status_code == 422 and admin.json()["field"] == "vendor"
    done = api.call("admin", "POST", "/equipment", json=body("SN-9", 30, vendor=VENDOR_A))
    assert done.status_code == 201 and done.json()["registered_by"].startswith("admin:root#")


def test_a_unit_reads_its_own_departments_equipment_only(api: Api) -> None:
    """A unit token lists and reads its department's equipment, whoever hosts it; another unit's id answers the
    404 a missing one does, and the unit writes nothing (403)."""
    own = registered(api)["id"]
    other = registered(api, who="b", serial="SN-DA", unit="市档案馆", system="DA-003")["id"]
    listed = api.call("unit", "GET", "/equipment").json()
    assert ([e["id"] for e in listed["items"]], listed["next"]) == ([own], None)
    assert api.call("unit", "GET", "/equipment?unit=市档案馆").json()["items"] == []
    assert api.call("unit", "GET", f"/equipment/{own}").json()["serial"] == "SN-1"
    assert api.call("unit", "GET", f"/equipment/{own}/evidence").json() == []
    theirs = api.call("unit", "GET", f"/equipment/{other}")
    assert problem(theirs) == problem(api.call("unit", "GET", f"/equipment/{other + 1000}"))
    assert theirs.status_code == 404
    assert api.call("unit", "GET", f"/equipment/{other}/evidence").status_code == 404
    assert api.call("unit", "POST", f"/equipment/{own}/retire", json={"reason": "removed"}).status_code == 403
    assert api.call("admin", "GET", f"/equipment/{other}").status_code == 200


def test_bad_input_is_a_problem_naming_the_field(api: Api) -> None:
    """An unknown unit or system is 422 with its field; a repeated serial 409; a body out of bounds 422."""
    registered(api)
    again = api.call("a", "POST", "/equipment", json=body("SN-1", 20))
    assert (again.status_code, again.json()["field"]) == (409, "serial")
    unknown = api.call("a", "POST", "/equipment", json=body("SN-2", 20, unit="不存在的单位"))
    assert (unknown.status_code, unknown.json()["field"]) == (422, "unit")
    huge = api.call("a", "POST", "/equipment", json=body("SN-2", 20, power_watts=10**30))
    assert huge.status_code == 422 and huge.headers["content-type"] == PROBLEM


def test_evidence_upload_and_download_with_its_sha256(api: Api) -> None:
    """The raw body is kept under its SHA-256; the download carries it as Repr-Digest and the same bytes; after
    disposal the certificate clears sanitization_pending; a file changed on disk is a 500 problem, not served."""
    ident = registered(api)["id"]
    retired = api.call("a", "POST", f"/equipment/{ident}/retire", json={"reason": "disposed", "on": "2026-11-19"})
    assert retired.json()["sanitization_pending"] is True
    data = b"%PDF-1.4 degauss certificate"
    digest = hashlib.sha256(data).hexdigest()
    up = api.call(
        "a",
        "POST",
        f"/equipment/{ident}/evidence?kind=sanitization-certificate&name=消磁证明.pdf",
        content=data,
        headers={"Content-Type": "application/pdf"},
    )
    assert up.status_code == 201, up.text
    kept = up.json()
    assert (kept["sha256"], kept["size"], kept["media_type"], kept["name"]) == (
        digest,
        len(data),
        "application/pdf",
        "消磁证明.pdf",
    )
    assert up.headers["location"] == f"/v1/equipment/{ident}/evidence/{kept['id']}"
    assert api.call("a", "GET", f"/equipment/{ident}").json()["sanitization_pending"] is False
    assert [e["id"] for e in api.call("auditor", "GET", f"/equipment/{ident}/evidence").json()] == [kept["id"]]
    down = api.call("auditor", "GET", f"/equipment/{ident}/evidence/{kept['id']}")
    assert down.status_code == 200 and down.content == data
    assert down.headers["repr-digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    assert down.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E6%B6%88" in down.headers["content-disposition"]
    path = api.runtime.settings.state_dir / "evidence" / digest[:2] / digest
    path.chmod(0o640)
    path.write_bytes(b"%PDF-1.4 forged")
    forged = api.call("a", "GET", f"/equipment/{ident}/evidence/{kept['id']}")
    assert forged.status_code == 500 and problem(forged)["type"].endswith("/evidence-corrupt")
    assert b"forged" not in forged.content


def test_the_routes_are_in_the_served_spec(api: Api) -> None:
    """The equipment routes are mounted under /v1 with their permissions (the app refuses open routes)."""
    paths = api.client.get("/v1/openapi.json").json()["paths"]
    assert set(paths["/v1/equipment"]) == {"get", "post"}
    assert set(paths["/v1/equipment/{equipment_id}"]) == {"get", "patch"}
    assert "post" in paths["/v1/equipment/{equipment_id}/evidence"]
    assert "get" in paths["/v1/equipment/{equipment_id}/evidence/{evidence_id}"]
    assert api.client.get("/v1/equipment").status_code == 401
