"""``yunguan terminate …`` and ``yunguan wipe verify``: a system's termination for operators (Suining 16, Bozhou 23,
Chongqing 24 and 39, Jiuquan 10(2)).

request → approve (the transition starts) → confirm-backup (the unit's evidence) → approve-wipe (a second operator)
→ plan / run (after the transition; ``--dry-run`` shows the plan and the guards and touches nothing) →
confirm-equipment (hosted equipment's certificates) → certificate. ``list`` and ``show`` also run over the agent's
API when a server is configured; the other steps stay local. Refusals exit 1 (a guard or the case's state),
an unknown system 2, bad input 3, a missing wiper 4, a cloud that could not be listed completely 6.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from controlplane.audit.signing import load_public_key
from controlplane.cli.context import (
    EXIT_CHECK_FAILED,
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_USAGE,
    CliState,
    guarded,
    print_msg,
    state,
)
from controlplane.cli.output import Format, emit
from controlplane.clock import SystemClock, today_cst
from controlplane.config import ConfigError
from controlplane.hosting.evidence import evidence_store
from controlplane.redaction import Redactor
from controlplane.termination import cases
from controlplane.termination.case import CaseState, CaseStateError, Move
from controlplane.termination.certificate import (
    case_events,
    certificate_body,
    export_lookup,
    sign,
    store_lookup,
    system_name,
)
from controlplane.termination.certificate import verify as verify_certificate
from controlplane.termination.certificate_html import render_html
from controlplane.termination.equipment import Sanitization, confirm_equipment
from controlplane.termination.guards import GuardError, wipe_refusals
from controlplane.termination.plan import OutsideFootprintError, PlanError
from controlplane.termination.ports import WipeError
from controlplane.termination.reminders import due_reminders, record_reminder
from controlplane.termination.run import Runner
from controlplane.termination.steps import Step, steps_of
from controlplane.termination.wiring import configured_terms, final_reconcile, plan_for

EXIT_PARTIAL = 6

app = typer.Typer(help="Termination (服务终止): request, approve, wipe, reclaim, certificate.", no_args_is_help=True)
SystemArg = Annotated[str, typer.Argument(help="the system's code (or name)")]
OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table, json or yaml")]

P = ParamSpec("P")
R = TypeVar("R")


def refusals(func: Callable[P, R]) -> Callable[P, R]:
    """Termination's refusals as a clear message and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = next(a for a in [*args, *kwargs.values()] if hasattr(a, "find_root"))
        st = state(ctx)  # type: ignore[arg-type]
        try:
            return func(*args, **kwargs)
        except (GuardError, CaseStateError, OutsideFootprintError) as exc:
            _refuse(st, "terminate_refused", EXIT_CHECK_FAILED, why=str(exc))
        except cases.CaseNotFoundError as exc:
            _refuse(st, "terminate_refused", EXIT_USAGE, why=str(exc))
        except cases.TerminationError as exc:
            _refuse(st, "terminate_bad_input", EXIT_INPUT, field=exc.field or "-", why=str(exc))
        except PlanError as exc:
            _refuse(st, "terminate_incomplete", EXIT_PARTIAL, why="; ".join(exc.reasons))
        except WipeError as exc:
            _refuse(st, "terminate_refused", EXIT_CONFIG, why=str(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _refuse(st: CliState, key: str, code: int, **values: Any) -> None:
    """Print the refusal (a cloud's answer may quote a secret: redacted like every other error) and exit."""
    try:
        redact = Redactor(st.settings.secret_values()).text
    except ConfigError:
        redact = Redactor().text
    print_msg(st, key, **{k: redact(str(v)) for k, v in values.items()})
    raise typer.Exit(code)


def _command(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def register(func: Callable[P, R]) -> Callable[P, R]:
        app.command(name)(guarded(refusals(func)))
        return func

    return register


def _case_row(case: cases.Case, today: dt.date) -> dict[str, Any]:
    days_left = (case.transition_ends - today).days if case.transition_ends else None
    return {
        "case": case.id,
        "system": case.system,
        "unit": case.unit,
        "state": case.state.value,
        "late": case.late,
        "requested_by": case.requested_by,
        "approved_by": case.approved_by or "",
        "transition_ends": case.transition_ends,
        "days_left": days_left if case.state in (CaseState.APPROVED, CaseState.BACKUP_CONFIRMED) else "",
        "backup_sha256": case.backup_sha256 or "",
        "wipe_approved_by": case.wipe_approved_by or "",
        "billing_end": case.billing_end,
        "leftovers": len(case.leftovers),
    }


def columns(st: Any, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """Each key with its header in the operator's language (JSON, YAML and CSV keep the keys)."""
    return [(k, st.t(f"terminate.col.{k}")) for k in keys]


CASE_KEYS = "case system unit state late transition_ends days_left approved_by wipe_approved_by billing_end leftovers"
CASE_KEYS_ = tuple(CASE_KEYS.split())


@_command("request")
def request(
    ctx: typer.Context,
    system: SystemArg,
    reason: Annotated[str, typer.Option("--reason", help="why the unit stops using the cloud")],
    stopped_use: Annotated[
        dt.datetime | None,
        typer.Option("--stopped-use", formats=["%Y-%m-%d"], help="the day the system stopped being used (UTC+8)"),
    ] = None,
) -> None:
    """Open a termination case; a request later than the pack allows is flagged late (Suining 16)."""
    st = state(ctx)
    rt = st.runtime()
    stopped = stopped_use.date() if stopped_use else None
    with rt.engine.begin() as conn:
        case = cases.request(
            conn,
            rt.audit,
            configured_terms(rt),
            system,
            reason=reason,
            stopped_use_on=stopped,
            actor=st.actor,
            now=rt.clock.now(),
        )
    print_msg(st, "terminate_requested", case=case.id, system=case.system)
    if case.late:
        print_msg(st, "terminate_late", system=case.system)


@_command("approve")
def approve(ctx: typer.Context, system: SystemArg) -> None:
    """Approve the request: the transition period starts (months counted by the Civil Code)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        case = cases.approve(
            conn, rt.audit, configured_terms(rt), cases.case_of(conn, system).id, actor=st.actor, now=rt.clock.now()
        )
    print_msg(st, "terminate_approved", system=case.system, until=case.transition_ends)


@_command("refuse")
def refuse(ctx: typer.Context, system: SystemArg, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """Refuse the request."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        case = cases.refuse(conn, rt.audit, cases.case_of(conn, system).id, reason, actor=st.actor, now=rt.clock.now())
    print_msg(st, "terminate_moved", system=case.system, state=case.state.value)


@_command("cancel")
def cancel(ctx: typer.Context, system: SystemArg, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """Withdraw the case before its wipe started; the system is active again."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        case = cases.cancel(conn, rt.audit, cases.case_of(conn, system).id, reason, actor=st.actor, now=rt.clock.now())
    print_msg(st, "terminate_moved", system=case.system, state=case.state.value)


@_command("confirm-backup")
def confirm_backup(
    ctx: typer.Context,
    system: SystemArg,
    evidence: Annotated[
        Path, typer.Option("--evidence", exists=True, dir_okay=False, help="the unit's migration/backup record")
    ],
) -> None:
    """Record the unit's confirmation that migration and backup are done, with its evidence file (SHA-256 kept)."""
    st = state(ctx)
    rt = st.runtime()
    files = evidence_store(rt.settings.state_dir)
    with rt.engine.begin() as conn, evidence.open("rb") as handle:
        case = cases.confirm_backup(
            conn,
            rt.audit,
            files,
            cases.case_of(conn, system).id,
            name=evidence.name,
            chunks=iter(lambda: handle.read(1 << 20), b""),
            actor=st.actor,
            now=rt.clock.now(),
        )
    print_msg(st, "terminate_backup", system=case.system, sha256=case.backup_sha256)


@_command("approve-wipe")
def approve_wipe(ctx: typer.Context, system: SystemArg) -> None:
    """The second operator's approval of the wipe (not the operator who approved the case)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        case = cases.approve_wipe(conn, rt.audit, cases.case_of(conn, system).id, actor=st.actor, now=rt.clock.now())
    print_msg(st, "terminate_wipe_approved", system=case.system, by=st.actor)


PLAN_KEYS = ("step", "cloud", "kind", "id", "name", "group", "size_bytes", "state", "method")


@_command("plan")
def plan(ctx: typer.Context, system: SystemArg, output: OutputOpt = Format.TABLE) -> None:
    """Exactly what would be wiped and reclaimed: the footprint as the clouds list it now, and the guards (also
    before any case is requested: a preview)."""
    st = state(ctx)
    rt = st.runtime()
    found, _ = plan_for(rt, system, st.actor)
    rows = [
        {
            "step": n,
            "cloud": t.cloud,
            "kind": t.kind.value,
            "id": t.id,
            "name": t.name,
            "group": t.group,
            "size_bytes": t.size_bytes,
            "state": "",
            "method": "",
        }
        for n, t in enumerate(found.targets, start=1)
    ]
    emit(st.out, output, rows, columns(st, PLAN_KEYS), st.t("terminate_plan_title", system=found.system))
    with rt.engine.connect() as conn:
        try:
            case = cases.case_of(conn, found.system)
        except cases.CaseNotFoundError:
            print_msg(st, "terminate_not_yet", why="no termination case has been requested")
            return
    for why in wipe_refusals(case, today_cst(rt.clock)):
        print_msg(st, "terminate_not_yet", why=why)


@_command("run")
def run(
    ctx: typer.Context,
    system: SystemArg,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan and the guards; touch nothing")] = False,
) -> None:
    """Wipe and reclaim the system's footprint when every guard allows; resume a run a crash interrupted."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.connect() as conn:
        case = cases.case_of(conn, system)
    if dry_run:
        found, _ = plan_for(rt, system, st.actor)
        for target in found.targets:
            print_msg(st, "terminate_would", target=f"{target.cloud}/{target.kind.value}/{target.id}")
        reasons = wipe_refusals(case, today_cst(rt.clock))
        for why in reasons:
            print_msg(st, "terminate_not_yet", why=why)
        if reasons:
            raise typer.Exit(EXIT_CHECK_FAILED)
        return
    reasons = wipe_refusals(case, today_cst(rt.clock))
    if reasons:  # before any cloud is listed
        raise GuardError(reasons)
    found, opened = plan_for(rt, system, st.actor)
    runner = Runner(rt.engine, rt.audit, rt.clock, configured_terms(rt), opened.wipers, opened.disk_wipers, st.actor)
    report = runner.run(case.system, found, final_reconcile(rt, st.actor))
    for label in report.done:
        print_msg(st, "terminate_done", target=label)
    for label in report.resumed:
        print_msg(st, "terminate_resumed", target=label)
    for label, why in report.waiting:
        print_msg(st, "terminate_waiting", target=label, why=why)
    for label, why in report.failed:
        print_msg(st, "terminate_failed", target=label, why=why)
    for left in report.leftovers:
        print_msg(st, "terminate_leftover", what=json.dumps(left, ensure_ascii=False))
    print_msg(st, "terminate_moved", system=case.system, state=report.state.value)
    if report.failed or report.leftovers:
        raise typer.Exit(EXIT_CHECK_FAILED)


STEP_KEYS = "step cloud kind id state method category verified samples intent_seq result_seq error"
STEP_KEYS_ = tuple(STEP_KEYS.split())


@_command("show")
def show(ctx: typer.Context, system: SystemArg, output: OutputOpt = Format.TABLE) -> None:
    """The case (late flag, transition, operators, billing end, leftovers) and its steps."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        got = remote.get(f"/v1/terminations/{system}")
        case = cases.Case.model_validate(got["case"])
        steps = [Step.model_validate(s) for s in got["steps"]]
        today = today_cst(SystemClock())  # the operator's today, as the local command's
    else:
        rt = st.runtime()
        with rt.engine.connect() as conn:
            case = cases.case_of(conn, system)
            steps = steps_of(conn, case.id)
        today = today_cst(rt.clock)
    step_rows = [
        {
            "step": s.ordinal,
            "cloud": s.target.cloud,
            "kind": s.target.kind.value,
            "id": s.target.id,
            "state": s.state.value,
            "method": s.method or "",
            "category": s.category or "",
            "verified": s.verified,
            "samples": len(s.samples),
            "intent_seq": s.intent_seq,
            "result_seq": s.result_seq,
            "error": s.error or "",
        }
        for s in steps
    ]
    if output is not Format.TABLE:
        emit(st.out, output, [{**case.record(), "steps": step_rows}], [], "")
        return
    emit(st.out, output, [_case_row(case, today)], columns(st, CASE_KEYS_), st.t("terminate_case_title"))
    if case.late:
        print_msg(st, "terminate_late", system=case.system)
    for left in case.leftovers:
        print_msg(st, "terminate_leftover", what=json.dumps(left, ensure_ascii=False))
    if step_rows:
        emit(st.out, output, step_rows, columns(st, STEP_KEYS_), st.t("terminate_steps_title"))


@_command("list")
def list_cases(
    ctx: typer.Context,
    case_state: Annotated[CaseState | None, typer.Option("--state", help="only cases in this state")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Every termination case with its state, transition end and late flag."""
    st = state(ctx)
    remote = st.remote()
    if remote is not None:
        params = {"state": case_state.value} if case_state else None
        found = [cases.Case.model_validate(c) for c in remote.items("/v1/terminations", params)]
        today = today_cst(SystemClock())  # the operator's today, as the local command's
    else:
        rt = st.runtime()
        with rt.engine.connect() as conn:
            found = cases.list_cases(conn, case_state)
        today = today_cst(rt.clock)
    emit(st.out, output, [_case_row(c, today) for c in found], columns(st, CASE_KEYS_), st.t("terminate_cases_title"))


@_command("confirm-equipment")
def confirm_equipment_cmd(
    ctx: typer.Context,
    system: SystemArg,
    serial: Annotated[str, typer.Argument(help="the equipment's serial")],
    how: Annotated[Sanitization, typer.Option("--how", help="degauss or destruction, as the certificate says")] = (
        Sanitization.DEGAUSS
    ),
) -> None:
    """Confirm the vendor's degauss/destruction certificate of hosted equipment (Chongqing 39); it is retired."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        step = confirm_equipment(conn, rt.audit, system, serial, how=how, actor=st.actor, now=rt.clock.now())
    print_msg(st, "terminate_equipment", serial=step.target.id, how=how.value)


@_command("reminders")
def reminders(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what is due; log nothing")] = False,
) -> None:
    """Reminders due before transitions end (the pack's days, e.g. 30/7/1): listed and logged once each."""
    st = state(ctx)
    rt = st.runtime()
    terms = configured_terms(rt)
    today = today_cst(rt.clock)
    with rt.engine.begin() as conn:
        for due in due_reminders(cases.list_cases(conn), today, terms):
            case = due.case
            print_msg(
                st, "terminate_reminder", system=case.system, unit=case.unit, until=case.transition_ends, days=due.days
            )
            if not dry_run:
                record_reminder(conn, rt.audit, due, actor=st.actor, now=rt.clock.now())


@_command("certificate")
def certificate(
    ctx: typer.Context,
    system: SystemArg,
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="the certificate (JSON)")],
    html: Annotated[Path | None, typer.Option("--html", dir_okay=False, help="a printable page too")] = None,
) -> None:
    """Write the signed wipe certificate of a reclaimed case (and close it)."""
    st = state(ctx)
    rt = st.runtime()
    with rt.engine.begin() as conn:
        case = cases.case_of(conn, system, for_update=True)
        if case.state not in (CaseState.RECLAIMED, CaseState.CLOSED):
            raise GuardError([f"case {case.id} is {case.state.value}: a certificate is issued once it is reclaimed"])
        body = certificate_body(
            case,
            system_name(conn, case.system),
            steps_of(conn, case.id),
            case_events(conn, case.id),
            issued_by=st.actor,
            issued_at=rt.clock.now(),
        )
        document = sign(body, rt.signer)
        text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
        out.write_text(text + "\n", encoding="utf-8")
        if html is not None:
            html.write_text(render_html(document), encoding="utf-8")
        if case.state is CaseState.RECLAIMED:
            cases.move(conn, rt.audit, case, Move.CLOSE, actor=st.actor, now=rt.clock.now(), closed_at=rt.clock.now())
    print_msg(st, "terminate_certificate", path=out, n=len(body["resources"]))


wipe_app = typer.Typer(help="Wipe certificates (数据清除证明).", no_args_is_help=True)


@wipe_app.command("verify")
@guarded
def verify(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the certificate (JSON)")],
    log_export: Annotated[
        Path | None,
        typer.Option("--log-export", exists=True, dir_okay=False, help="an `audit export` file (default: the store)"),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", exists=True, help="PEM public key (default: the configured key)")
    ] = None,
) -> None:
    """Check the certificate's signature and every operation-log event it names; exit 0 valid, 1 invalid."""
    st = state(ctx)
    try:
        document = json.loads(cert.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        _refuse(st, "wipe_invalid", EXIT_CHECK_FAILED, why=f"{cert}: not JSON ({exc})")
    public = load_public_key(public_key) if public_key is not None else st.runtime().signer.public
    if log_export is not None:
        with log_export.open(encoding="utf-8") as lines:
            problems = verify_certificate(document, public, export_lookup(lines))
    else:
        with st.runtime().engine.connect() as conn:
            problems = verify_certificate(document, public, store_lookup(conn))
    for problem in problems:
        print_msg(st, "wipe_invalid", why=problem)
    if problems:
        raise typer.Exit(EXIT_CHECK_FAILED)
    print_msg(st, "wipe_valid", path=cert)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="terminate")
    root.add_typer(wipe_app, name="wipe")
