"""Regulation packs: every shipped pack loads; errors name the pack, the rule, the field and the YAML line; a
deployment's overrides are checked the same way and named by their config key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.config import ConfigError, PolicySettings, load_settings
from controlplane.policy.model import Outcome
from controlplane.policy.packs import PackError, escalations, load_pack, pack_names, pack_schema, parse_pack
from controlplane.policy.rules import IdleRule, ThresholdRule

GOOD_RULE = """
  - id: test-1-cpu
    type: threshold
    citation: Test art. 1
    scope: system
    window: month
    outcome: downsize
    conditions:
      - {metric: cpu_percent, aggregate: mean, op: lt, value: 10}
"""


def pack_text(rules: str = GOOD_RULE, head: str = "") -> str:
    return f"pack: test\ncity: 测试 Test\ndocument: 测试办法\n{head}rules:{rules}"


def problems(text: str) -> list[str]:
    with pytest.raises(PackError) as err:
        parse_pack(text, "test.yaml")
    return err.value.problems


def test_every_shipped_pack_loads_and_cites_its_city() -> None:
    """The four jurisdictions load; every rule cites the pack's city and an article."""
    assert pack_names() == ["bozhou", "chongqing", "jiuquan", "suining"]
    for name in pack_names():
        pack = load_pack(name)
        city = name.capitalize()
        for rule in pack.rules:
            assert rule.id.startswith(f"{name}-")
            assert rule.citation.startswith(city) and "art." in rule.citation, rule.citation


def test_suining_thresholds_read_as_the_text_says() -> None:
    """低于 is lt, 高于/超过 gt, 达…以上 ge, 大于 gt, 小于 lt; 1 TB is 1 TiB."""
    pack = load_pack("suining")
    low_cpu = pack.rule("suining-14-low-cpu")
    assert isinstance(low_cpu, ThresholdRule)
    ops = {
        r.id: [(c.metric, c.op, c.threshold) for c in r.leaves()]
        for r in pack.action_rules
        if isinstance(r, ThresholdRule)
    }
    assert ops["suining-14-low-cpu"] == [("cpu_percent", "lt", 10)]
    assert ops["suining-14-low-storage"] == [
        ("disk_percent", "lt", 40),
        ("disk_percent", "lt", 60),
        ("disk_free_bytes", "gt", 1024**4),
    ]
    assert ops["suining-14-high-storage"] == [("disk_percent", "ge", 80), ("disk_free_bytes", "lt", 1024**4)]
    assert ops["suining-14-high-memory"] == [("memory_percent", "gt", 80)]
    assert pack.monitoring is not None and pack.monitoring.stable_for.months == 3


def test_bozhou_and_chongqing_read_as_the_text_says() -> None:
    """Bozhou 低于30%及以下 is le; 超过80%达到3次以上 is k=3, at least one hour; Chongqing 17's escalation is 1 month
    then 5 working days; its ratio is the deployment's, so the rules ship disabled."""
    bozhou = load_pack("bozhou")
    reduce = bozhou.rule("bozhou-26-reduce-memory")
    assert isinstance(reduce, ThresholdRule)
    assert [(c.aggregate, c.op, c.value) for c in reduce.leaves()] == [("mean", "le", 30), ("max", "le", 50)]
    expand = bozhou.rule("bozhou-26-expand")
    assert isinstance(expand, ThresholdRule) and expand.match == "any"
    assert [(c.aggregate, c.k, c.op, c.value) for c in expand.leaves()][1] == ("hours_above", 3, "ge", 1)
    idle = bozhou.rule("bozhou-26-reduce-idle")
    assert isinstance(idle, IdleRule) and (idle.op, idle.duration.months, idle.outcome) == ("gt", 3, Outcome.RECLAIM)
    chongqing = load_pack("chongqing")
    assert chongqing.action_rules == []
    steps = chongqing.escalation
    assert [(s.to, s.after.days, s.after.months, s.after.working_days) for s in steps] == [
        ("reminded", 0, None, None),
        ("urged", None, 1, None),
        ("enforceable", None, None, 5),
    ]
    assert load_pack("jiuquan").rules == ()


