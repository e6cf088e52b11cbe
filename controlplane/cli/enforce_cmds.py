"""``yunguan enforce plan|list|approve|run`` and ``yunguan findings approve``: enforcement for operators.

``plan`` sizes every urged or enforceable downsize/freeze finding of the configured pack into an action (shown with
before/after and the monthly saving); an operator ``approve``s it (unless the pack is ``auto``); ``run`` carries out
what every guard allows (``--dry-run`` shows what it would do and why not, and touches nothing).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from controlplane.cli.context import EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.policy import enforce
from controlplane.policy.actuation import ActionSpec, Actuator, open_actuator
from controlplane.policy.enforcement_run import run_enforcement
from controlplane.policy.packs import Pack, configured_pack
from controlplane.policy.planning import plan_findings

app = typer.Typer(help="Enforcement (执行): plan, approve, run.", no_args_is_help=True)


def _pack(st: CliState) -> Pack:
    try:
        return configured_pack(st.runtime().settings.policy)
    except KeyError:
        print_msg(st, "enforce_no_pack")
        raise typer.Exit(EXIT_USAGE) from None


def _actuators(st: CliState) -> dict[str, Actuator]:
    rt = st.runtime()
    return {c.name: open_actuator(c, rt.clock) for c in rt.settings.clouds if c.kind.value != "hosting"}


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
    remote = st.remote()
    if remote is not None:
        approved = list(remote.post(f"/v1/findings/{finding_id}/approve")["approved"])
    else:
        rt = st.runtime()
        with rt.engine.begin() as conn:
            planned = enforce.actions(conn, enforce.ActionState.PLANNED)
            keys = [r["key"] for r in planned if r["finding_id"] == finding_id]
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
    report = run_enforcement(rt, pack, _actuators(st), actor=st.actor, dry_run=dry_run)
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
