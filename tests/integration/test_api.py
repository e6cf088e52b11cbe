"""The HTTP API on SQLite and PostgreSQL, through FastAPI's TestClient against a real store holding the demo ledger:
reads, a reconcile run followed to its end, findings, pages, problems, request ids in the operation log,
idempotency keys, token expiry and revocation, the report download."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from api_fixtures import Api, api_fixture, make_token, no_openstack, open_finding  # noqa: F401 - fixtures
from sqlalchemy import insert, update

from controlplane.api import idempotency
from controlplane.api.tokens import Role, revoke_token
from controlplane.audit.log import iter_events
from controlplane.clock import FixedClock
from controlplane.runtime import Runtime
from controlplane.store.tables import drift_records, idempotency_keys, reconcile_run_clouds, reconcile_runs
from controlplane.usage import UsageSample, write_samples

PROBLEM = "application/problem+json"


def events(api: Api, **where: str) -> list[dict[str, object]]:
    with api.runtime.engine.connect() as conn:
        found = [e for e in iter_events(conn) if all(getattr(e, k) == v for k, v in where.items())]
    return [{"action": e.action, "actor": e.actor, "request_id": e.request_id, "after": e.after} for e in found]


def assert_problem(response, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


def test_ledger_reads_and_unit_scope(api: Api) -> None:
    """Systems, a system's footprint and approval, the approval on a day and the history; a unit sees its own."""
    systems = api.client.get("/v1/systems", headers=api.auth()).json()["items"]
    assert [s["key"] for s in systems] == ["GA-007", "GA-012", "RS-003", "RS-004", "ZJ-009", "ZW-001"]
    one = api.client.get("/v1/systems/ZW-001", headers=api.auth(Role.AUDITOR)).json()
    assert one["department"] == "市政务服务数据管理局"
    assert one["footprints"] == [{"cloud": "yunguan-local", "kind": "project", "ref": "zwfw"}]
    assert [a["approval_ref"] for a in one["approved_today"]] == ["遂政数〔2026〕12号"]
    july = api.client.get("/v1/allocations", params={"day": "2026-07-01", "system": "ZW-001"}, headers=api.auth())
    (zw,) = july.json()["items"]
    assert (zw["vcpu"], zw["memory_bytes"], zw["kind"]) == (24.0, 48 * 2**30, "temporary")
    history = api.client.get("/v1/allocations/history", params={"system": "ZW-001"}, headers=api.auth()).json()
    assert [h["approval_ref"] for h in history["items"]] == ["遂政数〔2026〕12号", "遂政数〔2026〕31号"]
    mine = api.client.get("/v1/systems", headers=api.auth(Role.UNIT)).json()["items"]
    assert [s["key"] for s in mine] == ["GA-007"]  # not GA-012 of the subordinate unit, nor anyone else's
    assert_problem(api.client.get("/v1/systems/ZW-001", headers=api.auth(Role.UNIT)), 404)
    theirs = api.client.get("/v1/allocations/history", headers=api.auth(Role.UNIT)).json()["items"]
    assert {a["system"] for a in theirs} == {"GA-007"}
    clouds = api.client.get("/v1/clouds", headers=api.auth(Role.VENDOR)).json()["items"]
    assert [c["name"] for c in clouds] == ["k8s-local", "yunguan-local"]  # the hosting zone is another vendor's


def test_pages_follow_next_to_the_end(api: Api) -> None:
    """limit/cursor pages cover the list once, in order; a forged cursor is a 400 problem."""
    seen: list[str] = []
    url: str | None = "/v1/systems?limit=2"
    pages = 0
    while url is not None:
        page = api.client.get(url, headers=api.auth()).json()
        seen += [s["key"] for s in page["items"]]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert seen == ["GA-007", "GA-012", "RS-003", "RS-004", "ZJ-009", "ZW-001"]
    first = api.client.get("/v1/audit/events", params={"limit": 5, "action": "allocation.revise"}, headers=api.auth())
    after = api.client.get(first.json()["next"], headers=api.auth()).json()["items"]
    assert "action=allocation.revise" in first.json()["next"]
    assert after[0]["seq"] > first.json()["items"][-1]["seq"]
    assert {e["action"] for e in after} == {"allocation.revise"}
    assert_problem(api.client.get("/v1/systems?cursor=not-ours", headers=api.auth()), 400)


