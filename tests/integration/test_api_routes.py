"""Deny by default, checked over every route the app serves (its own and those routers add): without a token 401,
with a role that lacks the route's permission 403, allowed otherwise; and an app with a route that declares no
permission is refused when it is built or started."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_fixtures import Api, api_fixture, no_openstack, open_finding  # noqa: F401 - fixtures
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from controlplane.api.app import OpenRouteError, create_app, routes_of
from controlplane.api.auth import PERMISSIONS, Permission
from controlplane.api.spec import render
from controlplane.api.tokens import Role

REPO = Path(__file__).resolve().parents[2]
PUBLIC = {"/livez", "/readyz", "/v1/openapi.json"}
# a value for each path parameter that names something the demo ledger (plus one finding) has
SAMPLE = {
    "key": "GA-007",
    "target": "GA-007",
    "system": "GA-007",
    "finding_id": "1",
    "month": "2026-10",
    "run_id": "0",
}
BODIES = {
    "/v1/reconcile-runs": {"clouds": ["yunguan-local"], "dry_run": True},
    "/v1/findings/{finding_id}/exempt": {"reason": "standby", "until": "2026-12-31"},
    "/v1/findings/{finding_id}/dispute": {"reason": "standby"},
    "/v1/findings/{finding_id}/reject-dispute": {"reason": "standby"},
    "/v1/findings/{finding_id}/resolve": {"reason": "fixed"},
    "/v1/usage/collections": {"clouds": ["hosting-zone"], "interval_s": 0},  # a round with nothing to read
    "/v1/terminations": {"system": "GA-007", "reason": "moving off"},  # the first allowed role opens the case
}
JOBS = {"/v1/reconcile-runs", "/v1/usage/collections"}  # POSTs that start a background job: waited for


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m[1], "x"), path)


@pytest.mark.usefixtures("no_openstack")
def test_every_route_denies_by_default(api: Api) -> None:
    """Each route of the full app: 401 without a token, 403 for each role without its permission, else allowed."""
    open_finding(api.runtime, "GA-007")
    app = create_app(lambda: api.runtime)  # with the routers the agent serves (extensions.ROUTERS)
    routes = routes_of(app)
    assert {p for p, _, perm in routes if perm == "public"} == PUBLIC
    checked = 0
    with TestClient(app) as client:
        for path, methods, permission in routes:
            if permission == "public":
                continue
            assert permission in {p.value for p in Permission}, path
            for method in sorted(methods - {"HEAD"}):
                url = concrete(path)
                body = BODIES.get(path)
                answer = client.request(method, url, json=body)
                assert answer.status_code == 401, (method, path, answer.text)
                for role in Role:
                    answer = client.request(method, url, json=body, headers=api.auth(role))
                    if Permission(permission) in PERMISSIONS[role]:
                        assert answer.status_code not in (401, 403), (role, method, path, answer.text)
                    else:
                        assert answer.status_code == 403, (role, method, path, answer.text)
                checked += 1
                if path in JOBS and method == "POST":
                    ctx = app.state.yunguan
                    running = ctx.jobs.running()
                    if running:
                        ctx.jobs.join(running, timeout=120)
    assert checked >= 20


def test_a_route_without_permission_is_refused() -> None:
    """The factory refuses a router with an undeclared route, and so does start-up for one included later."""
    loose = APIRouter()

    @loose.get("/open")
    def open_route() -> dict[str, str]:
        return {"who": "anyone"}

    with pytest.raises(OpenRouteError, match="GET /v1/open declares no permission"):
        create_app(lambda: None, routers=[loose])  # type: ignore[arg-type,return-value]
    app: FastAPI = create_app(lambda: None, routers=[])  # type: ignore[arg-type,return-value]
    app.include_router(loose, prefix="/v1")
    with pytest.raises(OpenRouteError), TestClient(app):
        pass


def test_committed_spec_is_what_the_app_serves() -> None:
    """docs/openapi.json equals the generated spec (regenerate: python -m controlplane.api.spec > docs/openapi.json)."""
    committed = (REPO / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), "regenerate with: .venv/bin/python -m controlplane.api.spec > docs/openapi.json"
