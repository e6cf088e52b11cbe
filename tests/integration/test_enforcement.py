"""Enforcement against the real local OpenStack and kube-apiserver: every guard must agree before the cloud is
touched, the intent is logged before and the result after, a restarting action waits 2 working days after its
maintenance notice (Jiuquan 13), and a crash between intent and result is resumed without acting twice."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.kubernetes.actuator import KubernetesActuator
from adapters.openstack.actions import OpenStackActions
from adapters.openstack.actuator import OpenStackActuator
from adapters.openstack.inventory import connect
from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.calendar import WorkingCalendar
from controlplane.clock import SystemClock
from controlplane.config import CloudSettings
from controlplane.domain import Quantities
from controlplane.policy import enforce
from controlplane.policy.actuation import ActionKind, ActionSpec
from controlplane.runtime import Runtime
from controlplane.store.tables import audit_events

REPO = Path(__file__).resolve().parents[2]
CLOUD = "yunguan-local"
GIB = 1024**3
WED = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Beijing


class Crash(BaseException):
    """The process dies right after the cloud was changed, before the result is recorded."""


class CrashAfterApply:
    def __init__(self, real: OpenStackActuator) -> None:
        self.real = real

    def apply(self, action: ActionSpec) -> bool:
        self.real.apply(action)
        raise Crash

    def holds(self, action: ActionSpec) -> bool:
        return self.real.holds(action)

    def flavors(self) -> list[Any]:
        return self.real.flavors()


@pytest.fixture(scope="module")
def nova(openstack_clouds: Path, openstack_seed: Any) -> Iterator[Any]:
    openstack_seed(REPO / "deploy" / "dev" / "openstack" / "scenario-enforce.yaml")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(openstack_clouds)
    conn = connect(CLOUD)
    yield conn
    conn.close()


@pytest.fixture
def idle_server(nova: Any) -> str:
    """The test server, back at en.large whatever an earlier run left."""
    server = next(nova.compute.servers(all_projects=True, name="^en-idle$"))
    OpenStackActions(nova, SystemClock(), time.sleep, timeout_s=180, poll_s=1).resize(server.id, "en.large")
    return str(server.id)


def guards(state: str = "enforceable", **changes: Any) -> enforce.Guards:
    values: dict[str, Any] = {
        "enforces": lambda _rule: True,
        "finding_state": lambda _conn, _id: state,
        "resources": {CLOUD: 10, "k8s-local": 10},
        "max_percent": 100.0,
    }
    return enforce.Guards(**(values | changes))


def planned(runtime: Runtime, spec: ActionSpec, finding_id: int = 1, approve: bool = True) -> str:
    with runtime.engine.begin() as conn:
        key = enforce.plan(
            conn,
            runtime.audit,
            finding_id=finding_id,
            finding_key=f"suining/suining-14-low-cpu/SYS-{finding_id}",
            rule_id="suining-14-low-cpu",
            spec=spec,
            detail={"before": "en.large", "after": spec.flavor},
            now=runtime.clock.now(),
            actor="operator:test",
        )
        if approve:
            assert enforce.approve(conn, runtime.audit, key, runtime.clock.now(), "operator:lead")
    return key


def logged(runtime: Runtime, key: str) -> list[str]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.action).where(audit_events.c.target == key).order_by("seq"))
        return [r.action for r in rows]


def resizes(nova: Any, server_id: str, since: dt.datetime) -> int:
    found = [a for a in nova.compute.server_actions(server_id) if a.action == "resize"]
    return sum(1 for a in found if dt.datetime.fromisoformat(a.start_time).replace(tzinfo=dt.UTC) >= since)


def test_resize_waits_for_its_notice_then_survives_a_crash_without_resizing_twice(  # type: ignore[no-untyped-def]
    runtime: Runtime, clock, nova: Any, idle_server: str
) -> None:
    """Approved and enforceable, a resize first sends its maintenance notice and waits 2 working days; then the
    intent is logged, Nova resizes, and the process 'dies' before the result: the next run reads the server back at
    the smaller flavor and records the result without a second resize."""
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    clock.set(WED)
    spec = ActionSpec(kind=ActionKind.RESIZE_SERVER, cloud=CLOUD, target=idle_server, flavor="en.small")
    key = planned(runtime, spec)
    real = OpenStackActuator(CLOUD, SystemClock())
    calendar = WorkingCalendar()

    def run(actuator: Any) -> enforce.RunReport:
        return enforce.run(
            runtime.engine, runtime.audit, {CLOUD: actuator}, guards=guards(), clock=clock, calendar=calendar,
            actor="agent",
        )  # fmt: skip

    first = run(real)
    assert first.notices == [key] and "maintenance notice" in dict(first.waiting)[key]
    clock.set(WED + dt.timedelta(days=1))  # Thursday: one working day after the notice
    assert "not before 2026-11-20" in dict(run(real).waiting)[key]
    clock.set(WED + dt.timedelta(days=2))  # Friday: two working days after
    with pytest.raises(Crash):
        run(CrashAfterApply(real))
    with runtime.engine.connect() as conn:
        (row,) = enforce.actions(conn)
    assert row["state"] == "applying" and logged(runtime, key)[-1] == "enforcement.intent"
    resumed = run(real)
    assert resumed.resumed == [key] and not resumed.done
    assert nova.compute.get_server(idle_server).flavor.original_name == "en.small"
    assert resizes(nova, idle_server, started) == 1
    assert logged(runtime, key) == [
        "enforcement.plan",
        "enforcement.approve",
        "enforcement.maintenance-notice",
        "enforcement.intent",
        "enforcement.result",
    ]
    assert run(real).done == []  # done is done: nothing left to do
    with runtime.engine.connect() as conn:
        report = verify(iter_events(conn), read_checkpoints(conn), runtime.signer.public, read_head(conn))
    assert report.first_bad_seq is None


def quota_spec(project_id: str, cores: int) -> ActionSpec:
    q = Quantities(vcpu=Decimal(cores), memory_bytes=cores * 2 * GIB, storage_bytes=cores * 10 * GIB, instances=cores)
    return ActionSpec(kind=ActionKind.SET_PROJECT_QUOTA, cloud=CLOUD, target=project_id, quantities=q)


def test_every_guard_must_agree(runtime: Runtime, clock, nova: Any) -> None:  # type: ignore[no-untyped-def]
    """Dry run, a finding not yet enforceable, a pack that does not enforce, an unapproved plan and the blast radius
    each keep the cloud untouched; with all agreeing, the quota really changes in Nova."""
    clock.set(WED)
    project = nova.identity.find_project("it-enforce", ignore_missing=False)
    before = nova.compute.get_quota_set(project.id).cores
    target = 11 if before != 11 else 13
    key = planned(runtime, quota_spec(project.id, target))
    unapproved = planned(runtime, quota_spec(project.id, target + 1), finding_id=2, approve=False)
    actuators = {CLOUD: OpenStackActuator(CLOUD, SystemClock())}

    def run(g: enforce.Guards, dry_run: bool = False) -> enforce.RunReport:
        return enforce.run(
            runtime.engine, runtime.audit, actuators, guards=g, clock=clock, calendar=WorkingCalendar(),
            actor="agent", dry_run=dry_run,
        )  # fmt: skip

    refusals = [
        (run(guards(), dry_run=True), "dry run"),
        (run(guards(state="urged")), "finding is urged, not enforceable"),
        (run(guards(enforces=lambda _r: False)), "the pack does not enforce"),
        (run(guards(max_actions=0)), "blast radius: at most 0 actions"),
        (run(guards(resources={CLOUD: 20}, max_percent=4)), "blast radius: more than 4%"),
    ]
    for report, why in refusals:
        assert why in dict(report.waiting)[key] and not report.done
        assert unapproved not in dict(report.waiting)  # never approved: never considered
    assert nova.compute.get_quota_set(project.id).cores == before
    report = run(guards())
    assert report.done == [key]
    assert nova.compute.get_quota_set(project.id).cores == target
    assert logged(runtime, key)[-2:] == ["enforcement.intent", "enforcement.result"]


def test_a_namespace_quota_shrunk_on_the_real_apiserver(runtime: Runtime, clock, kubeconfig: Path) -> None:  # type: ignore[no-untyped-def]
    """The same executor shrinks a Kubernetes namespace's quota; a second run has nothing to do."""
    from kube import connect as kube_connect
    from kube import namespace

    namespace(kube_connect(kubeconfig), "en-shrink")
    cloud = CloudSettings(name="k8s-local", kind="kubernetes", vendor="v", zone="extranet", kubeconfig=kubeconfig,
                          connection="yunguan-local")  # fmt: skip
    clock.set(WED)
    target = Quantities(vcpu=Decimal(2), memory_bytes=4 * GIB, storage_bytes=10 * GIB)
    spec = ActionSpec(kind=ActionKind.SET_NAMESPACE_QUOTA, cloud="k8s-local", target="en-shrink", quantities=target)
    key = planned(runtime, spec)
    actuator = KubernetesActuator(cloud, SystemClock())
    report = enforce.run(
        runtime.engine, runtime.audit, {"k8s-local": actuator}, guards=guards(), clock=clock,
        calendar=WorkingCalendar(), actor="agent",
    )  # fmt: skip
    assert report.done == [key]
    assert actuator.holds(spec)
    again = enforce.run(
        runtime.engine, runtime.audit, {"k8s-local": actuator}, guards=guards(), clock=clock,
        calendar=WorkingCalendar(), actor="agent",
    )  # fmt: skip
    assert (again.done, again.waiting) == ([], [])
