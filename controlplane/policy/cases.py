"""Case files: synthetic metrics, system facts and timelines fed to the engine, with the verdicts and deadline dates
expected (``yunguan policy test PACK CASES.yaml``; each shipped pack's own suite is
``policies/tests/<pack>.cases.yaml``). The format (every key but ``cases`` optional)::

    pack: suining                 # a shipped pack, or a pack file relative to this file
    overrides: {}                 # as the config's policy.overrides
    calendar: {holidays: [], workdays: [], known_years: []}   # as the calendar override file
    defaults: {period: 2026-10, system: {stable_since: 2026-01-01}}   # merged into every case
    cases:
      - name: CPU mean exactly 10% is not low (低于 is strict)
        period: 2026-10               # the month evaluated (UTC+8)
        system: {key: S-1, stable_since: 2026-01-01, onboarded: 2026-01-15}
        scope: both                   # system, server or both (the same figures for each)
        month: {cpu_percent: 10}      # figures over the month: a number is the mean (and max), fully measured
        weeks: {memory_percent: {mean: 30, max: 50}}   # over every week ending in the month
        2026-W43: {memory_percent: {mean: 31}}         # one week
        activity: {last_seen: 2026-10-31, last_active: 2026-06-30}
        expect: {suining-14-low-cpu: clear, suining-14-low-memory: unknown}
    timelines:
      - name: Chongqing 17 from a reminder on 2026-07-20
        rule: chongqing-17-idle-cpu   # its escalation steps
        opened: 2026-07-20
        taken: {urged: 2026-08-25}    # a step taken later than due moves the next ones
        expect: {urged: {deadline: 2026-08-20, due: 2026-08-21}}
    deadlines:
      - {event: 2026-02-12, after: {working_days: 5}, deadline: 2026-02-26, due: 2026-02-27}

A metric is a number (its mean and max) or ``{mean, max, samples, estimated, missing, days, unweighted,
hours_above, hours_with_data}``; left out: every day and hour of the window measured, 288 samples a day, none
estimated. Sizes may be written ``"1.5 TiB"`` or ``"200 GiB"``. Activity defaults: seen, active and observed to
the period's last day. An expectation is ``finding``, ``clear``, ``unknown`` or ``not-evaluated`` for every
evaluation of the rule, or a mapping of window label (``2026-W43``) to one of them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, TypeAdapter, ValidationError, field_validator

from controlplane.calendar import CalendarError, WorkingCalendar
from controlplane.domain import Frozen
from controlplane.policy.deadlines import deadline, due, timeline
from controlplane.policy.evaluate import evaluate
from controlplane.policy.facts import (
    Activity,
    Aggregate,
    HoursAbove,
    Month,
    ScopeFacts,
    SystemFacts,
    WindowFacts,
)
from controlplane.policy.model import Duration, EscalationStep, Evaluation
from controlplane.policy.packs import Pack, data_path, load_pack, yaml_lines
from controlplane.policy.rules import ThresholdRule

SAMPLES_PER_DAY = 288  # one sample every 5 minutes
_SIZE = re.compile(r"^\s*([0-9.]+)\s*(B|KiB|MiB|GiB|TiB)?\s*$")
_POWERS = {"B": 0, "KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4}
_WEEK = re.compile(r"^\d{4}-W\d{2}$")
Expected = Literal["finding", "clear", "unknown", "not-evaluated"]


class CaseFileError(Exception):
    """A case file that cannot be read; one line per problem, naming the file and line."""


def quantity(value: float | str) -> float:
    """A number, or a size like ``1.5 TiB``."""
    if isinstance(value, int | float):
        return float(value)
    found = _SIZE.match(value)
    if not found:
        raise ValueError(f"not a number or size: {value!r} (write 10, 1.5 TiB or 200 GiB)")
    return float(found.group(1)) * float(1024 ** _POWERS[found.group(2) or "B"])


class MetricSpec(Frozen):
    mean: float | str | None = None
    max: float | str | None = None
    samples: int | None = Field(default=None, ge=0)
    estimated: int = Field(default=0, ge=0)
    missing: int = Field(default=0, ge=0)
    days: int | None = Field(default=None, ge=0)
    unweighted: int = Field(default=0, ge=0)
    hours_above: int | None = Field(default=None, ge=0)
    hours_with_data: int | None = Field(default=None, ge=0)


class SystemSpec(Frozen):
    key: str = "CASE-1"
    stable_since: dt.date | None = None
    onboarded: dt.date | None = None


class ActivitySpec(Frozen):
    """Days (UTC+8); left out: the period's last day (activity_from: long before)."""

    last_seen: dt.date | None = None
    last_active: dt.date | None = None
    activity_from: dt.date | None = dt.date(2000, 1, 1)
    observed_until: dt.date | None = None
    never_seen: bool = False  # no samples at all
    never_active: bool = False  # writes and network measured, never above the thresholds


