"""The engine as a pure function of pack, period and facts: verdicts at the edges, unknown on too little data (never
a finding), evidence with every number, monitoring start, exemptions, weeks of a month, and replay from facts."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.policy.evaluate import evaluate, evaluate_run, monitoring_starts
from controlplane.policy.facts import (
    Activity,
    Aggregate,
    Facts,
    HoursAbove,
    Month,
    ScopeFacts,
    SystemFacts,
    WindowFacts,
)
from controlplane.policy.model import Verdict
from controlplane.policy.packs import load_pack

OCT = Month(2026, 10)
SUINING = load_pack("suining")
BOZHOU = load_pack("bozhou")


def month_facts(
    metrics: dict[str, Aggregate], hours: tuple[HoursAbove, ...] = (), label: str = "2026-10"
) -> WindowFacts:
    window = OCT.window
    return WindowFacts(label=label, start=window.start, end=window.end, metrics=metrics, hours_above=hours)


def agg(metric: str, mean: float | None, **kw: int | float) -> Aggregate:
    values: dict[str, int | float | None] = {"max": mean, "samples": 8928, "days": 31, "scopes": 2} | kw
    return Aggregate(metric=metric, mean=mean, **values)  # type: ignore[arg-type]


def system(*windows: WindowFacts, activity: Activity | None = None, **kw: object) -> SystemFacts:
    scope = ScopeFacts(cloud="c", kind="system", id="S-1", windows={w.label: w for w in windows}, activity=activity)
    values: dict[str, object] = {"key": "S-1", "stable_since": dt.date(2026, 1, 1), "scopes": (scope,)} | kw
    return SystemFacts.model_validate(values)


def verdicts(facts: SystemFacts, pack=SUINING, period: Month = OCT) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {e.rule_id: e.verdict.value for e in evaluate(pack, period, [facts])}


@pytest.mark.parametrize(("mean", "verdict"), [(10.0, "clear"), (9.999, "finding"), (10.001, "clear")])
def test_low_cpu_edge(mean: float, verdict: str) -> None:
    """Suining 14 "低于10%": exactly 10% is not low."""
    assert verdicts(system(month_facts({"cpu_percent": agg("cpu_percent", mean)})))["suining-14-low-cpu"] == verdict


def test_a_finding_carries_every_number_it_rests_on() -> None:
    """Evidence: metric, aggregate, window, value, comparison, threshold, samples, estimates, missing."""
    facts = system(month_facts({"cpu_percent": agg("cpu_percent", 4.5, samples=8000, missing=12)}))
    found = next(e for e in evaluate(SUINING, OCT, [facts]) if e.rule_id == "suining-14-low-cpu")
    assert (found.verdict, found.period, found.citation, found.outcome.value) == (
        Verdict.FINDING,
        "2026-10",
        "Suining art. 14",
        "downsize",
    )
    (evidence,) = found.evidence
    assert (evidence.metric, evidence.aggregate, evidence.value, evidence.comparison, evidence.threshold) == (
        "cpu_percent",
        "mean",
        4.5,
        "lt",
        10,
    )
    assert (evidence.samples, evidence.estimated, evidence.missing, evidence.met) == (8000, 0, 12, True)
    assert evidence.window_start == dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)  # Oct 1 00:00 UTC+8
    assert found.reason == "cpu_percent mean 4.50% < 10.00%"


@pytest.mark.parametrize(
    ("aggregate", "why"),
    [
        (None, "no samples of cpu_percent in 2026-10"),
        (agg("cpu_percent", None, samples=0, days=0, missing=300), "no samples of cpu_percent in 2026-10"),
        (agg("cpu_percent", 3.0, estimated=1), "1 of 8928 samples of cpu_percent are estimates"),
        (agg("cpu_percent", 3.0, days=15), "samples of cpu_percent on only 15 of 31 days (coverage 50% needed)"),
        (agg("cpu_percent", 3.0, unweighted=1), "1 server(s) without a capacity figure"),
    ],
)
def test_too_little_data_is_unknown_never_a_finding(aggregate: Aggregate | None, why: str) -> None:
    """No samples, any estimate, under half the month's days, a server that cannot be weighed: unknown, with why."""
    metrics = {"cpu_percent": aggregate} if aggregate else {}
    found = next(e for e in evaluate(SUINING, OCT, [system(month_facts(metrics))]) if e.rule_id == "suining-14-low-cpu")
    assert found.verdict is Verdict.UNKNOWN
    assert why in found.reason


