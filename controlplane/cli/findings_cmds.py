"""``yunguan findings`` (list, show, exempt, dispute, reject-dispute, resolve, tick): the findings lifecycle, for
operators. ``list``, ``show``, ``exempt``, ``dispute``, ``reject-dispute`` and ``resolve`` also run over the agent's
API when a server is configured; ``tick`` runs the lifecycle the agent itself schedules daily and stays local."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy import Connection

from controlplane.cli import notices_cmds
from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.cli.remote import Remote, RemoteError
from controlplane.clock import CST
from controlplane.policy import transitions
from controlplane.policy.deadlines import load_calendar
from controlplane.policy.findings import Finding, FindingEvent, finding_history, findings, get_finding
from controlplane.policy.lifecycle import ALLOWED_FROM, Transition, TransitionError
from controlplane.policy.model import FindingState
from controlplane.policy.notices.outbox import deliver_pending, notices
from controlplane.policy.packs import escalations

app = typer.Typer(help="Findings (问题) and their lifecycle.", no_args_is_help=True)
T = TypeVar("T")

LIST_COLUMNS = ("id", "state", "system", "cloud", "scope", "rule", "citation", "outcome", "period", "evidence")


def register(root: typer.Typer) -> None:
    """Add ``findings`` and ``notices`` to the root command."""
    root.add_typer(app, name="findings")
    root.add_typer(notices_cmds.app, name="notices")


def _evidence(finding: Finding) -> str:
    ops = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
    return "; ".join(
        f"{e.metric} {e.aggregate} {'—' if e.value is None else f'{e.value:g}'} {ops[e.comparison]} {e.threshold:g}"
        for e in finding.evidence
    )


def _row(st: CliState, finding: Finding, fmt: Format) -> dict[str, Any]:
    return {
        "id": finding.id,
        "state": st.t(f"state.{finding.state}") if fmt is Format.TABLE else finding.state.value,
        "system": finding.system,
        "cloud": finding.cloud,
        "scope": finding.scope_id if finding.scope_kind == "system" else f"{finding.scope_kind}:{finding.scope_id}",
        "rule": finding.rule_id,
        "citation": finding.citation,
        "outcome": finding.outcome.value,
        "period": finding.period,
        "evidence": _evidence(finding),
        "deadline": finding.deadline,
        "opened": finding.opened.astimezone(CST).date() if fmt is Format.TABLE else finding.opened,
        "exempt_until": finding.exempt_until,
    }


@app.command("list")
@guarded
def list_findings(
    ctx: typer.Context,
    state_filter: Annotated[
        list[FindingState] | None, typer.Option("--state", help="only findings in this state (repeatable)")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="only this system (code)")] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """The findings, oldest first, with their state, evidence and the last day (UTC+8) of the period they are in
    before the next escalation step."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        params = {"state": [f.value for f in state_filter or []] or None, "system": system}
        found = [Finding.model_validate(item) for item in remote.items("/v1/findings", params)]
    else:
        with st.runtime().engine.connect() as conn:
            found = findings(conn, state=state_filter or None, system=system)
    if not found and output is Format.TABLE:
        print_msg(st, "findings_none")
        return
    columns = [(k, st.t(f"findings.{k}")) for k in (*LIST_COLUMNS, "deadline", "opened", "exempt_until")]
    emit(st.out, output, [_row(st, f, output) for f in found], columns, st.t("findings_title", n=len(found)))


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(metavar="ID", help="the finding's id")],
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")] = Format.TABLE,
) -> None:
    """One finding: its rule, evidence, state and deadline, exemption or dispute, every transition (who, when)
    and the notices sent."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        got = remote.get(f"/v1/findings/{finding_id}")
        finding = Finding.model_validate(got["finding"])
        history = [FindingEvent.model_validate(e) for e in got["history"]]
        sent = notices_cmds.remote_notices(remote, finding_id=finding_id)
    else:
        with st.runtime().engine.connect() as conn:
            found = get_finding(conn, finding_id)
            if found is None:
                print_msg(st, "finding_not_found", id=finding_id)
                raise typer.Exit(EXIT_USAGE)
            finding = found
            history = finding_history(conn, finding_id)
            sent = notices(conn, finding_id=finding_id)
    if output is not Format.TABLE:
        data = {
            "finding": finding.model_dump(mode="json"),
            "history": [e.model_dump(mode="json") for e in history],
            "notices": [notices_cmds.notice_row(st, n, output) for n in sent],
        }
        emit(st.out, output, [data], [])
        return
    fields = (
        ("key", finding.key),
        ("state", st.t(f"state.{finding.state}")),
        ("system", finding.system),
        ("cloud", finding.cloud),
        ("scope", f"{finding.scope_kind}:{finding.scope_id}"),
        ("rule", finding.rule_id),
        ("citation", finding.citation),
        ("outcome", finding.outcome.value),
        ("period", finding.period),
        ("evidence", _evidence(finding) or finding.reason),
        ("cycle", finding.cycle),
        ("opened", finding.opened.astimezone(CST).isoformat(timespec="minutes")),
        ("state_since", finding.state_since.astimezone(CST).isoformat(timespec="minutes")),
        ("deadline", finding.deadline),
        ("paused_state", st.t(f"state.{finding.paused_state}") if finding.paused_state else None),
        ("exempt_until", finding.exempt_until),
        ("exempt_reason", finding.exempt_reason),
        ("exempt_by", finding.exempt_by),
        ("dispute_reason", finding.dispute_reason),
        ("action_ref", finding.action_ref),
    )
    rows = [{"field": st.t(f"findings.{k}"), "value": v} for k, v in fields if v not in (None, "")]
    emit(
        st.out, output, rows, [("field", ""), ("value", "")], st.t("finding_title", id=finding.id, finding=finding.key)
    )
    events = [
        {
            "time": e.time.astimezone(CST).isoformat(timespec="minutes"),
            "actor": e.actor,
            "transition": e.transition,
            "from": st.t(f"state.{e.from_state}") if e.from_state else None,
            "to": st.t(f"state.{e.to_state}"),
            "detail": e.detail,
        }
        for e in history
    ]
    keys = ("time", "actor", "transition", "from", "to", "detail")
    emit(
        st.out, output, events, [(k, st.t(f"history.{k}")) for k in keys], st.t("finding_history_title", id=finding.id)
    )
    if sent:
        notices_cmds.emit_notices(st, sent, output)


def _change(st: CliState, work: Callable[[Connection], Finding], finding_id: int) -> Finding:
    """Run one transition in a transaction; refusals become messages and exit codes."""
    rt = st.runtime()
    try:
        with rt.engine.begin() as conn:
            return work(conn)
    except transitions.FindingNotFoundError:
        print_msg(st, "finding_not_found", id=finding_id)
        raise typer.Exit(EXIT_USAGE) from None
    except TransitionError as exc:
        _refused(st, finding_id, exc.state, exc.transition)
    except transitions.FindingInputError as exc:
        st.err.print(f"{st.t('error')}: {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from None


def _refused(st: CliState, finding_id: int, state: FindingState, transition: Transition) -> NoReturn:
    allowed = "、".join(st.t(f"state.{s}") for s in sorted(ALLOWED_FROM[transition]))
    print_msg(
        st,
        "finding_refused",
        id=finding_id,
        state=st.t(f"state.{state}"),
        transition=st.t(f"transition.{transition}"),
        allowed=allowed,
    )
    raise typer.Exit(EXIT_CHECK_FAILED)


def _changed(st: CliState, before: FindingState | None, after: Finding) -> None:
    shown = st.t(f"state.{before}") if before else "—"
    print_msg(st, "finding_changed", id=after.id, before=shown, after=st.t(f"state.{after.state}"))


def _remote_change(st: CliState, remote: Remote, finding_id: int, transition: str, body: dict[str, str]) -> None:
    """A transition the server makes (as the token's actor); a state that forbids it exits 1, as locally."""
    before = FindingState(remote.get(f"/v1/findings/{finding_id}")["finding"]["state"])
    try:
        after = Finding.model_validate(remote.post(f"/v1/findings/{finding_id}/{transition}", body))
    except RemoteError as exc:
        if exc.status == HTTPStatus.CONFLICT and "transition" in exc.problem:  # the state forbids it
            _refused(st, finding_id, FindingState(exc.problem["state"]), Transition(exc.problem["transition"]))
        raise
    _changed(st, before, after)


def _state_of(st: CliState, finding_id: int) -> FindingState | None:
    with st.runtime().engine.connect() as conn:
        found = get_finding(conn, finding_id)
    return found.state if found else None


ReasonOption = Annotated[str, typer.Option("--reason", help="why (kept in the operation log)")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="the finding's id")]