Figures = dict[str, float | str | MetricSpec]
_FIGURES: TypeAdapter[Figures] = TypeAdapter(Figures)


class Case(Frozen):
    model_config = Frozen.model_config | {"extra": "allow"}  # week labels (2026-W43) are keys too

    name: str = Field(min_length=1)
    period: str
    system: SystemSpec = SystemSpec()
    scope: Literal["system", "server", "both"] = "both"
    month: Figures | None = None
    weeks: Figures | None = None
    activity: ActivitySpec | None = None
    expect: dict[str, Expected | dict[str, Expected]] = Field(min_length=1)

    @field_validator("period")
    @classmethod
    def _month(cls, value: str) -> str:
        return Month.parse(str(value)).label

    def week_figures(self) -> dict[str, Figures]:
        """The figures of single weeks (keys like ``2026-W43``); ValueError on any other extra key."""
        found: dict[str, Figures] = {}
        for key, value in (self.model_extra or {}).items():
            if not _WEEK.match(key):
                raise ValueError(f"unknown key {key!r} (a week is written 2026-W43)")
            try:
                found[key] = _FIGURES.validate_python(value)
            except ValidationError as exc:
                raise ValueError(f"{key}: {exc.errors()[0]['msg']}") from None
        return found


class StepExpect(Frozen):
    deadline: dt.date | None = None
    due: dt.date | None = None


class TimelineCase(Frozen):
    name: str = Field(min_length=1)
    rule: str | None = None
    steps: tuple[EscalationStep, ...] | None = None
    opened: dt.date
    taken: dict[str, dt.date] = Field(default_factory=dict)
    expect: dict[str, StepExpect] = Field(min_length=1)


class DeadlineCase(Frozen):
    event: dt.date
    after: Duration
    deadline: dt.date | None = None
    due: dt.date | None = None


class CalendarSpec(Frozen):
    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()
    known_years: tuple[int, ...] = ()


class CaseFile(Frozen):
    pack: str
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    calendar: CalendarSpec = CalendarSpec()
    defaults: dict[str, Any] = Field(default_factory=dict)
    cases: tuple[Case, ...] = ()
    timelines: tuple[TimelineCase, ...] = ()
    deadlines: tuple[DeadlineCase, ...] = ()


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    problems: tuple[str, ...] = ()


# -- reading ----------------------------------------------------------------------------------------------------------


