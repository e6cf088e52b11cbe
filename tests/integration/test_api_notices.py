"""GET /v1/notices on SQLite and PostgreSQL: the outbox's notices with their deliveries, filtered by finding, status,
kind, system and unit, in pages; admins, operators and auditors read all, a unit token its own department's only,
a vendor token none (403)."""

from __future__ import annotations

from typing import Any

from api_fixtures import Api, api_fixture, open_finding  # noqa: F401 - the fixture `api`

from controlplane.api.tokens import Role
from controlplane.policy.findings import get_finding
from controlplane.policy.notices.outbox import NoticeKind, queue_notice


def queued(api: Api, finding_id: int, kind: NoticeKind) -> int:
    rt = api.runtime
    with rt.engine.begin() as conn:
        finding = get_finding(conn, finding_id)
        assert finding is not None
        return queue_notice(conn, rt.audit, finding, kind, now=rt.clock.now(), deadline=None, actor="agent:test")


def listed(api: Api, role: Role = Role.ADMIN, **params: Any) -> list[dict[str, Any]]:
    answer = api.client.get("/v1/notices", params=params, headers=api.auth(role))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_notices_filtered_paged_and_scoped(api: Api) -> None:
    """Filters narrow the list; limit=1 pages through every notice once; a unit sees its systems' notices only."""
    ga = open_finding(api.runtime, "GA-007")
    zw = open_finding(api.runtime, "ZW-001")
    ids = [queued(api, ga, NoticeKind.REMINDED), queued(api, ga, NoticeKind.URGED), queued(api, zw, NoticeKind.URGED)]
    every = listed(api)
    assert [n["id"] for n in every] == ids
    assert every[0]["snapshot"]["system"] == "GA-007" and every[0]["status"] == "pending"
    assert every[0]["deliveries"] == []
    assert [n["id"] for n in listed(api, finding=ga)] == ids[:2]
    assert [n["id"] for n in listed(api, kind="urged")] == ids[1:]
    assert [n["id"] for n in listed(api, system="ZW-001")] == ids[2:]
    assert [n["id"] for n in listed(api, unit="市公安局")] == ids[:2]
    assert listed(api, status=["delivered", "failed"]) == []
    assert len(listed(api, status=["pending"])) == 3
    pages, url = [], "/v1/notices?limit=1"
    while url:
        page = api.client.get(url, headers=api.auth(Role.OPERATOR)).json()
        pages += [n["id"] for n in page["items"]]
        url = page["next"]
    assert pages == ids
    assert [n["id"] for n in listed(api, Role.AUDITOR)] == ids
    assert [n["id"] for n in listed(api, Role.UNIT)] == ids[:2]  # 市公安局 runs GA-007, not ZW-001
    assert listed(api, Role.UNIT, system="ZW-001") == []
    assert api.client.get("/v1/notices", headers=api.auth(Role.VENDOR)).status_code == 403
    assert api.client.get("/v1/notices").status_code == 401
    bad = api.client.get("/v1/notices", params={"kind": "shouted"}, headers=api.auth())
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