@app.command("exempt")
@guarded
def exempt(
    ctx: typer.Context,
    finding_id: IdArgument,
    reason: ReasonOption,
    until: Annotated[
        dt.datetime, typer.Option("--until", formats=["%Y-%m-%d"], help="last day of the exemption (UTC+8)")
    ],
) -> None:
    """Exempt a finding until a day: escalation stops; after that day it returns to the state it interrupted."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        _remote_change(st, remote, finding_id, "exempt", {"reason": reason, "until": until.date().isoformat()})
        return
    rt = st.runtime()
    before = _state_of(st, finding_id)
    after = _change(
        st,
        lambda c: transitions.exempt(
            c, rt.audit, finding_id, reason=reason, until=until.date(), actor=st.actor, now=rt.clock.now()
        ),
        finding_id,
    )
    _changed(st, before, after)


@app.command("dispute")
@guarded
def dispute(ctx: typer.Context, finding_id: IdArgument, reason: ReasonOption) -> None:
    """Record the unit's dispute: escalation pauses until the dispute is rejected or the finding resolves."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        _remote_change(st, remote, finding_id, "dispute", {"reason": reason})
        return
    rt = st.runtime()
    before = _state_of(st, finding_id)
    after = _change(
        st,
        lambda c: transitions.dispute(c, rt.audit, finding_id, reason=reason, actor=st.actor, now=rt.clock.now()),
        finding_id,
    )
    _changed(st, before, after)


