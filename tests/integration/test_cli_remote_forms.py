"""The remote forms of `usage show`, `ledger show`, `findings exempt|dispute|reject-dispute|resolve`, `notices list`,
`terminate list|show` and `equipment show|register|retire`, on SQLite and PostgreSQL, against uvicorn serving the API
on loopback (the `served` fixture of remote_fixtures): each prints what the local command prints, with the same exit
code; the changes are the token's, in the operation log."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from api_fixtures import open_finding
from hosting_data import VENDOR_A
from remote_fixtures import EXAMPLES, Served, served_fixture  # noqa: F401 - the fixture `served`

from controlplane.api.tokens import Role, create_token
from controlplane.audit.log import iter_events
from controlplane.policy.findings import get_finding
from controlplane.policy.notices.outbox import NoticeKind, queue_notice
from controlplane.usage import Quality, UsageSample, write_samples
from controlplane.usage_rollup import roll_up


def same(served: Served, *args: str, code: int = 0, role: Role = Role.OPERATOR) -> str:
    """Run ``args`` locally and over the API; both exit ``code`` and print the same; the remote stdout."""
    local = served.run(*args)
    remote = served.remote(*args, role=role)
    assert (local.exit_code, remote.exit_code) == (code, code), (args, local.stderr, remote.stderr)
    assert remote.stdout == local.stdout, args
    assert remote.stderr == local.stderr, args
    return remote.stdout


def test_usage_and_ledger_show_over_the_api(served: Served) -> None:
    """`usage show` (latest and over days from the rollups) and `ledger show` (a day, today, the history) read the
    same over the API; a target nobody measured is the same "no usage" with exit 2."""
    rt = served.runtime
    samples = [
        UsageSample(
            cloud="yunguan-local",
            scope_kind="server",
            scope_id="srv-remote",
            metric=metric,
            value=Decimal(value),
            time=dt.datetime(2026, 11, 19, hour, 5, tzinfo=dt.UTC),
            source="libvirt",
            quality=Quality.MEASURED,
            group_id="p-spwl",
            host="hv-1",
        )
        for hour in (1, 2, 3)
        for metric, value in (("cpu_percent", "12.5"), ("vcpus", "4"), ("memory_bytes", str(6 * 1024**3)))
    ]
    with rt.engine.begin() as conn:
        write_samples(conn, samples)
        roll_up(conn, rt.clock.now())
    latest = json.loads(same(served, "usage", "show", "srv-remote", "-o", "json"))
    assert {r["metric"] for r in latest} == {"cpu_percent", "vcpus", "memory_bytes"}
    same(served, "--lang", "en", "usage", "show", "srv-remote")
    days = ("--from", "2026-11-19", "--to", "2026-11-20")
    window = json.loads(same(served, "usage", "show", "srv-remote", *days, "-o", "json"))
    assert {r["metric"]: r["mean"] for r in window}["cpu_percent"] == 12.5
    same(served, "--lang", "en", "usage", "show", "srv-remote", "--cloud", "yunguan-local", *days)
    same(served, "--lang", "en", "usage", "show", "nowhere-9", code=2)
    for args in (["--at", "2026-11-20", "-o", "json"], ["-s", "GA-007"], ["--history", "-o", "csv"], ["-o", "yaml"]):
        shown = same(served, "--lang", "en", "ledger", "show", *args)
        assert "GA-007" in shown
    same(served, "ledger", "show", "--at", "2020-01-01")  # nothing approved then: the same note


def test_exempt_dispute_and_notices_over_the_api(served: Served) -> None:
    """`findings exempt` and `dispute` move the finding on the server and say so as locally; a transition its state
    forbids is the same refusal (exit 1); `notices list` and `findings show` carry the same notices; a unit token
    sees only its own department's notices."""
    rt = served.runtime
    ids = [open_finding(rt, "GA-007", scope=f"srv-{n}") for n in (1, 2)]
    other = open_finding(rt, "ZW-001")
    with rt.engine.begin() as conn:
        for finding_id in (*ids, other):
            finding = get_finding(conn, finding_id)
            assert finding is not None
            queue_notice(conn, rt.audit, finding, NoticeKind.REMINDED, now=rt.clock.now(), deadline=None, actor="t")
    local = served.run(
        "--lang", "en", "findings", "exempt", str(ids[0]), "--reason", "standby", "--until", "2026-12-31"
    )
    remote = served.remote(
        "--lang", "en", "findings", "exempt", str(ids[1]), "--reason", "standby", "--until", "2026-12-31"
    )
    assert (local.exit_code, remote.exit_code) == (0, 0), remote.stderr
    assert remote.stderr == local.stderr.replace(f"finding {ids[0]}", f"finding {ids[1]}") != local.stderr
    with rt.engine.connect() as conn:
        exempted = [e for e in iter_events(conn) if e.action == "finding.exempt"]
    assert exempted[-1].actor.startswith("operator:cli-operator#") and exempted[-1].target.endswith("srv-2")
    for finding_id in ids:  # exempted: no dispute
        refused = served.remote("--lang", "en", "findings", "dispute", str(finding_id), "--reason", "x")
        assert refused.exit_code == 1, refused.stderr
        assert (
            refused.stderr == served.run("--lang", "en", "findings", "dispute", str(finding_id), "--reason", "x").stderr
        )
    disputed = served.remote("findings", "dispute", str(other), "--reason", "我们在用", role=Role.OPERATOR)
    assert disputed.exit_code == 0, disputed.stderr
    assert get_state(served, other) == "disputed"
    assert served.remote("findings", "exempt", "999999", "--reason", "x", "--until", "2026-12-31").exit_code == 2
    notices = json.loads(same(served, "notices", "list", "-o", "json"))
    assert sorted(n["finding"] for n in notices) == sorted([*ids, other])
    same(served, "--lang", "en", "notices", "list", "--finding", str(other))
    same(served, "notices", "list", "--status", "delivered")  # none: the same note
    shown = json.loads(same(served, "findings", "show", str(other), "-o", "json"))
    assert [n["finding"] for n in shown[0]["notices"]] == [other]
    mine = json.loads(served.remote("notices", "list", "-o", "json", role=Role.UNIT).stdout)
    assert sorted(n["finding"] for n in mine) == sorted(ids)  # 市公安局's GA-007, not ZW-001


