"""Evaluating a pack: a pure function of the pack, the period and the facts gathered before (no store, no API), so a
result can be replayed from its facts.

One ``Evaluation`` per rule, system, scope and window: ``finding`` (broken, with the evidence), ``clear``, or
``unknown`` when the figures cannot be trusted: no samples, samples on fewer days than the rule's ``min_coverage``
of the window, any estimate behind a rule that needs measurements, servers that cannot be weighed, a cloud whose
measurements stop before the period ends. Unknown is never a finding. Conditions combine three-valued: ``all``
is clear as soon as one condition is clearly not met, ``any`` a finding as soon as one is met.

Not evaluated at all (``Skipped``): a system before its monitoring start (Suining 14: 3 months after stable
operation begins; whole windows only), a system exempted from a rule on the period's last day, a system a rule is
not for (``systems``).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from controlplane.clock import CST
from controlplane.periods import last_day_of_days, last_day_of_months
from controlplane.policy.facts import Aggregate, Month, ScopeFacts, SystemFacts, WindowFacts
from controlplane.policy.model import Duration, Evaluation, Evidence, Verdict
from controlplane.policy.packs import Pack
from controlplane.policy.rules import (
    DERIVED_METRICS,
    UNIT_FACTOR,
    ActionRule,
    ConditionGroup,
    IdleRule,
    MetricCondition,
    ThresholdRule,
)
from controlplane.policy.trusted import trusted

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
SYMBOL = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
SCOPE_KINDS = {"system": ("system",), "server": ("server", "namespace")}
_VERDICTS = {True: Verdict.FINDING, False: Verdict.CLEAR, None: Verdict.UNKNOWN}
# evaluations, evidence and the rest are built from values computed here, not validated again (``trusted``)
_EVALUATION, _EVIDENCE = trusted(Evaluation), trusted(Evidence)
_WINDOW, _AGGREGATE = trusted(WindowFacts), trusted(Aggregate)


@dataclass(frozen=True)
class Skipped:
    """A system (or one rule for it) left out of the evaluation, and why."""

    system: str
    rule_id: str  # "" when the whole system is left out
    reason: str


@dataclass(frozen=True)
class Run:
    evaluations: tuple[Evaluation, ...]
    skipped: tuple[Skipped, ...]


class _Checked(NamedTuple):  # ~250,000 a month of 10,000 servers: a tuple is the cheapest to make
    met: bool | None
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...]  # why unknown, or what was found


def evaluate(pack: Pack, period: Month, systems: Sequence[SystemFacts]) -> list[Evaluation]:
    """Every enabled rule of ``pack`` for every system over ``period``: the evaluations, in a stable order."""
    return list(evaluate_run(pack, period, systems).evaluations)


def evaluate_run(pack: Pack, period: Month, systems: Sequence[SystemFacts]) -> Run:
    """``evaluate`` with the systems and rules left out, and why (for reports)."""
    evaluations: list[Evaluation] = []
    skipped: list[Skipped] = []
    for system in sorted(systems, key=lambda s: s.key):
        starts = monitoring_starts(pack, system)
        if starts is not None and starts > period.first_day:  # some windows (or all) before the start
            skipped.append(Skipped(system.key, "", _not_monitored(pack, system, starts)))
            if starts > period.last_day:
                continue
        for rule in pack.action_rules:
            if rule.systems is not None and system.key not in rule.systems:
                continue
            exemption = next((e for e in pack.exemptions if e.covers(system.key, rule.id, period.last_day)), None)
            if exemption is not None:
                skipped.append(Skipped(system.key, rule.id, f"exempted until {exemption.until}: {exemption.reason}"))
                continue
            evaluations += _rule(pack, rule, period, system, starts)
    return Run(tuple(evaluations), tuple(skipped))


def monitoring_starts(pack: Pack, system: SystemFacts) -> dt.date | None:
    """The first day the system is evaluated under ``pack``: after its monitoring rule's period from the stable-since
    date (the first approval's effective date when the ledger has none). None: from the start (no such rule); a
    date after any period when the system has neither date."""
    rule = pack.monitoring
    if rule is None:
        return None
    since = system.stable_since or system.onboarded
    if since is None:
        return dt.date.max
    return _period_end(since, rule.stable_for) + dt.timedelta(days=1)


def _not_monitored(pack: Pack, system: SystemFacts, starts: dt.date) -> str:
    rule = pack.monitoring
    citation = rule.citation if rule else ""
    if starts == dt.date.max:
        return f"no stable-since date or approval to count the monitoring start from ({citation})"
    since = f"stable since {system.stable_since}" if system.stable_since else f"onboarded {system.onboarded}"
    return f"not monitored before {starts} ({since}; {citation})"


def _period_end(event: dt.date, period: Duration) -> dt.date:
    if period.months is not None:
        return last_day_of_months(event, period.months)
    return last_day_of_days(event, period.days or 0)


def _rule(pack: Pack, rule: ActionRule, period: Month, system: SystemFacts, starts: dt.date | None) -> list[Evaluation]:
    found: list[Evaluation] = []
    kinds = SCOPE_KINDS[rule.scope]
    if isinstance(rule, IdleRule):
        if starts is None or starts <= period.first_day:
            found += (_idle(pack, rule, period, system, scope) for scope in system.scopes if scope.kind in kinds)
        return found
    windows = [(period.label, period.window.start, period.window.end, period.first_day)]
    if rule.window == "week":
        windows = [(w.label, w.window.start, w.window.end, w.monday) for w in period.weeks()]
    evaluated = [(label, start, end) for label, start, end, first in windows if starts is None or starts <= first]
    for scope in system.scopes:
        if scope.kind in kinds:
            found += (_threshold(pack, rule=rule, system=system, scope=scope, window=window) for window in evaluated)
    return found


def _evaluation(
    pack: Pack,
    *,
    rule: ActionRule,
    system: SystemFacts,
    scope: ScopeFacts,
    window: tuple[str, dt.datetime, dt.datetime],
    checked: _Checked,
) -> Evaluation:
    verdict = _VERDICTS[checked.met]
    return _EVALUATION(
        pack=pack.pack,
        rule_id=rule.id,
        citation=rule.citation,
        system=system.key,
        cloud=scope.cloud,
        scope_kind=scope.kind,
        scope_id=scope.id,
        outcome=rule.outcome,
        verdict=verdict,
        period=window[0],
        window_start=window[1],
        window_end=window[2],
        evidence=checked.evidence,
        reason="; ".join(checked.notes),
    )


# -- thresholds -------------------------------------------------------------------------------------------------------


def _threshold(
    pack: Pack,
    *,
    rule: ThresholdRule,
    system: SystemFacts,
    scope: ScopeFacts,
    window: tuple[str, dt.datetime, dt.datetime],
) -> Evaluation:
    label, start, end = window
    facts = scope.windows.get(label)
    if facts is None:
        facts = _WINDOW(label=label, start=start, end=end)
    coverage = rule.min_coverage if rule.min_coverage is not None else pack.min_coverage
    checked = _group(rule.match, rule.conditions, facts, coverage, rule.measured_only)
    return _evaluation(pack, rule=rule, system=system, scope=scope, window=window, checked=checked)


def _group(
    match: str,
    conditions: Sequence[MetricCondition | ConditionGroup],
    facts: WindowFacts,
    coverage: float,
    measured_only: bool,
) -> _Checked:
    if len(conditions) == 1 and not isinstance(conditions[0], ConditionGroup):  # one condition decides alone
        return _condition(conditions[0], facts, coverage, measured_only)
    parts = [
        _group(c.match, c.conditions, facts, coverage, measured_only)
        if isinstance(c, ConditionGroup)
        else _condition(c, facts, coverage, measured_only)
        for c in conditions
    ]
    values = [p.met for p in parts]
    decisive: bool | None
    if match == "all":
        decisive = False if False in values else None if None in values else True
    else:
        decisive = True if True in values else None if None in values else False
    # the notes that explain the verdict: the deciding conditions' (all of them when unknown or all alike)
    chosen = [p for p in parts if p.met is decisive] or parts
    evidence = tuple(e for p in parts for e in p.evidence)
    return _Checked(decisive, evidence, tuple(n for p in chosen for n in p.notes))


def _aggregate(facts: WindowFacts, metric: str) -> Aggregate | None:
    if metric not in DERIVED_METRICS:
        return facts.metrics.get(metric)
    how, sources = DERIVED_METRICS[metric]
    found = [facts.metrics.get(s) for s in sources]
    if any(a is None for a in found):
        return None
    parts = [a for a in found if a is not None]
    if how == "complement":
        base = parts[0]
        return base.model_copy(update={"metric": metric, "mean": None if base.mean is None else 100 - base.mean})
    total, used = parts
    both = total.mean is not None and used.mean is not None
    return _AGGREGATE(
        metric=metric,
        mean=(total.mean or 0) - (used.mean or 0) if both else None,
        samples=min(total.samples, used.samples),
        estimated=total.estimated + used.estimated,
        missing=total.missing + used.missing,
        scopes=min(total.scopes, used.scopes),
        days=min(total.days, used.days),
        unweighted=max(total.unweighted, used.unweighted),
    )


def _condition(cond: MetricCondition, facts: WindowFacts, coverage: float, measured_only: bool) -> _Checked:
    threshold = cond.threshold
    assert threshold is not None  # an enabled rule has every value (checked when the pack is loaded)
    if cond.aggregate == "hours_above":
        return _hours(cond, threshold, facts, coverage, measured_only)
    agg = _aggregate(facts, cond.metric)
    value = None if agg is None else agg.mean if cond.aggregate == "mean" else agg.max
    why = ""
    if agg is None or agg.samples == 0:
        why = f"no samples of {cond.metric} in {facts.label}"
    elif measured_only and agg.estimated:
        why = f"{agg.estimated} of {agg.samples} samples of {cond.metric} are estimates, not measurements"
    elif agg.unweighted:
        why = f"{agg.unweighted} server(s) without a capacity figure to weigh {cond.metric} by"
    elif value is None:
        why = f"no figure of {cond.metric} in {facts.label}"
    elif agg.days < coverage * facts.days:
        why = f"samples of {cond.metric} on only {agg.days} of {facts.days} days (coverage {coverage:.0%} needed)"
    met = None if why else COMPARE[cond.op](value, threshold)  # type: ignore[arg-type]
    evidence = _EVIDENCE(
        metric=cond.metric,
        aggregate=cond.aggregate,
        window_start=facts.start,
        window_end=facts.end,
        value=value,
        comparison=cond.op,
        threshold=threshold,
        met=met,
        samples=agg.samples if agg else 0,
        estimated=agg.estimated if agg else 0,
        missing=agg.missing if agg else 0,
    )
    note = why or f"{cond.metric} {cond.aggregate} {_shown(value, cond)} {SYMBOL[cond.op]} {_shown(threshold, cond)}"
    if not why and not met:
        note = f"{cond.metric} {cond.aggregate} {_shown(value, cond)} not {SYMBOL[cond.op]} {_shown(threshold, cond)}"
    return _Checked(met, (evidence,), (note,))


def _hours(
    cond: MetricCondition, threshold: float, facts: WindowFacts, coverage: float, measured_only: bool
) -> _Checked:
    assert cond.k is not None
    hours = facts.hours(cond.metric, cond.k)
    window_hours = round((facts.end - facts.start).total_seconds() / 3600)
    met: bool | None = None
    why = ""
    if hours is None or hours.samples == 0:
        why = f"no samples of {cond.metric} in {facts.label}"
    elif measured_only and hours.estimated:
        why = f"{hours.estimated} of {hours.samples} samples of {cond.metric} are estimates, not measurements"
    else:
        met = COMPARE[cond.op](hours.hours, threshold)
        # hours missing can only hide more such hours: a count already past a "more than" threshold stands
        if not (met and cond.op in ("gt", "ge")) and hours.hours_with_data < coverage * window_hours:
            met = None
            why = (
                f"samples of {cond.metric} in only {hours.hours_with_data} of {window_hours} hours "
                f"(coverage {coverage:.0%} needed)"
            )
    evidence = _EVIDENCE(
        metric=cond.metric,
        aggregate=f"hours_above_80_x{cond.k}",
        window_start=facts.start,
        window_end=facts.end,
        value=None if hours is None else float(hours.hours),
        comparison=cond.op,
        threshold=threshold,
        met=met,
        samples=hours.samples if hours else 0,
        estimated=hours.estimated if hours else 0,
        missing=hours.missing if hours else 0,
    )
    count = 0 if hours is None else hours.hours
    note = why or (
        f"{count} hour(s) with >= {cond.k} samples of {cond.metric} above 80%"
        f" {'' if met else 'not '}{SYMBOL[cond.op]} {threshold:g}"
    )
    return _Checked(met, (evidence,), (note,))


def _shown(value: float | None, cond: MetricCondition) -> str:
    if value is None:
        return "-"
    unit = cond.unit or "percent"
    if unit in ("GiB", "TiB"):
        return f"{value / UNIT_FACTOR[unit]:.3g} {unit}"
    return f"{value:.2f}%" if unit == "percent" else f"{value:.0f}"


# -- idle -------------------------------------------------------------------------------------------------------------


def _idle(pack: Pack, rule: IdleRule, period: Month, system: SystemFacts, scope: ScopeFacts) -> Evaluation:
    window = (period.label, period.window.start, period.window.end)
    as_of = period.last_day
    act = scope.activity
    metric = "stopped_days" if rule.signal == "stopped" else "quiet_days"
    why = ""
    event: dt.date | None = None
    if act is None or act.observed_until is None:
        why = "no measurements of this cloud to tell activity from"
    elif act.observed_until < as_of:
        why = f"the cloud's measurements end on {act.observed_until}, before the period's last day {as_of}"
    elif act.last_seen is None:
        why = "no samples of this scope at all: nothing to tell from"
    elif rule.signal == "stopped":
        event = act.last_seen
    elif act.activity_from is None:
        why = "disk writes and network traffic are not measured for this scope"
    else:
        event = act.last_active or act.activity_from - dt.timedelta(days=1)
    if event is None:
        evidence = _days_evidence(metric, rule=rule, window=window, event=None, limit=0.0, met=None)
        unknown = _Checked(None, (evidence,), (why,))
        return _evaluation(pack, rule=rule, system=system, scope=scope, window=window, checked=unknown)
    end = _period_end(event, rule.duration)
    days, limit = (as_of - event).days, (end - event).days
    met = days > limit if rule.op == "gt" else days >= limit
    evidence = _days_evidence(
        metric, rule=rule, window=window, event=event, limit=float(limit), met=met, days=float(days)
    )
    what = "stopped" if rule.signal == "stopped" else "no writes or network"
    note = f"{what} since {event + dt.timedelta(days=1)}: {days} days {'' if met else 'not '}{SYMBOL[rule.op]} {limit}"
    checked = _Checked(met, (evidence,), (note,))
    return _evaluation(pack, rule=rule, system=system, scope=scope, window=window, checked=checked)


def _days_evidence(
    metric: str,
    *,
    rule: IdleRule,
    window: tuple[str, dt.datetime, dt.datetime],
    event: dt.date | None,
    limit: float,
    met: bool | None,
    days: float | None = None,
) -> Evidence:
    start = window[1] if event is None else _midnight(event + dt.timedelta(days=1))
    return _EVIDENCE(
        metric=metric,
        aggregate="days",
        window_start=min(start, window[2]),
        window_end=window[2],
        value=days,
        comparison=rule.op,
        threshold=limit,
        met=met,
    )


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=CST).astimezone(dt.UTC)