@app.command("reject-dispute")
@guarded
def reject_dispute(ctx: typer.Context, finding_id: IdArgument, reason: ReasonOption) -> None:
    """The dispute is not upheld: back to the state it interrupted, that step's period counted again from today."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        _remote_change(st, remote, finding_id, "reject-dispute", {"reason": reason})
        return
    rt = st.runtime()
    calendar = load_calendar(rt.settings.policy.calendar_file)
    escalation_of = escalations(rt.settings.policy)
    before = _state_of(st, finding_id)
    after = _change(
        st,
        lambda c: transitions.reject_dispute(
            c,
            rt.audit,
            finding_id,
            reason=reason,
            actor=st.actor,
            now=rt.clock.now(),
            calendar=calendar,
            escalation_of=escalation_of,
        ),
        finding_id,
    )
    _changed(st, before, after)


@app.command("resolve")
@guarded
def resolve(ctx: typer.Context, finding_id: IdArgument, reason: ReasonOption) -> None:
    """Close a finding by hand (the unit fixed it, or its dispute was upheld)."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        _remote_change(st, remote, finding_id, "resolve", {"reason": reason})
        return
    rt = st.runtime()
    before = _state_of(st, finding_id)
    after = _change(
        st,
        lambda c: transitions.resolve(c, rt.audit, finding_id, reason=reason, actor=st.actor, now=rt.clock.now()),
        finding_id,
    )
    _changed(st, before, after)


@app.command("tick")
@guarded
def tick(
    ctx: typer.Context,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="send pending notices after")] = True,
) -> None:
    """Run the lifecycle now (the agent does it daily): expire ended exemptions, take every escalation step due
    by today (UTC+8) with its notice, then send every notice not delivered yet. A failed delivery is retried on
    the next tick and never holds the lifecycle back. Exit 1 when a finding could not move (unknown rule, a year
    the calendar does not know)."""
    st = state(ctx)
    rt = st.runtime()
    calendar = load_calendar(rt.settings.policy.calendar_file)
    with rt.engine.begin() as conn:
        result = transitions.tick(conn, rt.audit, rt.clock.now(), calendar, escalations(rt.settings.policy), st.actor)
    counts = result.count()
    if counts:
        summary = ", ".join(f"{st.t(f'transition.{k}')} {v}" for k, v in sorted(counts.items()))
        print_msg(st, "tick_moved", summary=summary)
    else:
        print_msg(st, "tick_still")
    for problem in result.problems:
        print_msg(st, "tick_problem", why=problem)
    if deliver:
        report = deliver_pending(
            rt.engine, rt.audit, rt.settings.notices, clock=rt.clock, actor=st.actor, redactor=rt.redactor
        )
        for notice_id, channel, recipient, why in report.failed:
            print_msg(st, "tick_notice_failed", id=notice_id, channel=channel, recipient=recipient, why=why)
        print_msg(
            st,
            "tick_notices",
            delivered=len(report.delivered),
            failed=len(report.failed),
            abandoned=len(report.abandoned),
            undeliverable=len(report.undeliverable),
        )
    if result.problems:
        raise typer.Exit(EXIT_CHECK_FAILED)
