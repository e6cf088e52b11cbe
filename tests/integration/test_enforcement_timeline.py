"""The issue's scripted timeline on the real local OpenStack, with the clock injected: a server idle for a month gets
a finding, a reminder, an urging, and after the deadline (counted the Civil Code way and in working days) a plan to
a smaller flavor that an operator approves, a maintenance notice 2 working days ahead, and a resize that Nova
really performs; the finding ends enforced and the whole story is in the operation log."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from usage_data import sample, write

from adapters.openstack.actions import OpenStackActions
from adapters.openstack.actuator import OpenStackActuator
from adapters.openstack.inventory import connect
from controlplane.clock import FixedClock, SystemClock
from controlplane.config import Settings, load_settings
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.policy import enforce, transitions
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.enforcement_run import run_enforcement
from controlplane.policy.findings import findings
from controlplane.policy.gather import evaluate_month
from controlplane.policy.model import FindingState
from controlplane.policy.packs import configured_pack
from controlplane.policy.planning import plan_findings
from controlplane.runtime import Runtime, open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import audit_events
from controlplane.usage import UsageSample, remember_groups
from controlplane.usage_rollup import roll_up

REPO = Path(__file__).resolve().parents[2]
CLOUD = "yunguan-local"
PACK = Path(__file__).parent / "data" / "enforce-pack.yaml"
CST = dt.timezone(dt.timedelta(hours=8))


def at(day: str, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock in Beijing on ``day``."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=CST).astimezone(dt.UTC)


@pytest.fixture(scope="module")
def nova(openstack_clouds: Path, openstack_seed: Any) -> Iterator[Any]:
    openstack_seed(REPO / "deploy" / "dev" / "openstack" / "scenario-enforce.yaml")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(openstack_clouds)
    conn = connect(CLOUD)
    yield conn
    conn.close()


@pytest.fixture
def rt(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    settings: Settings = load_settings(
        None,
        state_dir=tmp_path / "state",
        database={"url": db_url},
        clouds=[{"name": CLOUD, "kind": "openstack", "vendor": "本地测试云", "zone": "extranet", "connection": CLOUD}],
        policy={"pack": str(PACK)},
    )
    engine = make_engine(settings.database_url())
    migrate.upgrade(engine)
    engine.dispose()
    runtime = open_runtime(settings, clock=FixedClock(at("2026-11-02")))
    yield runtime
    runtime.close()


def import_ledger(rt: Runtime, tmp_path: Path) -> None:
    row = {
        "unit": "市大数据中心", "system": "闲置系统", "system code": "IDLE-EN", "MLPS level": 2, "zone": "extranet",
        "mode": "shared", "cloud": CLOUD, "vCPU": 4, "memory GiB": 8, "storage GiB": 20, "instances": 1,
        "approval number": "测〔2026〕9号", "approval date": "2026-01-10", "kind": "standard",
        "stable since": "2026-01-15", "OpenStack projects": "it-enforce",
    }  # fmt: skip
    path = tmp_path / "ledger.yaml"
    path.write_text(yaml.safe_dump({"rows": [row]}, allow_unicode=True), encoding="utf-8")
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        apply_batch(
            conn, parse_ledger(read_ledger_file(path), load_clouds(conn)), rt.audit, "operator:test", rt.clock.now()
        )


def idle_october(server: str, project: str) -> list[UsageSample]:
    """October 2026 (UTC+8), hourly: CPU 3% (12% at noon), memory 5% (10% at noon), on 4 vCPU and 8 GiB."""
    found: list[UsageSample] = []
    start = at("2026-10-01", 0)
    for h in range(31 * 24):
        when = start + dt.timedelta(hours=h, minutes=30)
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        noon = when.astimezone(CST).hour == 12
        values = {"cpu_percent": 12 if noon else 3, "memory_percent": 10 if noon else 5, "vcpus": 4,
                  "memory_total_bytes": 8 * 1024**3}  # fmt: skip
        found += [sample(server, metric, text, value, project=project, cloud=CLOUD) for metric, value in values.items()]
    return found


def test_idle_server_reminded_urged_then_resized_by_nova(rt: Runtime, nova: Any, tmp_path: Path) -> None:
    """The whole path, each step on its day, ending with Nova running the server at the smaller flavor."""
    server = next(nova.compute.servers(all_projects=True, name="^en-idle$"))
    OpenStackActions(nova, SystemClock(), time.sleep, timeout_s=180, poll_s=1).resize(server.id, "en.large")
    project = nova.identity.find_project("it-enforce", ignore_missing=False)
    clock = rt.clock
    assert isinstance(clock, FixedClock)
    import_ledger(rt, tmp_path)
    write(rt.engine, *idle_october(server.id, project.id))
    with rt.engine.begin() as conn:  # as a hypervisor sweep does: Nova's metadata names the project
        remember_groups(conn, CLOUD, [(project.id, "it-enforce")], clock.now())
    pack = configured_pack(rt.settings.policy)
    calendar = load_calendar(None)

    def escalation_of(_rule: str) -> Any:
        return pack.escalation

    def tick(day: str) -> FindingState:
        clock.set(at(day))
        with rt.engine.begin() as conn:
            transitions.tick(conn, rt.audit, clock.now(), calendar, escalation_of, "agent")
            (found,) = findings(conn)
        return found.state

    with rt.engine.begin() as conn:  # Monday 2 November: October is over in Beijing
        roll_up(conn, clock.now())
        evaluations = evaluate_month(conn, pack, "2026-10", clock)
        transitions.record_evaluations(
            conn, rt.audit, evaluations, escalation_of, clock.now(), "agent", calendar=calendar
        )
        found_all = findings(conn)
    assert len(found_all) == 1, [(e.verdict, e.scope_id, e.reason) for e in evaluations]
    (finding,) = found_all
    assert (finding.scope_id, finding.rule_id) == (server.id, "testcity-low-cpu")
    assert tick("2026-11-02") is FindingState.REMINDED
    assert tick("2026-12-02") is FindingState.REMINDED  # one month after the reminder: not yet "more than"
    assert tick("2026-12-03") is FindingState.URGED  # from the day after (Civil Code 201-202)
    assert tick("2026-12-10") is FindingState.URGED  # 5 working days after Thursday 3 Dec end on Thursday 10 Dec
    assert tick("2026-12-11") is FindingState.ENFORCEABLE

    actuators = {CLOUD: OpenStackActuator(CLOUD, SystemClock())}
    with rt.engine.begin() as conn:
        planned = plan_findings(conn, rt.audit, pack, actuators, clock, actor="agent")
        (key,) = planned.planned
        (action,) = enforce.actions(conn)
    assert '"after": "en.small"' in action["detail"] and action["state"] == "planned"
    assert run_enforcement(rt, pack, actuators, actor="agent").done == []  # not approved: nothing happens
    with rt.engine.begin() as conn:
        assert enforce.approve(conn, rt.audit, key, clock.now(), "operator:lead")
    first = run_enforcement(rt, pack, actuators, actor="agent")  # Friday 11 Dec: the notice goes out
    assert first.notices == [key] and not first.done
    clock.set(at("2026-12-14"))  # Monday: one working day after the notice
    assert not run_enforcement(rt, pack, actuators, actor="agent").done
    clock.set(at("2026-12-15"))  # Tuesday: two working days after
    assert run_enforcement(rt, pack, actuators, actor="agent").done == [key]
    assert nova.compute.get_server(server.id).flavor.original_name == "en.small"
    with rt.engine.connect() as conn:
        (found,) = findings(conn)
        story = [r.action for r in conn.execute(select(audit_events.c.action).order_by(audit_events.c.seq))]
    assert found.state is FindingState.ENFORCED and found.action_ref == key
    wanted = ["enforcement.plan", "enforcement.approve", "enforcement.maintenance-notice", "enforcement.intent",
              "enforcement.result"]  # fmt: skip
    assert [a for a in story if a.startswith("enforcement.")] == wanted
    enforced = [a for a in story if a == "finding.mark-enforced"]
    assert len(enforced) == 1 and story.index("enforcement.result") < story.index(enforced[0]), story
