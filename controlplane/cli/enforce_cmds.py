"""``yunguan enforce plan|list|approve|run`` and ``yunguan findings approve``: enforcement for operators.

``plan`` sizes every urged or enforceable downsize/freeze finding of the configured pack into an action (shown with
before/after and the monthly saving); an operator ``approve``s it (unless the pack is ``auto``); ``run`` carries out
what every guard allows (``--dry-run`` shows what it would do and why not, and touches nothing).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from sqlalchemy import Connection, distinct, func, select

from controlplane.cli.context import EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.clock import CST
from controlplane.policy import enforce, transitions
from controlplane.policy.actuation import ActionSpec, Actuator, open_actuator
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.findings import get_finding
from controlplane.policy.notices.outbox import announce_maintenance
from controlplane.policy.packs import Pack, configured_pack
from controlplane.policy.planning import plan_findings
from controlplane.store.tables import usage_samples

app = typer.Typer(help="Enforcement (执行): plan, approve, run.", no_args_is_help=True)
RESOURCE_DAYS = 7  # a cloud's size for the blast radius: the servers/namespaces measured in the last week


def _pack(st: CliState) -> Pack:
    try:
        return configured_pack(st.runtime().settings.policy)
    except KeyError:
        print_msg(st, "enforce_no_pack")
        raise typer.Exit(EXIT_USAGE) from None


def _actuators(st: CliState) -> dict[str, Actuator]:
    rt = st.runtime()
    return {c.name: open_actuator(c, rt.clock) for c in rt.settings.clouds if c.kind.value != "hosting"}


def cloud_sizes(conn: Connection, since: str) -> dict[str, int]:
    """How many servers/namespaces each cloud has, as measured lately (a cloud nobody measured counts 0, so the
    percent guard refuses: an unknown size is never taken for a big one)."""
    rows = conn.execute(
        select(usage_samples.c.cloud, func.count(distinct(usage_samples.c.scope_id)))
        .where(usage_samples.c.time >= since, usage_samples.c.scope_kind.in_(["server", "namespace"]))
        .group_by(usage_samples.c.cloud)
    )
    return {cloud: int(n) for cloud, n in rows}


@app.command("plan")
@guarded
def plan(ctx: typer.Context) -> None:
    """Plan an action for every urged or enforceable downsize/freeze finding of the configured pack."""
    st = state(ctx)
    rt = st.runtime()
    pack = _pack(st)
    with rt.engine.begin() as conn:
        report = plan_findings(conn, rt.audit, pack, _actuators(st), rt.clock, actor=st.actor)
    for key in report.planned:
        print_msg(st, "enforce_planned", action=key)
    for key, why in report.skipped:
        print_msg(st, "enforce_not_planned", action=key, why=why)


@app.command("list")
@guarded
def list_actions(
    ctx: typer.Context,
    action_state: Annotated[
        str | None, typer.Option("--state", help="planned, approved, applying, done, failed")
    ] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """Planned and carried-out actions with their plan (before/after, saving) and state."""
    st = state(ctx)
    with st.runtime().engine.connect() as conn:
        rows = enforce.actions(conn, action_state)
    shown: list[dict[str, Any]] = []
    for r in rows:
        spec = ActionSpec.model_validate(json.loads(r["spec"]))
        detail = json.loads(r["detail"])
        shown.append(
            {
                "key": r["key"],
                "state": r["state"],
                "finding": r["finding_id"],
                "action": spec.kind.value,
                "cloud": spec.cloud,
                "target": spec.target,
                "before": json.dumps(detail.get("before"), ensure_ascii=False),
                "after": json.dumps(detail.get("after"), ensure_ascii=False),
                "saving_fen_month": detail.get("saving_fen_month") or "",
                "approved_by": r["approved_by"] or "",
                "error": r["error"] or "",
            }
        )
    columns = [(k, k) for k in ("key", "state", "finding", "action", "cloud", "target", "before", "after")]
    columns += [(k, k) for k in ("saving_fen_month", "approved_by", "error")]
    emit(st.out, output, shown, columns, st.t("enforce_title"))


@app.command("approve")
@guarded
def approve(
    ctx: typer.Context, finding_id: Annotated[int, typer.Argument(help="the finding whose plan to approve")]
) -> None:
    """Approve the planned action(s) of a finding (the two-step rule: plan, then an operator's approval)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        keys = [r["key"] for r in enforce.actions(conn, enforce.ActionState.PLANNED) if r["finding_id"] == finding_id]
        approved = [k for k in keys if enforce.approve(conn, rt.audit, k, rt.clock.now(), st.actor)]
    if not approved:
        print_msg(st, "enforce_nothing_to_approve", id=finding_id)
        raise typer.Exit(EXIT_USAGE)
    for key in approved:
        print_msg(st, "enforce_approved", action=key)


@app.command("run")
@guarded
def run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would be done and why not; touch nothing")
    ] = False,
) -> None:
    """Carry out approved actions that every guard allows; resume actions a crash interrupted."""
    st = state(ctx)
    rt = st.runtime()
    pack = _pack(st)
    calendar = load_calendar(rt.settings.policy.calendar_file)
    since = (rt.clock.now() - dt.timedelta(days=RESOURCE_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    with rt.engine.connect() as conn:
        sizes = cloud_sizes(conn, since)

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
        transitions.mark_enforced(conn, rt.audit, finding_id, action_ref=key, actor=st.actor, now=rt.clock.now())

    def notice(conn: Connection, row: Any, spec: ActionSpec) -> None:
        day = calendar.add_working_days(rt.clock.now().astimezone(CST).date(), enforce.MAINTENANCE_WORKING_DAYS)
        announce_maintenance(
            conn, rt.audit, row.finding_id, ref=row.key, action={"kind": spec.kind.value, "target": spec.target},
            action_day=day, now=rt.clock.now(), calendar=calendar, actor=st.actor,
        )  # fmt: skip

    guards = enforce.Guards(
        enforces=enforces,
        finding_state=finding_state,
        max_actions=pack.blast_radius.max_actions_per_run,
        max_percent=pack.blast_radius.max_percent_of_cloud,
        resources=sizes,
        on_done=done,
    )
    report = enforce.run(
        rt.engine, rt.audit, _actuators(st), guards=guards, clock=rt.clock, calendar=calendar, actor=st.actor,
        dry_run=dry_run, send_notice=notice,
    )  # fmt: skip
    for key in report.done:
        print_msg(st, "enforce_done", action=key)
    for key in report.resumed:
        print_msg(st, "enforce_resumed", action=key)
    for key in report.notices:
        print_msg(st, "enforce_notice", action=key)
    for key, why in report.waiting:
        print_msg(st, "enforce_waiting", action=key, why=why)
    for key, why in report.failed:
        print_msg(st, "enforce_failed", action=key, why=why)
    if report.failed:
        raise typer.Exit(1)


def register(root: typer.Typer, findings_app: typer.Typer) -> None:
    """Add ``enforce`` to the root and ``approve`` to ``findings`` (``yunguan findings approve ID``)."""
    root.add_typer(app, name="enforce")
    findings_app.command("approve", help="Approve the planned enforcement action(s) of a finding.")(approve)
