"""A pack in words, Chinese or English, with its citations: "CPU 月平均利用率低于 10%" / "monthly mean CPU use
below 10%" (``yunguan policy explain``; the report and notices may use ``condition_text`` and ``rule_text``)."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.i18n import Lang
from controlplane.policy.model import Duration, EscalationStep
from controlplane.policy.packs import Pack
from controlplane.policy.rules import (
    UNIT_FACTOR,
    ActionRule,
    ConditionGroup,
    MetricCondition,
    MonitoringRule,
    ThresholdRule,
    metric_kind,
)

# metric -> ((zh before the aggregate, zh after), en)
METRIC_WORDS: dict[str, tuple[tuple[str, str], str]] = {
    "cpu_percent": (("CPU ", "利用率"), "CPU use"),
    "memory_percent": (("内存", "利用率"), "memory use"),
    "disk_percent": (("存储", "利用率"), "storage use"),
    "cpu_idle_percent": (("CPU ", "闲置比例"), "idle share of CPU"),
    "memory_idle_percent": (("内存", "闲置比例"), "idle share of memory"),
    "disk_idle_percent": (("存储", "闲置比例"), "idle share of storage"),
    "disk_free_bytes": (("", "剩余存储空间"), "free storage"),
    "disk_used_bytes": (("", "已用存储空间"), "used storage"),
    "disk_total_bytes": (("", "存储总容量"), "storage capacity"),
    "memory_bytes": (("", "内存用量"), "memory used"),
}
AGGREGATE_WORDS = {
    ("mean", "month"): ("月平均", "monthly mean"),
    ("mean", "week"): ("周平均", "weekly mean"),
    ("max", "month"): ("月峰值", "monthly peak"),
    ("max", "week"): ("周峰值", "weekly peak"),
}
OP_WORDS = {
    "percent": {
        "lt": ("低于", "below"),
        "le": ("不高于", "at most"),
        "gt": ("高于", "above"),
        "ge": ("不低于", "at least"),
    },
    "bytes": {
        "lt": ("小于", "below"),
        "le": ("不大于", "at most"),
        "gt": ("大于", "above"),
        "ge": ("不小于", "at least"),
    },
    "hours": {
        "lt": ("少于", "fewer than"),
        "le": ("不多于", "at most"),
        "gt": ("多于", "more than"),
        "ge": ("不少于", "at least"),
    },
}
OUTCOME_WORDS = {
    "downsize": ("核减（降配）", "downsize"),
    "reclaim": ("回收", "reclaim"),
    "freeze": ("暂停冻结", "freeze"),
    "expand-eligible": ("可申请扩容（仅通知）", "may expand (a notice only)"),
}
SCOPE_WORDS = {
    "system": ("按系统（其在一个云平台上的云主机合计）", "per system (its servers on a cloud together)"),
    "server": ("按云主机（或命名空间）逐个", "per server (or namespace)"),
}
STEP_WORDS = {"reminded": ("提醒", "reminder"), "urged": ("督促", "urging"), "enforceable": ("可执行", "enforceable")}


def _pick(words: tuple[str, str], lang: Lang) -> str:
    return words[0] if lang == "zh" else words[1]


def _value(cond: MetricCondition, lang: Lang) -> str:
    if cond.value is None:
        return "（由部署设定）" if lang == "zh" else "(set by the deployment)"
    if cond.aggregate == "hours_above":
        return f"{cond.value:g}"
    unit = cond.unit or ("percent" if metric_kind(cond.metric) == "percent" else "bytes")
    if unit == "percent":
        return f"{cond.value:g}%"
    if unit == "bytes" and cond.value >= UNIT_FACTOR["GiB"]:
        return f"{cond.value / UNIT_FACTOR['GiB']:g} GiB"
    return f"{cond.value:g} {unit if unit != 'bytes' else 'B'}"


def condition_text(cond: MetricCondition, window: str, lang: Lang) -> str:
    """One condition in words, e.g. "CPU 月平均利用率低于 10%"."""
    (before, after), english = METRIC_WORDS[cond.metric]
    if cond.aggregate == "hours_above":
        span = ("一周" if window == "week" else "一个月", "week" if window == "week" else "month")
        op = _pick(OP_WORDS["hours"][cond.op], lang)
        if lang == "zh":
            return (
                f"{span[0]}内{op} {_value(cond, lang)} 个小时，{before}{after}在一小时内超过 80% 达 {cond.k} 次及以上"
            )
        return f"{op} {_value(cond, lang)} hour(s) in the {span[1]} with {cond.k} or more {english} samples above 80%"
    kind = "percent" if metric_kind(cond.metric) == "percent" else "bytes"
    op = _pick(OP_WORDS[kind][cond.op], lang)
    aggregate = _pick(AGGREGATE_WORDS[cond.aggregate, window], lang)
    if lang == "zh":
        return f"{before}{aggregate}{after}{op} {_value(cond, lang)}"
    return f"{aggregate} {english} {op} {_value(cond, lang)}"


def _conditions(items: Sequence[MetricCondition | ConditionGroup], match: str, window: str, lang: Lang) -> str:
    parts = []
    for item in items:
        if isinstance(item, ConditionGroup):
            inner = _conditions(item.conditions, item.match, window, lang)
            parts.append(f"（{inner}）" if lang == "zh" else f"({inner})")
        else:
            parts.append(condition_text(item, window, lang))
    joiner = {("all", "zh"): "，且", ("any", "zh"): "，或", ("all", "en"): " and ", ("any", "en"): ", or "}
    return joiner[match, lang].join(parts)


def duration_text(period: Duration, lang: Lang, more_than: bool = True) -> str:
    """A period in words: "超过 1 个月" / "more than 1 month(s)"; zero: "当日" / "the same day"."""
    if not any(v for v in (period.days, period.months, period.working_days)):
        return "当日" if lang == "zh" else "the same day"
    if period.months is not None:
        amount = (f"{period.months} 个月", f"{period.months} month(s)")
    elif period.working_days is not None:
        amount = (f"{period.working_days} 个工作日", f"{period.working_days} working day(s)")
    else:
        amount = (f"{period.days} 天", f"{period.days} day(s)")
    if lang == "zh":
        return f"超过 {amount[0]}" if more_than else amount[0]
    return f"more than {amount[1]}" if more_than else amount[1]


def escalation_text(steps: Sequence[EscalationStep], lang: Lang) -> str:
    """The steps in words: "当日提醒 → 超过 1 个月后督促 → 超过 5 个工作日后可执行"."""
    if not steps:
        return "无（仅通知）" if lang == "zh" else "none (a notice only)"
    parts = []
    for step in steps:
        name = _pick(STEP_WORDS[step.to], lang)
        zero = not any(v for v in (step.after.days, step.after.months, step.after.working_days))
        when = duration_text(step.after, lang)
        if lang == "zh":
            parts.append(f"{when}{name}" if zero else f"{when}后{name}")
        else:
            parts.append(f"{name} {when}" if zero else f"{name} {when} later")
    return " → ".join(parts)


def rule_text(rule: ActionRule, lang: Lang) -> str:
    """What breaks the rule, in words, with its scope."""
    colon = "：" if lang == "zh" else ": "
    scope = _pick(SCOPE_WORDS[rule.scope], lang)
    if isinstance(rule, ThresholdRule):
        return f"{scope}{colon}{_conditions(rule.conditions, rule.match, rule.window, lang)}"
    what = {
        ("stopped", "zh"): "停止运行（没有任何样本）",
        ("quiet", "zh"): "没有写入和网络流量（未产生业务数据）",
        ("stopped", "en"): "stopped (no samples at all) for",
        ("quiet", "en"): "no writes or network traffic (no business data) for",
    }[rule.signal, lang]
    if rule.op == "gt":
        span = duration_text(rule.duration, lang)
    elif lang == "zh":
        span = f"连续满 {duration_text(rule.duration, lang, more_than=False)}"
    else:
        span = f"a whole {duration_text(rule.duration, lang, more_than=False)}"
    return f"{scope}{colon}{what}{span}" if lang == "zh" else f"{scope}{colon}{what} {span}"


def explain(pack: Pack, lang: Lang) -> str:
    """The whole pack as readable text."""
    zh = lang == "zh"
    lines = [f"{pack.city} — {pack.document}", ""]
    if pack.notes:
        lines += [pack.notes, ""]
    monitoring = pack.monitoring
    if monitoring is not None:
        span = duration_text(monitoring.stable_for, lang, False)
        lines.append(
            f"监测起点：系统稳定运行满 {span}后才评估（{monitoring.citation}）"
            if zh
            else f"Monitoring: a system is evaluated after {span} of stable operation ({monitoring.citation})"
        )
    else:
        lines.append(
            "监测起点：本规则包的原文未规定，系统有数据即评估"
            if zh
            else "Monitoring: the text sets no start; a system is evaluated once it has figures"
        )
    coverage = f"{pack.min_coverage:.0%}"
    lines.append(
        f"数据要求：窗口内至少 {coverage} 的天数有实测样本，含估算值、无样本或覆盖不足时结论为“未知”，不产生问题"
        if zh
        else f"Data: samples on at least {coverage} of a window's days, all measured; otherwise the verdict is "
        "unknown, never a finding"
    )
    radius = pack.blast_radius
    lines.append(
        f"执行：{'自动执行' if pack.enforce else '仅生成方案'}；{'方案自动批准' if pack.auto else '方案需人工批准'}；"
        f"每次最多 {radius.max_actions_per_run} 项操作，不超过一个云平台资源的 {radius.max_percent_of_cloud:g}%"
        if zh
        else f"Enforcement: {'carried out' if pack.enforce else 'plans only'}; "
        f"{'plans approved automatically' if pack.auto else 'plans approved by an operator'}; at most "
        f"{radius.max_actions_per_run} actions a run, {radius.max_percent_of_cloud:g}% of a cloud's resources"
    )
    lines.append(termination_text(pack, lang))
    if not pack.action_rules and not [r for r in pack.rules if not isinstance(r, MonitoringRule)]:
        lines += ["", "本规则包没有可评估的规则。" if zh else "This pack has no rules to evaluate."]
    for rule in pack.rules:
        if isinstance(rule, MonitoringRule):
            continue
        lines += ["", _rule_block(rule, lang)]
    if pack.exemptions:
        lines += ["", "豁免：" if zh else "Exemptions:"]
        for e in pack.exemptions:
            which = ", ".join(e.rules) or ("全部规则" if zh else "every rule")
            lines.append(
                f"  {e.system}（{which}）至 {e.until}：{e.reason}"
                if zh
                else f"  {e.system} ({which}) until {e.until}: {e.reason}"
            )
    return "\n".join(lines)


def termination_text(pack: Pack, lang: Lang) -> str:
    """The pack's termination periods in words, with their citation."""
    terms = pack.termination
    months = terms.request_within_months
    if lang == "zh":
        request = f"停止使用后 {months} 个月内申请，逾期通报审计和财政" if months is not None else "申请期限未规定"
        return f"服务终止：{request}；批准后过渡期 {terms.transition_months} 个月，期满方可清除数据（{terms.citation}）"
    request = (
        f"request within {months} month(s) of stopping use, late requests reported to audit and finance"
        if months is not None
        else "no request deadline"
    )
    return (
        f"Termination: {request}; a {terms.transition_months}-month transition after approval before any wipe "
        f"({terms.citation})"
    )


def _rule_block(rule: ActionRule, lang: Lang) -> str:
    zh = lang == "zh"
    head = f"{rule.id}  [{rule.citation}]  → {_pick(OUTCOME_WORDS[rule.outcome.value], lang)}"
    if not rule.enabled:
        head += "  （未启用）" if zh else "  (disabled)"
    lines = [head, f"  {rule_text(rule, lang)}"]
    if rule.text:
        lines.append(f"  原文：{rule.text}" if zh else f"  text: {rule.text}")
    if rule.systems is not None:
        listed = ", ".join(rule.systems) or ("（部署未列出任何系统）" if zh else "(none listed by the deployment)")
        lines.append(f"  仅适用于：{listed}" if zh else f"  applies only to: {listed}")
    steps = escalation_text(rule.escalation or (), lang)
    lines.append(f"  升级：{steps}" if zh else f"  escalation: {steps}")
    flags = (
        f"  执行：{'是' if rule.enforce else '否'}；自动批准：{'是' if rule.auto else '否'}"
        if zh
        else f"  enforce: {'yes' if rule.enforce else 'no'}; auto-approve: {'yes' if rule.auto else 'no'}"
    )
    lines.append(flags)
    return "\n".join(lines)