def test_configured_coverage_is_used() -> None:
    """policy.min_coverage 0.9: 27 of 31 days is too few."""
    strict = load_pack("suining", min_coverage=0.9)
    facts = system(month_facts({"cpu_percent": agg("cpu_percent", 3.0, days=27)}))
    assert verdicts(facts, strict)["suining-14-low-cpu"] == "unknown"
    assert verdicts(facts)["suining-14-low-cpu"] == "finding"


def test_any_of_with_one_branch_met_is_a_finding_even_if_another_is_unknown() -> None:
    """Storage 30% is low whatever the free space; 50% without free-space figures cannot be told."""
    low = verdicts(system(month_facts({"disk_percent": agg("disk_percent", 30.0)})))
    assert low["suining-14-low-storage"] == "finding"
    mid = verdicts(system(month_facts({"disk_percent": agg("disk_percent", 50.0)})))
    assert mid["suining-14-low-storage"] == "unknown"
    # all-of: one condition clearly not met is clear, whatever the other
    assert mid["suining-14-high-storage"] == "clear"


def test_free_space_is_capacity_minus_use_across_the_systems_servers() -> None:
    """disk_free_bytes = mean disk_total_bytes - mean disk_used_bytes (summed over servers): 1.5 TiB free."""
    tib = 1024**4
    metrics = {
        "disk_percent": agg("disk_percent", 50.0),
        "disk_total_bytes": agg("disk_total_bytes", 3.0 * tib),
        "disk_used_bytes": agg("disk_used_bytes", 1.5 * tib, estimated=2),
    }
    found = next(
        e for e in evaluate(SUINING, OCT, [system(month_facts(metrics))]) if e.rule_id == "suining-14-low-storage"
    )
    free = next(e for e in found.evidence if e.metric == "disk_free_bytes")
    assert (free.value, free.threshold, free.estimated) == (1.5 * tib, tib, 2)
    assert found.verdict is Verdict.UNKNOWN  # an estimate of use is no measurement


def test_monitoring_starts_three_months_after_stable_operation() -> None:
    """Stable since 2026-07-01: 3 months end 2026-10-01, monitoring from 2026-10-02: October is left out, November
    is evaluated; the skip says why."""
    facts = system(month_facts({"cpu_percent": agg("cpu_percent", 3.0)}), stable_since=dt.date(2026, 7, 1))
    assert monitoring_starts(SUINING, facts) == dt.date(2026, 10, 2)
    run = evaluate_run(SUINING, OCT, [facts])
    assert run.evaluations == ()
    assert run.skipped[0].reason == "not monitored before 2026-10-02 (stable since 2026-07-01; Suining art. 14)"
    assert monitoring_starts(BOZHOU, facts) is None  # Bozhou's text sets no start


def test_an_exemption_in_force_leaves_the_rule_out_until_it_expires() -> None:
    """Exempted until 2026-10-31: October not evaluated; until 2026-10-30: evaluated again."""
    facts = system(month_facts({"cpu_percent": agg("cpu_percent", 3.0)}))
    exemption = {"system": "S-1", "rules": ["suining-14-low-cpu"], "reason": "迁移中", "until": "2026-10-31"}
    run = evaluate_run(load_pack("suining", exemptions=[exemption]), OCT, [facts])
    assert "suining-14-low-cpu" not in {e.rule_id for e in run.evaluations}
    assert run.skipped[0].reason == "exempted until 2026-10-31: 迁移中"
    expired = load_pack("suining", exemptions=[exemption | {"until": "2026-10-30"}])
    assert verdicts(facts, expired)["suining-14-low-cpu"] == "finding"