def test_rules_inherit_the_packs_escalation_and_switches() -> None:
    """A rule without escalation, enforce, auto or min_coverage takes the pack's; its own wins."""
    head = "enforce: true\nmin_coverage: 0.8\nescalation:\n  - {to: reminded, after: {days: 3}}\n"
    own = GOOD_RULE.replace("test-1-cpu", "test-2-cpu") + "    enforce: false\n    escalation: []\n"
    pack = parse_pack(pack_text(GOOD_RULE + own, head), "t.yaml")
    first, second = pack.action_rules
    assert (first.enforce, first.min_coverage, len(first.escalation or ())) == (True, 0.8, 1)
    assert (second.enforce, second.min_coverage, second.escalation) == (False, 0.8, ())


def test_a_bad_operator_names_pack_rule_field_and_line() -> None:
    """An operator the schema does not know: file:line, pack, rule and the field path."""
    found = problems(pack_text(GOOD_RULE.replace("op: lt", "op: below")))
    expected = "test.yaml:12: pack test: rule test-1-cpu: conditions.0.op: Input should be 'lt', 'le', 'gt' or 'ge' "
    assert found == [expected + '(got "below")']


def test_an_unknown_rule_type_and_a_missing_field_are_named() -> None:
    """A misspelt type says which types exist; a threshold rule without a window says so."""
    typo = problems(pack_text(GOOD_RULE.replace("type: threshold", "type: thresold")))
    assert typo[0].startswith("test.yaml:5: pack test: rule test-1-cpu: ")
    assert "'threshold', 'idle', 'monitoring'" in typo[0]
    missing = problems(pack_text(GOOD_RULE.replace("    window: month\n", "")))
    assert missing == ["test.yaml:5: pack test: rule test-1-cpu: window: Field required"]


def test_inconsistent_conditions_are_refused_with_the_reason() -> None:
    """hours_above needs k; a derived metric takes means only; a percent is not in TiB; a period has one unit."""
    no_k = problems(pack_text(GOOD_RULE.replace("aggregate: mean", "aggregate: hours_above")))
    assert "conditions.0: hours_above needs k" in no_k[0]
    derived = problems(pack_text(GOOD_RULE.replace("cpu_percent, aggregate: mean", "disk_free_bytes, aggregate: max")))
    assert "disk_free_bytes is derived from means" in derived[0]
    unit = problems(pack_text(GOOD_RULE.replace("value: 10}", "value: 10, unit: TiB}")))
    assert "cpu_percent is in percent: unit must be one of percent" in unit[0]
    head = "escalation:\n  - {to: urged, after: {months: 1, days: 2}}\n"
    assert "exactly one unit" in problems(pack_text(GOOD_RULE, head))[0]


def test_rule_ids_are_unique_and_carry_the_pack_name() -> None:
    """Two rules with one id, or an id of another pack, are refused."""
    twice = problems(pack_text(GOOD_RULE + GOOD_RULE))
    assert twice == ["test.yaml: pack test: rule ids must be unique; repeated: test-1-cpu"]
    foreign = problems(pack_text(GOOD_RULE.replace("test-1-cpu", "other-1-cpu")))
    assert "rule ids start with the pack's name (test-): other-1-cpu" in foreign[0]


def test_a_rule_left_to_the_deployment_needs_its_value_when_enabled() -> None:
    """Chongqing's redundancy ratio: enabling the rule without a value names the override key to set."""
    with pytest.raises(PackError) as err:
        load_pack("chongqing", {"chongqing-17-idle-cpu": {"enabled": True}})
    assert err.value.problems[0].startswith("policy.overrides.chongqing-17-idle-cpu: pack chongqing: condition 0 has")
    pack = load_pack("chongqing", {"chongqing-17-idle-cpu": {"enabled": True, "conditions.redundancy.value": 25}})
    rule = pack.rule("chongqing-17-idle-cpu")
    assert isinstance(rule, ThresholdRule) and rule.leaves()[0].value == 25 and rule in pack.action_rules