def read_cases(path: Path, pack_ref: str | None = None) -> tuple[CaseFile, Pack, WorkingCalendar]:
    """Parse a case file and load its pack (``pack_ref`` wins over the file's ``pack:``). Raises
    ``CaseFileError`` (the file) or ``PackError`` (the pack)."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise CaseFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise CaseFileError(f"{path}{line}: not valid YAML: {exc.problem}") from exc
    if not isinstance(data, dict):
        raise CaseFileError(f"{path}: a case file is a mapping (pack:, cases:, timelines:, deadlines:)")
    if pack_ref is not None:
        data = {**data, "pack": pack_ref}
    defaults = data.get("defaults") or {}
    if isinstance(data.get("cases"), list) and isinstance(defaults, dict):
        data = {**data, "cases": [_merged(defaults, c) for c in data["cases"]]}
    lines = yaml_lines(root)
    try:
        cases = CaseFile.model_validate(data)
        for index, case in enumerate(cases.cases):
            try:
                case.week_figures()
            except ValueError as exc:
                raise CaseFileError(f"{path}:{lines.get(('cases', index), '?')}: case {case.name}: {exc}") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = data_path(data, tuple(error["loc"]))
            at = next((lines[where[:n]] for n in range(len(where), 0, -1) if where[:n] in lines), None)
            field = ".".join(str(p) for p in where)
            problems.append(f"{path}{f':{at}' if at else ''}: {field}: {error['msg']}")
        raise CaseFileError("\n".join(problems)) from None
    ref: str | Path = cases.pack
    if "/" in cases.pack or cases.pack.endswith((".yaml", ".yml")):
        ref = (path.parent / cases.pack).resolve()
    pack = load_pack(ref, cases.overrides, key=f"{path}: overrides")
    calendar = WorkingCalendar(cases.calendar.holidays, cases.calendar.workdays, cases.calendar.known_years)
    return cases, pack, calendar


def _merged(defaults: Mapping[str, Any], case: Any) -> Any:
    if not isinstance(case, dict):
        return case
    merged = dict(defaults)
    for key, value in case.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# -- running ----------------------------------------------------------------------------------------------------------


def run_cases(cases: CaseFile, pack: Pack, calendar: WorkingCalendar) -> list[Outcome]:
    """Every case, timeline and deadline of the file against the engine: one outcome each."""
    results = [_run_case(case, pack) for case in cases.cases]
    results += [_run_timeline(t, pack, calendar) for t in cases.timelines]
    results += [_run_deadline(d, calendar) for d in cases.deadlines]
    return results


def case_facts(case: Case, pack: Pack) -> SystemFacts:
    """The system facts a case describes."""
    period = Month.parse(case.period)
    ks: set[tuple[str, int]] = {
        (c.metric, c.k) for r in pack.action_rules if isinstance(r, ThresholdRule) for c in r.leaves() if c.k
    }
    windows: dict[str, WindowFacts] = {}
    if case.month is not None:
        w = period.window
        windows[period.label] = _window(period.label, w.start, w.end, case.month, ks)
    weekly = case.week_figures()
    for week in period.weeks():
        figures = weekly.get(week.label, case.weeks)
        if figures is not None:
            windows[week.label] = _window(week.label, week.window.start, week.window.end, figures, ks)
    activity = _activity(case.activity or ActivitySpec(), period)
    kinds: list[Literal["system", "server"]] = ["system", "server"] if case.scope == "both" else [case.scope]
    scopes = tuple(
        ScopeFacts(
            cloud="case",
            kind=kind,
            id=case.system.key if kind == "system" else "server-1",
            windows=windows,
            activity=activity,
        )
        for kind in kinds
    )
    return SystemFacts(
        key=case.system.key,
        stable_since=case.system.stable_since,
        onboarded=case.system.onboarded,
        scopes=scopes,
    )


def _window(
    label: str, start: dt.datetime, end: dt.datetime, figures: Figures, ks: set[tuple[str, int]]
) -> WindowFacts:
    days = round((end - start).total_seconds() / 86400)
    metrics: dict[str, Aggregate] = {}
    hours: list[HoursAbove] = []
    for metric, given in figures.items():
        spec = given if isinstance(given, MetricSpec) else MetricSpec(mean=given, max=given)
        mean = None if spec.mean is None else quantity(spec.mean)
        high = quantity(spec.max) if spec.max is not None else mean
        mean = high if mean is None and spec.samples != 0 else mean
        present = mean is not None
        samples = spec.samples if spec.samples is not None else (days * SAMPLES_PER_DAY if present else 0)
        agg = Aggregate(
            metric=metric,
            mean=mean,
            max=high,
            samples=samples,
            estimated=spec.estimated,
            missing=spec.missing,
            scopes=1 if samples else 0,
            days=spec.days if spec.days is not None else (days if samples else 0),
            unweighted=spec.unweighted,
        )
        metrics[metric] = agg
        for m, k in sorted(ks):
            if m == metric:
                hours.append(
                    HoursAbove(
                        metric=metric,
                        k=k,
                        hours=spec.hours_above or 0,
                        hours_with_data=spec.hours_with_data if spec.hours_with_data is not None else days * 24,
                        samples=samples,
                        estimated=spec.estimated,
                        missing=spec.missing,
                    )
                )
    return WindowFacts(label=label, start=start, end=end, metrics=metrics, hours_above=tuple(hours))


def _activity(spec: ActivitySpec, period: Month) -> Activity:
    return Activity(
        last_seen=None if spec.never_seen else spec.last_seen or period.last_day,
        last_active=None if spec.never_active or spec.never_seen else spec.last_active or period.last_day,
        activity_from=spec.activity_from,
        observed_until=spec.observed_until or period.last_day,
    )


def _run_case(case: Case, pack: Pack) -> Outcome:
    evaluations = evaluate(pack, Month.parse(case.period), [case_facts(case, pack)])
    by_rule: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        by_rule.setdefault(e.rule_id, []).append(e)
    known = {r.id for r in pack.rules}
    problems: list[str] = []
    for rule_id, expected in case.expect.items():
        if rule_id not in known:
            problems.append(f"{rule_id}: pack {pack.pack} has no such rule")
            continue
        got = by_rule.get(rule_id, [])
        wanted = expected if isinstance(expected, dict) else None
        if wanted is None:
            if expected == "not-evaluated":
                if got:
                    problems.append(f"{rule_id}: expected not evaluated, got {_shown(got)}")
            elif not got or any(e.verdict != expected for e in got):
                problems.append(f"{rule_id}: expected {expected}, got {_shown(got) or 'not evaluated'}")
            continue
        for label, verdict in wanted.items():
            those = [e for e in got if e.period == label]
            if verdict == "not-evaluated":
                if those:
                    problems.append(f"{rule_id} {label}: expected not evaluated, got {_shown(those)}")
            elif not those or any(e.verdict != verdict for e in those):
                problems.append(f"{rule_id} {label}: expected {verdict}, got {_shown(those) or 'not evaluated'}")
    return Outcome(case.name, not problems, tuple(problems))


def _shown(evaluations: list[Evaluation]) -> str:
    return ", ".join(f"{e.verdict} ({e.scope_kind} {e.period}: {e.reason})" for e in evaluations)


def _run_timeline(case: TimelineCase, pack: Pack, calendar: WorkingCalendar) -> Outcome:
    try:
        if case.steps is not None:
            steps = case.steps
        elif case.rule is not None:
            steps = pack.rule(case.rule).escalation or ()
        else:
            steps = pack.escalation
    except KeyError:
        return Outcome(case.name, False, (f"pack {pack.pack} has no rule {case.rule}",))
    try:
        dates = {d.to: d for d in timeline(case.opened, steps, calendar, case.taken)}
    except CalendarError as exc:
        return Outcome(case.name, False, (str(exc),))
    problems: list[str] = []
    for step, expected in case.expect.items():
        got = dates.get(step)
        if got is None:
            problems.append(f"{step}: no such step (steps: {', '.join(dates) or 'none'})")
            continue
        if expected.deadline is not None and got.deadline != expected.deadline:
            problems.append(f"{step}: deadline expected {expected.deadline}, got {got.deadline}")
        if expected.due is not None and got.due != expected.due:
            problems.append(f"{step}: due expected {expected.due}, got {got.due}")
    return Outcome(case.name, not problems, tuple(problems))


def _run_deadline(case: DeadlineCase, calendar: WorkingCalendar) -> Outcome:
    name = f"{case.event} + {_duration(case.after)}"
    try:
        last, first = deadline(case.event, case.after, calendar), due(case.event, case.after, calendar)
    except (CalendarError, ValueError) as exc:
        return Outcome(name, False, (str(exc),))
    problems = []
    if case.deadline is not None and last != case.deadline:
        problems.append(f"deadline expected {case.deadline}, got {last}")
    if case.due is not None and first != case.due:
        problems.append(f"due expected {case.due}, got {first}")
    return Outcome(name, not problems, tuple(problems))


def _duration(period: Duration) -> str:
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in period.model_dump().items() if v is not None)
