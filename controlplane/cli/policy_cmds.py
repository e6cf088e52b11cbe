"""``yunguan policy``: regulation packs — validate, explain, the JSON schema, case files, and a dry evaluation of a
month from the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from controlplane.cli.context import EXIT_CHECK_FAILED, EXIT_INPUT, EXIT_USAGE, CliState, guarded, print_msg, state
from controlplane.cli.output import Format, emit
from controlplane.gc_pause import gc_paused
from controlplane.policy.cases import CaseFileError, read_cases, run_cases
from controlplane.policy.evaluate import evaluate_run
from controlplane.policy.explain import explain as explain_pack
from controlplane.policy.facts import Month
from controlplane.policy.gather import facts_from_store
from controlplane.policy.model import Evaluation, Verdict
from controlplane.policy.packs import Pack, PackError, configured_pack, load_pack, pack_schema

app = typer.Typer(help="Regulation packs (规则包).", no_args_is_help=True)

COLUMNS = ("system", "cloud", "scope", "rule", "citation", "period", "outcome", "verdict", "reason")


def _pack(st: CliState, ref: str | None) -> Pack:
    """A named pack or file as shipped, or (none named, or the configured one) the configured pack with overrides."""
    try:
        return configured_pack(st.settings.policy, ref)
    except KeyError:
        print_msg(st, "policy_no_pack")
        raise typer.Exit(EXIT_USAGE) from None
    except PackError as exc:
        _rejected(st, exc)


def _rejected(st: CliState, exc: PackError | CaseFileError) -> NoReturn:
    source = exc.source if isinstance(exc, PackError) else ""
    st.err.print(st.t("policy_rejected", source=source or "-"), highlight=False, markup=False)
    for line in exc.problems if isinstance(exc, PackError) else str(exc).splitlines():
        st.err.print(f"  {line}", highlight=False, markup=False)
    raise typer.Exit(EXIT_INPUT)


@app.command("validate")
@guarded
def validate(
    ctx: typer.Context,
    pack: Annotated[str, typer.Argument(help="a shipped pack (suining, bozhou, ...) or a pack file")],
) -> None:
    """Check a pack: every rule against its type's schema, ids, periods. Exit 3 with every problem (file:line,
    pack, rule, field) when it is not valid."""
    st = state(ctx)
    try:
        loaded = load_pack(pack)
    except PackError as exc:
        _rejected(st, exc)
    enabled = len(loaded.action_rules)
    print_msg(st, "policy_valid", pack=loaded.pack, rules=len(loaded.rules), enabled=enabled)


@app.command("explain")
@guarded
def explain(
    ctx: typer.Context,
    pack: Annotated[
        str | None, typer.Argument(help="a shipped pack or a pack file (default: the configured one, with overrides)")
    ] = None,
) -> None:
    """The pack in words (with --lang zh or en): each rule with its citation, thresholds, scope, outcome and
    escalation."""
    st = state(ctx)
    st.out.print(explain_pack(_pack(st, pack), st.lang), highlight=False, markup=False)


@app.command("schema")
@guarded
def schema(ctx: typer.Context) -> None:
    """The JSON schema of a pack file (rule types as a discriminated union on ``type``)."""
    st = state(ctx)
    st.out.print_json(json.dumps(pack_schema(), ensure_ascii=False))


@app.command("test")
@guarded
def test(
    ctx: typer.Context,
    pack: Annotated[str, typer.Argument(help="a shipped pack or a pack file (wins over the file's pack:)")],
    cases: Annotated[Path, typer.Argument(help="a case file (README: Regulation packs)", dir_okay=False)],
) -> None:
    """Run a case file's synthetic cases, timelines and deadlines through the engine and compare with what they
    expect. Exit 0 when all pass, 1 when any fails, 3 when the file or the pack is bad."""
    st = state(ctx)
    try:
        parsed, loaded, calendar = read_cases(cases, pack)
    except (CaseFileError, PackError) as exc:
        _rejected(st, exc)
    results = run_cases(parsed, loaded, calendar)
    print_msg(st, "policy_test_title", pack=loaded.pack, file=cases.name)
    for r in results:  # one line a case: names are long sentences, a table would wrap
        mark = st.t("policy.pass") if r.passed else st.t("policy.fail")
        line = f"{mark}  {r.name}" + "".join(f"\n      {p}" for p in r.problems)
        st.out.print(line, highlight=False, markup=False)
    failed = sum(1 for r in results if not r.passed)
    print_msg(st, "policy_test_summary", passed=len(results) - failed, failed=failed)
    if failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command("evaluate")
@guarded
def evaluate(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", "-m", help="the month, YYYY-MM (China Standard Time)")],
    pack: Annotated[str | None, typer.Option("--pack", help="another pack than the configured one")] = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="table, json, yaml or csv")] = Format.TABLE,
) -> None:
    """Evaluate the pack over a finished month from the store (ledger and usage rollups) and print every
    evaluation: finding, clear or unknown, with its evidence. Dry: writes nothing. Exit 1 when there is a finding."""
    st = state(ctx)
    try:
        period = Month.parse(month)
    except ValueError:
        print_msg(st, "bad_month", value=month)
        raise typer.Exit(EXIT_USAGE) from None
    loaded = _pack(st, pack)
    rt = st.runtime()
    with gc_paused():  # as evaluate_month: many small models, no cycles
        try:
            with rt.engine.connect() as conn:
                facts = facts_from_store(conn, loaded, period, rt.clock)
        except ValueError as exc:
            print_msg(st, "policy_month_not_over", month=period.label, why=str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        run = evaluate_run(loaded, period, facts.systems)
    table = output is Format.TABLE
    rows = [_row(st, e, table) for e in run.evaluations]
    title = st.t("policy_evaluate_title", pack=loaded.pack, month=period.label)
    emit(st.out, output, rows, [(k, st.t(f"policy.{k}")) for k in COLUMNS], title)
    for skip in run.skipped:
        print_msg(st, "policy_skipped", system=skip.system, rule=skip.rule_id or "*", why=skip.reason)
    counts = {v: sum(1 for e in run.evaluations if e.verdict is v) for v in Verdict}
    print_msg(
        st,
        "policy_evaluate_summary",
        findings=counts[Verdict.FINDING],
        clear=counts[Verdict.CLEAR],
        unknown=counts[Verdict.UNKNOWN],
    )
    if counts[Verdict.FINDING]:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _row(st: CliState, e: Evaluation, table: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "system": e.system,
        "cloud": e.cloud,
        "scope": e.scope_id if e.scope_kind == "system" else f"{e.scope_kind} {e.scope_id}",
        "rule": e.rule_id,
        "citation": e.citation,
        "period": e.period,
        "outcome": e.outcome.value,
        "verdict": e.verdict.value,
        "reason": e.reason,
    }
    if table:
        row["verdict"] = st.t(f"policy.verdict.{e.verdict.value}")
        row["outcome"] = st.t(f"policy.outcome.{e.outcome.value}")
    else:
        row["evidence"] = [ev.model_dump(mode="json") for ev in e.evidence]
        row["window_start"], row["window_end"] = e.window_start, e.window_end
    return row