def test_overrides_are_named_by_their_config_key() -> None:
    """An unknown rule, a path that does not exist, a bad value or field: each named policy.overrides.RULE.FIELD."""
    with pytest.raises(PackError) as err:
        load_pack("suining", {"suining-99": {"enabled": False}, "suining-14-low-cpu": {"conditions.3.value": 1}})
    assert err.value.problems[0].startswith("policy.overrides.suining-99: pack suining has no rule 'suining-99'")
    assert (
        err.value.problems[1]
        == "policy.overrides.suining-14-low-cpu.conditions.3.value: index 3 is beyond the 1 item(s)"
    )
    with pytest.raises(PackError) as err:
        load_pack(
            "suining", {"suining-14-low-cpu": {"conditions.0.op": "below", "bogus": 1}, "pack": {"min_coverage": 2}}
        )
    assert err.value.problems == [
        "policy.overrides.pack.min_coverage: pack suining: Input should be less than or equal to 1",
        (
            "policy.overrides.suining-14-low-cpu.conditions.0.op: pack suining: Input should be 'lt', 'le', 'gt' or "
            "'ge' (got \"below\")"
        ),
        "policy.overrides.suining-14-low-cpu.bogus: pack suining: Extra inputs are not permitted",
    ]


def test_config_selects_a_pack_and_refuses_a_bad_override(tmp_path: Path) -> None:
    """policy: pack, overrides, exemptions, calendar_file are checked when the config loads; errors name the key."""
    good = tmp_path / "good.yaml"
    good.write_text(
        "policy:\n  pack: suining\n  overrides:\n    suining-14-low-cpu: {conditions.0.value: 5}\n"
        "  exemptions:\n    - {system: S-1, reason: 试点, until: 2026-12-31}\n",
        encoding="utf-8",
    )
    assert load_settings(good).policy.pack == "suining"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "policy:\n  pack: suining\n  overrides:\n    suining-14-low-cpu: {conditions.0.op: x}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"policy\.overrides\.suining-14-low-cpu\.conditions\.0\.op"):
        load_settings(bad)
    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text("policy:\n  pack: atlantis\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no pack named 'atlantis'"):
        load_settings(nowhere)
    calendar = tmp_path / "calendar.yaml"
    calendar.write_text("holidays: [2027-13-01]\n", encoding="utf-8")
    cal_config = tmp_path / "cal.yaml"
    cal_config.write_text(f"policy:\n  calendar_file: {calendar}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"holidays\[0\]: not a date"):
        load_settings(cal_config)


def test_schema_is_a_discriminated_union_on_type() -> None:
    """The exported JSON schema knows the three rule types by their type literal."""
    schema = pack_schema()
    text = json.dumps(schema)
    assert schema["title"] == "yunguan regulation pack"
    for name in ("ThresholdRule", "IdleRule", "MonitoringRule", "MetricCondition", "ConditionGroup"):
        assert name in schema["$defs"]
    assert '"propertyName": "type"' in text


def test_escalations_take_the_configured_pack_first_then_every_shipped_one() -> None:
    """A rule's escalation comes from the configured pack with its overrides; rules of packs not configured still
    have theirs; a rule no pack knows is a KeyError."""
    step = {"to": "reminded", "after": {"days": 5}, "citation": "Suining art. 14"}
    policy = PolicySettings(pack="suining", overrides={"pack": {"escalation": [step]}})
    escalation_of = escalations(policy)
    assert [(str(s.to), s.after.days) for s in escalation_of("suining-14-low-cpu")] == [("reminded", 5)]
    assert escalation_of("suining-14-high-cpu") == ()  # the rule's own (empty) escalation wins over the pack's
    shipped = load_pack("bozhou")
    expected = shipped.rule("bozhou-26-reduce-memory").escalation or shipped.escalation
    assert escalation_of("bozhou-26-reduce-memory") == expected
    assert escalations(PolicySettings())("suining-14-low-cpu") == load_pack("suining").escalation
    with pytest.raises(KeyError):
        escalation_of("nowhere-1")