def test_errors_are_problems(api: Api) -> None:
    """Unknown routes, wrong methods, bad parameters and missing tokens all answer problem+json."""
    assert assert_problem(api.client.get("/v1/nowhere", headers=api.auth()), 404)["instance"] == "/v1/nowhere"
    assert_problem(api.client.delete("/v1/systems", headers=api.auth()), 405)
    bad = assert_problem(api.client.get("/v1/systems?limit=0", headers=api.auth()), 422)
    assert bad["errors"][0]["loc"] == ["query", "limit"]  # type: ignore[index]
    none = api.client.get("/v1/systems")
    assert_problem(none, 401)
    assert none.headers["www-authenticate"] == "Bearer"
    assert_problem(api.client.get("/v1/systems", headers={"Authorization": "Bearer yg_nope"}), 401)
    assert_problem(api.client.post("/v1/reconcile-runs", json={}, headers=api.auth(Role.AUDITOR)), 403)
    assert_problem(api.client.post("/v1/reconcile-runs", json={"clouds": ["mars"]}, headers=api.auth()), 422)


def test_reconcile_run_started_and_followed(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """POST starts a run (202, Location); it ends partial against a cloud that cannot be reached; the run, its
    operation-log event and the request id tie together."""
    unreachable = tmp_path / "clouds.yaml"  # whatever cloud the environment points at (CI: the local OpenStack)
    unreachable.write_text(
        "clouds:\n  yunguan-local:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n"
        "      password: p\n      project_name: p\n      user_domain_name: Default\n"
        "      project_domain_name: Default\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(unreachable))
    started = api.client.post(
        "/v1/reconcile-runs", json={"clouds": ["yunguan-local"]}, headers={**api.auth(), "X-Request-Id": "rr-1"}
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/v1/reconcile-runs/{job['id']}"
    assert job["state"] in ("running", "done")
    assert api.app.state.yunguan.jobs.join(job["id"], timeout=120)
    done = api.client.get(started.headers["location"], headers=api.auth(Role.AUDITOR)).json()
    assert done["state"] == "done", done
    assert done["result"]["status"] == "partial"
    (line,) = done["result"]["clouds"]
    assert line["cloud"] == "yunguan-local" and line["status"] == "partial" and line["problems"]
    assert done["run_id"] == done["result"]["run_id"] is not None
    (logged,) = events(api, action="reconcile.run")
    assert logged["request_id"] == "rr-1"
    assert str(logged["actor"]).startswith("admin:test-admin#")
    listed = api.client.get("/v1/reconcile-runs", headers=api.auth()).json()["items"]
    assert [r["id"] for r in listed] == [job["id"]]
    assert_problem(api.client.get("/v1/reconcile-runs/none-such", headers=api.auth()), 404)


def test_drift_reads(api: Api) -> None:
    """The latest run's drift, filtered by class; a unit sees only its systems' drift."""
    rt = api.runtime
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
                new_drift=2,
                resolved_drift=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(insert(reconcile_run_clouds).values(run_id=run, cloud="yunguan-local", complete=True, api_calls=3))
        for system, cls, rid in (
            ("GA-007", "over", "p-spwl"),
            ("ZW-001", "quota-mismatch", "p-zwfw"),
            (None, "unapproved", "p-x"),
        ):
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
    every = api.client.get("/v1/drift", headers=api.auth()).json()["items"]
    assert [(d["system"], d["drift_class"]) for d in every] == [
        ("GA-007", "over"),
        ("ZW-001", "quota-mismatch"),
        (None, "unapproved"),
    ]
    assert every[0]["detail"] == {"vcpu": {"approved": 32, "observed": 40}}
    over = api.client.get("/v1/drift", params={"class": "over"}, headers=api.auth(Role.OPERATOR)).json()["items"]
    assert [d["resource_id"] for d in over] == ["p-spwl"]
    mine = api.client.get("/v1/drift", headers=api.auth(Role.UNIT)).json()["items"]
    assert [d["system"] for d in mine] == ["GA-007"]
    assert_problem(api.client.get("/v1/drift", params={"class": "nonsense"}, headers=api.auth()), 422)


def record_run(rt: Runtime, cloud: str, drift: list[tuple[str | None, str, str, str]]) -> None:
    """A recorded run of one cloud with these (system, class, resource kind, resource id) drift records."""
    now = rt.clock.now()
    with rt.engine.begin() as conn:
        run = conn.execute(
            insert(reconcile_runs).values(
                started_at=now, ended_at=now, status="ok", dry_run=False, clouds="{}", counts="{}", api_calls=1,
                new_drift=len(drift), resolved_drift=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        conn.execute(insert(reconcile_run_clouds).values(run_id=run, cloud=cloud, complete=True, api_calls=1))
        for system, cls, kind, rid in drift:
            conn.execute(
                insert(drift_records).values(
                    run_id=run, cloud=cloud, system=system, drift_class=cls, resource_kind=kind, resource_id=rid,
                    resource_name=rid, detail="{}", is_new=True,
                )
            )  # fmt: skip


def test_drift_pages_are_cut_by_the_database_in_code_point_order(api: Api) -> None:
    """Pages of 2 walk each cloud's latest run only, once, in (cloud, class, system or "", resource id, kind) order
    by code point on both stores (upper case before lower, CJK after); a unit's pages hold its systems only; a
    cursor of the wrong shape is a 400 problem."""
    rt = api.runtime
    record_run(rt, "yunguan-local", [("GA-007", "over", "project", "gone")])  # an older run: not shown
    record_run(
        rt,
        "yunguan-local",
        [
            ("GA-007", "over", "server", "beta"),
            ("GA-007", "over", "project", "beta"),
            ("GA-007", "over", "server", "Zeta"),
            ("GA-007", "over", "server", "政务"),
            (None, "over", "server", "alpha"),
            ("ZW-001", "quota-mismatch", "project", "p-zwfw"),
            (None, "unapproved", "project", "p-x"),
        ],
    )
    record_run(rt, "hosting-zone", [("RS-004", "under", "equipment", "SN-1")])

    def walk(role: Role) -> list[tuple[str, str | None, str]]:
        seen: list[tuple[str, str | None, str]] = []
        url: str | None = "/v1/drift?limit=2"
        while url is not None:
            page = api.client.get(url, headers=api.auth(role)).json()
            assert len(page["items"]) <= 2
            seen += [(d["cloud"], d["system"], d["resource_id"]) for d in page["items"]]
            url = page["next"]
        return seen

    assert walk(Role.ADMIN) == [
        ("hosting-zone", "RS-004", "SN-1"),
        ("yunguan-local", None, "alpha"),
        ("yunguan-local", "GA-007", "Zeta"),
        ("yunguan-local", "GA-007", "beta"),  # project before server
        ("yunguan-local", "GA-007", "beta"),
        ("yunguan-local", "GA-007", "政务"),
        ("yunguan-local", "ZW-001", "p-zwfw"),
        ("yunguan-local", None, "p-x"),
    ]
    assert {system for _, system, _ in walk(Role.UNIT)} == {"GA-007"}
    for forged in ([1, 2, 3, 4, 5], ["a"], {"a": 1}):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        assert_problem(api.client.get(f"/v1/drift?cursor={cursor}", headers=api.auth()), 400)


def test_findings_dispute_exempt_approve(api: Api) -> None:
    """A unit disputes its own finding; an operator exempts it until a day and approves a plan; each change is in
    the operation log with its request id, and the finding shows its history and actions."""
    mine = open_finding(api.runtime, "GA-007")
    other = open_finding(api.runtime, "ZW-001")
    listed = api.client.get("/v1/findings", headers=api.auth(Role.UNIT)).json()["items"]
    assert [f["id"] for f in listed] == [mine]
    assert_problem(api.client.get(f"/v1/findings/{other}", headers=api.auth(Role.UNIT)), 404)
    assert_problem(api.client.post(f"/v1/findings/{mine}/exempt", json={}, headers=api.auth(Role.UNIT)), 403)
    disputed = api.client.post(
        f"/v1/findings/{mine}/dispute",
        json={"reason": "the server is a cold standby"},
        headers={**api.auth(Role.UNIT), "X-Request-Id": "dispute-1"},
    )
    assert disputed.status_code == 200, disputed.text
    assert disputed.json()["state"] == "disputed"
    assert_problem(
        api.client.post(f"/v1/findings/{mine}/dispute", json={"reason": "again"}, headers=api.auth(Role.UNIT)), 409
    )
    past = api.client.post(
        f"/v1/findings/{mine}/exempt", json={"reason": "standby", "until": "2026-01-01"}, headers=api.auth()
    )
    assert "already past" in str(assert_problem(past, 422)["detail"])
    exempted = api.client.post(
        f"/v1/findings/{mine}/exempt",
        json={"reason": "cold standby, approval 遂政数〔2026〕40号", "until": "2026-12-31"},
        headers={**api.auth(Role.OPERATOR), "X-Request-Id": "exempt-1"},
    ).json()
    assert (exempted["state"], exempted["exempt_until"], exempted["paused_state"]) == ("exempted", "2026-12-31", "open")
    approved = api.client.post(f"/v1/findings/{other}/approve", headers=api.auth(Role.OPERATOR))
    assert approved.status_code == 200, approved.text
    assert len(approved.json()["approved"]) == 1
    assert_problem(api.client.post(f"/v1/findings/{other}/approve", headers=api.auth()), 409)
    shown = api.client.get(f"/v1/findings/{mine}", headers=api.auth(Role.AUDITOR)).json()
    assert [h["transition"] for h in shown["history"]] == ["open", "dispute", "exempt"]
    assert [a["state"] for a in shown["actions"]] == ["planned"]
    actions = api.client.get("/v1/actions", params={"state": "approved"}, headers=api.auth()).json()["items"]
    assert [a["finding_id"] for a in actions] == [other]
    assert api.client.get("/v1/actions", headers=api.auth(Role.UNIT)).json()["items"][0]["finding_id"] == mine
    assert [e["request_id"] for e in events(api, action="finding.dispute")] == ["dispute-1"]
    (logged,) = events(api, action="finding.exempt")
    assert logged["request_id"] == "exempt-1"
    assert str(logged["actor"]).startswith("operator:test-operator#")
    by_id = api.client.get("/v1/audit/events", params={"request_id": "exempt-1"}, headers=api.auth(Role.AUDITOR))
    assert [e["action"] for e in by_id.json()["items"]] == ["finding.exempt"]


def test_request_id_kept_or_made(api: Api) -> None:
    """A sane X-Request-Id comes back as sent; a missing or odd one is replaced by a new one."""
    kept = api.client.get("/livez", headers={"X-Request-Id": "abc-123:x.y"})
    assert kept.headers["x-request-id"] == "abc-123:x.y"
    made = api.client.get("/livez", headers={"X-Request-Id": "bad id\twith tabs"})
    assert made.headers["x-request-id"] != "bad id\twith tabs" and len(made.headers["x-request-id"]) == 32
    assert api.client.get("/livez").headers["x-request-id"] != made.headers["x-request-id"]


@pytest.mark.usefixtures("no_openstack")
def test_idempotency_key_replays_and_conflicts(api: Api) -> None:
    """The same key and body replays the first answer without acting twice; another body with it is a 409; keys
    are per token."""
    finding = open_finding(api.runtime, "GA-007")
    url = f"/v1/findings/{finding}/dispute"
    headers = {**api.auth(Role.UNIT), "Idempotency-Key": "k-1"}
    first = api.client.post(url, json={"reason": "standby"}, headers=headers)
    again = api.client.post(url, json={"reason": "standby"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert len(events(api, action="finding.dispute")) == 1
    body = assert_problem(api.client.post(url, json={"reason": "something else"}, headers=headers), 409)
    assert body["type"] == "https://yunguan.io/problems/idempotency-key-reused"
    other = api.client.post(url, json={"reason": "standby"}, headers={**api.auth(), "Idempotency-Key": "k-1"})
    assert_problem(other, 409)  # another token's k-1 is a new request: the finding is already disputed
    assert "idempotent-replayed" not in other.headers
    started = api.client.post(
        "/v1/reconcile-runs", json={"clouds": ["yunguan-local"]}, headers={**api.auth(), "Idempotency-Key": "run-1"}
    )
    replayed = api.client.post(
        "/v1/reconcile-runs", json={"clouds": ["yunguan-local"]}, headers={**api.auth(), "Idempotency-Key": "run-1"}
    )
    assert replayed.status_code == 202 and replayed.json()["id"] == started.json()["id"]
    assert replayed.headers["location"] == started.headers["location"]
    api.app.state.yunguan.jobs.join(started.json()["id"], timeout=120)
    bad = api.client.post(url, json={"reason": "x"}, headers={**api.auth(), "Idempotency-Key": "has space"})
    assert_problem(bad, 400)


def test_idempotency_claim_of_a_dead_request_is_freed(api: Api, clock: FixedClock) -> None:
    """A request that claimed its key and died without answering (the store went away before it could release the
    claim) blocks a retry with that key as in progress, but only for a while: after that the retry is served."""
    finding = open_finding(api.runtime, "GA-007")
    url = f"/v1/findings/{finding}/dispute"
    headers = {**api.auth(Role.UNIT), "Idempotency-Key": "k-dead"}
    first = api.client.post(url, json={"reason": "standby"}, headers=headers)
    assert first.status_code == 200
    with api.runtime.engine.begin() as conn:  # as the store left it when the request died: pending, no answer
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == "k-dead")
            .values(state="pending", status=None, headers=None, body=None)
        )
    busy = assert_problem(api.client.post(url, json={"reason": "standby"}, headers=headers), 409)
    assert busy["type"] == "https://yunguan.io/problems/idempotency-key-in-progress"
    clock.advance(idempotency.ABANDONED_AFTER + dt.timedelta(seconds=1))
    retried = api.client.post(url, json={"reason": "standby"}, headers=headers)
    assert "idempotent-replayed" not in retried.headers  # served anew (the finding is disputed already: a 409)
    assert_problem(retried, 409)
    assert retried.json()["type"] != "https://yunguan.io/problems/idempotency-key-in-progress"


def test_token_expiry_and_revocation(api: Api, clock: FixedClock) -> None:
    """A token works until its expiry (by the injected clock, checked on every request, remembered or not); a
    revoked token stops once the agent's memory of it is api.token_cache_s old, a token it never saw at once."""
    short = make_token(api.runtime, Role.AUDITOR, days=1, name="short")
    header = {"Authorization": f"Bearer {short}"}
    assert api.client.get("/v1/audit/verify", headers=header).json()["ok"] is True
    clock.advance(dt.timedelta(days=1))
    assert_problem(api.client.get("/v1/audit/verify", headers=header), 401)
    assert api.client.get("/v1/systems", headers=api.auth(Role.OPERATOR)).status_code == 200
    revoked = clock.now()
    for role in (Role.OPERATOR, Role.UNIT):
        token_id = api.tokens[role].split("_")[1]
        with api.runtime.engine.begin() as conn:
            revoke_token(conn, api.runtime.audit, token_id, now=clock.now(), actor="operator:test")
    assert_problem(api.client.get("/v1/systems", headers=api.auth(Role.UNIT)), 401)  # never seen: read, refused
    cache_s = api.runtime.settings.api.token_cache_s
    assert cache_s > 0
    clock.advance(dt.timedelta(seconds=cache_s) - dt.timedelta(microseconds=1))
    assert api.client.get("/v1/systems", headers=api.auth(Role.OPERATOR)).status_code == 200  # still remembered
    clock.advance(dt.timedelta(microseconds=1))
    assert_problem(api.client.get("/v1/systems", headers=api.auth(Role.OPERATOR)), 401)
    logged = events(api, action="token.revoke")
    assert [json.loads(str(e["after"])) for e in logged] == [{"revoked": revoked.isoformat()}] * 2
    for event in events(api):
        assert all(t not in json.dumps(event) for t in api.tokens.values())


def test_usage_latest_and_window(api: Api) -> None:
    """A namespace's latest use against its approval; the window summary needs rollups (none here); units ask only
    about their own systems."""
    when = api.runtime.clock.now() - dt.timedelta(minutes=5)
    samples = [
        UsageSample(cloud="k8s-local", scope_kind="namespace", scope_id="sbk", metric=m, value=Decimal(v), time=when,
                    source="kubelet-summary")
        for m, v in (("cpu_cores", "2"), ("memory_bytes", str(4 * 2**30)))
    ]  # fmt: skip
    with api.runtime.engine.begin() as conn:
        write_samples(conn, samples)
    shown = api.client.get("/v1/usage/RS-003/latest", headers=api.auth(Role.OPERATOR)).json()
    assert shown["cloud"] == "k8s-local"
    rows = {r["metric"]: r for r in shown["rows"]}
    assert (rows["cpu_cores"]["used"], rows["cpu_cores"]["approved"], rows["cpu_cores"]["percent"]) == (
        "2",
        "8",
        "25.0",
    )
    window = api.client.get("/v1/usage/sbk/summary", params={"from": "2026-11-01"}, headers=api.auth()).json()
    assert (window["first"], window["last"], window["rows"]) == ("2026-11-01", "2026-11-20", [])
    assert_problem(api.client.get("/v1/usage/RS-003/latest", headers=api.auth(Role.UNIT)), 404)
    assert_problem(api.client.get("/v1/usage/nothing-here/latest", headers=api.auth()), 404)


def test_report_download_is_logged_with_its_hash(api: Api) -> None:
    """The month's report comes as a file whose SHA-256 is the one the operation log records."""
    got = api.client.get(
        "/v1/reports/monthly/2026-10",
        params={"format": "csv", "lang": "en"},
        headers={**api.auth(Role.AUDITOR), "X-Request-Id": "report-1"},
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert 'filename="yunguan-report-2026-10.csv"' in got.headers["content-disposition"]
    digest = hashlib.sha256(got.content).hexdigest()
    assert got.headers["x-content-sha256"] == digest
    (logged,) = events(api, action="report.generate")
    assert logged["request_id"] == "report-1"
    assert json.loads(str(logged["after"]))["sha256"] == digest
    assert_problem(api.client.get("/v1/reports/monthly/2026-11", headers=api.auth()), 422)  # not over yet


def test_probes_need_no_token(api: Api) -> None:
    """/livez and /readyz answer without a token; the spec is served."""
    assert api.client.get("/livez").json() == {"ready": True, "detail": "alive"}
    assert api.client.get("/readyz").json() == {"ready": True, "detail": "database answers"}
    spec = api.client.get("/v1/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
