"""One enforcement run as the CLI, the API and the agent start it: the configured pack's guards (enforce flags,
blast radius), the findings' states, the clouds' sizes, maintenance notices through the outbox and findings marked
enforced, wired around ``enforce.run``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, distinct, func, select

from controlplane.audit.chain import format_time
from controlplane.clock import CST
from controlplane.policy import enforce, transitions
from controlplane.policy.actuation import ActionSpec, Actuator
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.findings import get_finding
from controlplane.policy.notices.outbox import announce_maintenance
from controlplane.policy.packs import Pack
from controlplane.runtime import Runtime
from controlplane.store.tables import usage_samples

RESOURCE_DAYS = 7  # a cloud's size for the blast radius: the servers/namespaces measured in the last week


def cloud_sizes(conn: Connection, since: dt.datetime) -> dict[str, int]:
    """How many servers/namespaces each cloud has, as measured lately. A cloud nobody measured counts 0, so the
    percent guard refuses: an unknown size is never taken for a big one."""
    rows = conn.execute(
        select(usage_samples.c.cloud, func.count(distinct(usage_samples.c.scope_id)))
        .where(usage_samples.c.time >= format_time(since), usage_samples.c.scope_kind.in_(["server", "namespace"]))
        .group_by(usage_samples.c.cloud)
    )
    return {cloud: int(n) for cloud, n in rows}


def run_enforcement(
    rt: Runtime, pack: Pack, actuators: Mapping[str, Actuator], *, actor: str, dry_run: bool = False
) -> enforce.RunReport:
    calendar = load_calendar(rt.settings.policy.calendar_file)
    with rt.engine.connect() as conn:
        sizes = cloud_sizes(conn, rt.clock.now() - dt.timedelta(days=RESOURCE_DAYS))

    def enforces(rule_id: str) -> bool:
        try:
            rule = pack.rule(rule_id)
        except KeyError:
            return False
        return bool(getattr(rule, "enforce", pack.enforce))

    def finding_state(conn: Connection, finding_id: int) -> str | None:
        found = get_finding(conn, finding_id)
        return None if found is None else found.state.value

    def done(conn: Connection, finding_id: int, key: str) -> None:
        transitions.mark_enforced(conn, rt.audit, finding_id, action_ref=key, actor=actor, now=rt.clock.now())

    def notice(conn: Connection, row: Any, spec: ActionSpec) -> None:
        today = rt.clock.now().astimezone(CST).date()
        announce_maintenance(
            conn,
            rt.audit,
            row.finding_id,
            ref=row.key,
            action={"kind": spec.kind.value, "target": spec.target},
            action_day=calendar.add_working_days(today, enforce.MAINTENANCE_WORKING_DAYS),
            now=rt.clock.now(),
            calendar=calendar,
            actor=actor,
        )

    guards = enforce.Guards(
        enforces=enforces,
        finding_state=finding_state,
        max_actions=pack.blast_radius.max_actions_per_run,
        max_percent=pack.blast_radius.max_percent_of_cloud,
        resources=sizes,
        on_done=done,
    )
    return enforce.run(
        rt.engine,
        rt.audit,
        actuators,
        guards=guards,
        clock=rt.clock,
        calendar=calendar,
        actor=actor,
        dry_run=dry_run,
        send_notice=notice,
    )