def test_weeks_are_evaluated_in_the_month_they_end_in() -> None:
    """October 2026: the weeks ending Oct 4, 11, 18 and 25; the one ending Nov 1 belongs to November."""
    assert [w.label for w in OCT.weeks()] == ["2026-W40", "2026-W41", "2026-W42", "2026-W43"]
    assert Month(2026, 11).weeks()[0].label == "2026-W44"
    assert OCT.weeks()[0].monday == dt.date(2026, 9, 28)


def test_peaks_within_an_hour_allow_expansion() -> None:
    """Bozhou 26: one hour with 3 samples above 80% makes a server eligible, per week; the evidence counts hours."""
    week = OCT.weeks()[1]
    memory = Aggregate(metric="memory_percent", mean=40, max=95, samples=2016, days=7, scopes=1)
    disk = Aggregate(metric="disk_percent", mean=10, max=10, samples=2016, days=7, scopes=1)
    hours = HoursAbove(metric="memory_percent", k=3, hours=1, hours_with_data=168, samples=2016)
    facts = WindowFacts(
        label=week.label,
        start=week.window.start,
        end=week.window.end,
        metrics={"memory_percent": memory, "disk_percent": disk},
        hours_above=(hours,),
    )
    server = ScopeFacts(cloud="c", kind="server", id="vm-1", windows={week.label: facts})
    found = [
        e for e in evaluate(BOZHOU, OCT, [SystemFacts(key="S-1", scopes=(server,))]) if e.rule_id == "bozhou-26-expand"
    ]
    assert [(e.period, e.verdict.value) for e in found] == [
        ("2026-W40", "unknown"),
        ("2026-W41", "finding"),
        ("2026-W42", "unknown"),
        ("2026-W43", "unknown"),
    ]
    peaks = next(e for e in found[1].evidence if e.aggregate == "hours_above_80_x3")
    assert (peaks.value, peaks.comparison, peaks.threshold, peaks.met) == (1.0, "ge", 1.0, True)


def test_idle_rules_count_months_from_the_last_active_day() -> None:
    """Bozhou 26(二)2: last active 2026-07-30 is more than 3 months quiet by 2026-10-31; the evidence counts days."""
    quiet = Activity(
        last_seen=dt.date(2026, 10, 31),
        last_active=dt.date(2026, 7, 30),
        activity_from=dt.date(2026, 1, 1),
        observed_until=dt.date(2026, 10, 31),
    )
    server = ScopeFacts(cloud="c", kind="server", id="vm-1", activity=quiet)
    (found,) = [
        e
        for e in evaluate(BOZHOU, OCT, [SystemFacts(key="S-1", scopes=(server,))])
        if e.rule_id == "bozhou-26-reduce-idle"
    ]
    assert found.verdict is Verdict.FINDING
    (days,) = found.evidence
    assert (days.metric, days.value, days.comparison, days.threshold) == ("quiet_days", 93.0, "gt", 92.0)
    assert found.reason == "no writes or network since 2026-07-31: 93 days > 92"


def test_a_replay_from_the_facts_json_gives_the_same_evaluations() -> None:
    """Facts are plain data: dumped to JSON and read back, they evaluate to the same result."""
    facts = Facts(
        pack="suining",
        period="2026-10",
        gathered_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        systems=(system(month_facts({"cpu_percent": agg("cpu_percent", 3.0)})),),
    )
    again = Facts.model_validate_json(facts.model_dump_json())
    assert evaluate(SUINING, OCT, again.systems) == evaluate(SUINING, OCT, facts.systems)