def get_state(served: Served, finding_id: int) -> str:
    with served.runtime.engine.connect() as conn:
        finding = get_finding(conn, finding_id)
    assert finding is not None
    return finding.state.value


def vendor_token(served: Served) -> str:
    rt = served.runtime
    with rt.engine.begin() as conn:
        _, text = create_token(
            conn, rt.audit, role=Role.VENDOR, name="vendor-a", days=30, now=rt.clock.now(), actor="t", vendor=VENDOR_A
        )
    path = served.tmp / "vendor-a.token"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_equipment_register_show_and_retire_over_the_api(served: Served) -> None:
    """A vendor token registers a file (a dry run first), shows and retires; a file with a bad cell and a row the
    store refuses is rejected whole with every problem, exit 3, as locally; an operator token may not register."""
    demo = str(EXAMPLES / "equipment-demo.yaml")
    as_vendor = ("--server", served.url, "--token-file", vendor_token(served), "--lang", "en")
    dry = served.run(*as_vendor, "equipment", "register", demo, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert (
        dry.stderr
        == served.run("--lang", "en", "equipment", "register", demo, "--vendor", VENDOR_A, "--dry-run").stderr
    )
    bad = served.tmp / "bad.yaml"
    rows = (EXAMPLES / "equipment-demo.yaml").read_text(encoding="utf-8")
    bad.write_text(
        rows.replace("起始U位: 1", "起始U位: one").replace("system: 社保核心数据库", "system: NOPE-1"), "utf-8"
    )
    local_bad = served.run("--lang", "en", "equipment", "register", str(bad), "--vendor", VENDOR_A)
    remote_bad = served.run(*as_vendor, "equipment", "register", str(bad))
    assert (local_bad.exit_code, remote_bad.exit_code) == (3, 3), remote_bad.stderr
    assert remote_bad.stderr == local_bad.stderr and "row 1" in local_bad.stderr and "NOPE-1" in local_bad.stderr
    with served.runtime.engine.connect() as conn:
        assert not [e for e in iter_events(conn) if e.action == "equipment.register"]
    denied = served.remote("equipment", "register", demo)
    assert denied.exit_code == 2 and "not allowed" in denied.stderr
    done = served.run(*as_vendor, "equipment", "register", demo)
    assert done.exit_code == 0, done.stderr
    listed = json.loads(served.run("equipment", "list", "-o", "json").stdout)
    assert sorted(e["serial"] for e in listed) == ["SN-HOST-0001", "SN-HOST-0002"]
    ids = [e["id"] for e in listed]
    for equipment_id in ids:
        same(served, "equipment", "show", str(equipment_id), "-o", "json")
        same(served, "--lang", "en", "equipment", "show", str(equipment_id))
    same(served, "--lang", "en", "equipment", "show", "999999", code=2)
    retired = served.run(*as_vendor, "equipment", "retire", str(ids[0]), "--reason", "removed", "--on", "2026-11-19")
    assert retired.exit_code == 0, retired.stderr
    assert "SN-HOST-0001" in retired.stderr and "2026-11-19" in retired.stderr
    again = served.run(*as_vendor, "equipment", "retire", str(ids[0]), "--on", "2026-11-19")
    assert again.exit_code == 2
    assert again.stderr == served.run("--lang", "en", "equipment", "retire", str(ids[0]), "--on", "2026-11-19").stderr
    with served.runtime.engine.connect() as conn:
        actors = {e.actor.split("#")[0] for e in iter_events(conn) if e.action.startswith("equipment.")}
    assert actors == {"vendor:vendor-a"}
    assert served.remote("equipment", "retire", str(ids[1])).exit_code == 2  # an operator token writes nothing


def test_reject_dispute_and_resolve_over_the_api(served: Served) -> None:
    """`findings reject-dispute` and `resolve` move the finding on the server, in the operation log with the token's
    actor; a transition the state forbids is the same refusal as locally (exit 1); a unit token may not decide."""
    rt = served.runtime
    first, second = (open_finding(rt, "GA-007", rule="suining-14-low-cpu", scope=f"srv-{n}") for n in (1, 2))
    for finding_id in (first, second):
        assert served.remote("findings", "dispute", str(finding_id), "--reason", "在用").exit_code == 0
    assert get_state(served, first) == "disputed"
    denied = served.remote("findings", "resolve", str(first), "--reason", "x", role=Role.UNIT)
    assert denied.exit_code != 0 and get_state(served, first) == "disputed"
    rejected = served.remote("--lang", "en", "findings", "reject-dispute", str(first), "--reason", "still idle")
    assert rejected.exit_code == 0, rejected.stderr
    assert get_state(served, first) == "open"
    resolved = served.remote("--lang", "en", "findings", "resolve", str(second), "--reason", "dispute upheld")
    assert resolved.exit_code == 0, resolved.stderr
    assert get_state(served, second) == "resolved"
    with rt.engine.connect() as conn:
        decided = {e.action: e for e in iter_events(conn) if e.action in ("finding.reject-dispute", "finding.resolve")}
    assert len(decided) == 2 and {e.actor.split("#")[0] for e in decided.values()} == {"operator:cli-operator"}
    again = served.remote("--lang", "en", "findings", "resolve", str(second), "--reason", "x")
    assert again.exit_code == 1
    assert again.stderr == served.run("--lang", "en", "findings", "resolve", str(second), "--reason", "x").stderr


def test_terminate_list_and_show_over_the_api(served: Served) -> None:
    """`terminate list` and `terminate show` print the same over the API as locally (the table and JSON, a state
    filter); an unknown system exits 2 both ways; a unit token lists only its own department's cases."""
    requested = served.run("--lang", "en", "terminate", "request", "GA-007", "--reason", "moving off")
    assert requested.exit_code == 0, requested.stderr
    listed = json.loads(same(served, "terminate", "list", "-o", "json"))
    assert [(c["system"], c["state"]) for c in listed] == [("GA-007", "requested")]
    same(served, "--lang", "en", "terminate", "list")
    assert json.loads(same(served, "terminate", "list", "--state", "approved", "-o", "json")) == []
    shown = json.loads(same(served, "terminate", "show", "GA-007", "-o", "json"))
    assert shown[0]["system"] == "GA-007" and shown[0]["steps"] == []
    same(served, "--lang", "en", "terminate", "show", "GA-007")
    assert served.run("terminate", "show", "NOPE-1").exit_code == 2
    assert served.remote("terminate", "show", "NOPE-1").exit_code == 2
    mine = served.remote("terminate", "list", "-o", "json", role=Role.UNIT)
    assert [c["system"] for c in json.loads(mine.stdout)] == ["GA-007"]  # 市公安局's own
