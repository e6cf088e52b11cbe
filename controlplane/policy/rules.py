"""The rule types a pack is made of, as pydantic models with a ``type`` literal, parsed as a discriminated union.

- ``threshold``: conditions on an aggregate of a metric over a window (the calendar month or the weeks ending in
  it, UTC+8), combined with ``all`` or ``any`` and nestable, e.g. Suining 14 "storage < 40%, or < 60% with more than
  1 TB free";
- ``idle``: a server or system stopped (no samples at all) or quiet (no writes and no network: "no business data")
  for longer than a period;
- ``monitoring``: when a system starts being evaluated (Suining 14: after 3 months of stable operation).

Thresholds follow the text's words exactly: "低于" is ``lt``, "及以下" ``le``, "高于"/"超过" ``gt``, "达…以上" ``ge``.
Values are in the metric's own unit (percent 0-100, bytes) unless ``unit`` says otherwise; 1 TB is read as 1 TiB,
as the ledger reads "GB" as GiB.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from controlplane.domain import Frozen
from controlplane.policy.model import Duration, EscalationStep, Outcome

Op = Literal["lt", "le", "gt", "ge"]
Unit = Literal["percent", "bytes", "GiB", "TiB", "hours"]
UNIT_FACTOR: dict[str, float] = {"percent": 1, "bytes": 1, "GiB": 1024**3, "TiB": 1024**4, "hours": 1}
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$", max_length=100)]

# metric -> its kind; what the usage rollups hold (``controlplane.usage``)
BASE_METRICS: dict[str, str] = {
    "cpu_percent": "percent",
    "memory_percent": "percent",
    "disk_percent": "percent",
    "disk_used_bytes": "bytes",
    "disk_total_bytes": "bytes",
    "memory_bytes": "bytes",
}
# derived metric -> (how, its sources): computed by the engine from the base metrics' aggregates
DERIVED_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cpu_idle_percent": ("complement", ("cpu_percent",)),  # 100 - mean: the idle share (Chongqing 17)
    "memory_idle_percent": ("complement", ("memory_percent",)),
    "disk_idle_percent": ("complement", ("disk_percent",)),
    "disk_free_bytes": ("difference", ("disk_total_bytes", "disk_used_bytes")),  # Suining 14 "剩余空间"
}
Metric = Literal[
    "cpu_percent",
    "memory_percent",
    "disk_percent",
    "disk_used_bytes",
    "disk_total_bytes",
    "memory_bytes",
    "cpu_idle_percent",
    "memory_idle_percent",
    "disk_idle_percent",
    "disk_free_bytes",
]
# the rollups count samples above 80% only (usage_rollup.ABOVE)
HOURS_ABOVE_PERCENT = 80.0


def metric_kind(metric: str) -> str:
    if metric in DERIVED_METRICS:
        how, sources = DERIVED_METRICS[metric]
        return "percent" if how == "complement" else BASE_METRICS[sources[0]]
    return BASE_METRICS[metric]


def base_metrics(metric: str) -> tuple[str, ...]:
    """The rollup metrics a (possibly derived) metric is computed from."""
    return DERIVED_METRICS[metric][1] if metric in DERIVED_METRICS else (metric,)


class MetricCondition(Frozen):
    """One comparison: ``aggregate`` of ``metric`` over the rule's window ``op`` ``value`` (in ``unit``)."""

    name: str | None = Field(default=None, description="to address it in overrides: conditions.<name>.value")
    metric: Metric
    aggregate: Literal["mean", "max", "hours_above"] = Field(
        default="mean",
        description="mean over the window; max: the highest sample; hours_above: hours in which some scope had at "
        "least k samples above 80%",
    )
    op: Op = Field(description="lt 低于, le 及以下, gt 高于/超过, ge 达…以上")
    value: float | None = Field(description="the threshold; null: the deployment must set it (policy.overrides)")
    unit: Unit | None = Field(default=None, description="default: percent for percent metrics, bytes for bytes")
    k: int | None = Field(default=None, ge=1, description="hours_above: samples above 80% within one hour")
    text: str = Field(default="", description="the original words, e.g. CPU平均利用率低于10%")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind = metric_kind(self.metric)
        if self.aggregate == "hours_above":
            if kind != "percent" or self.metric in DERIVED_METRICS:
                raise ValueError("hours_above counts samples of a measured percent metric above 80%")
            if self.k is None:
                raise ValueError("hours_above needs k: the samples above 80% within one hour (Bozhou 26: 3)")
            if self.unit not in (None, "hours"):
                raise ValueError("hours_above counts hours: its unit is hours")
        else:
            if self.k is not None:
                raise ValueError("k is for aggregate hours_above only")
            if self.metric in DERIVED_METRICS and self.aggregate != "mean":
                raise ValueError(f"{self.metric} is derived from means: its aggregate is mean")
            allowed = ("percent",) if kind == "percent" else ("bytes", "GiB", "TiB")
            if self.unit is not None and self.unit not in allowed:
                raise ValueError(f"{self.metric} is in {kind}: unit must be one of {', '.join(allowed)}")
        return self

    @property
    def threshold(self) -> float | None:
        """The value in the metric's own unit (bytes, percent, hours)."""
        if self.value is None:
            return None
        return self.value * UNIT_FACTOR[self.unit or "percent"]


class ConditionGroup(Frozen):
    """Conditions combined: ``all`` must hold, or ``any`` one."""

    match: Literal["all", "any"]
    conditions: tuple[Condition, ...] = Field(min_length=1)


def _condition_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "group" if "conditions" in value else "comparison"
    return "group" if isinstance(value, ConditionGroup) else "comparison"


Condition = Annotated[
    Annotated[MetricCondition, Tag("comparison")] | Annotated[ConditionGroup, Tag("group")],
    Discriminator(_condition_tag),
]
ConditionGroup.model_rebuild()


class BlastRadius(Frozen):
    """How much one enforcement run may touch (Cloud Custodian's max-resources)."""

    max_actions_per_run: int = Field(default=10, ge=0, le=10_000, description="actions one run may carry out")
    max_percent_of_cloud: float = Field(
        default=10, gt=0, le=100, description="percent of a cloud's servers (or namespaces) one run may touch"
    )


class Exemption(Frozen):
    """A system the rules (or some of them) do not apply to, for a reason, until a day (UTC+8, inclusive)."""

    system: str = Field(min_length=1, description="system key (code)")
    rules: tuple[str, ...] = Field(default=(), description="rule ids; empty: every rule of the pack")
    reason: str = Field(min_length=1)
    until: dt.date = Field(description="last day exempted (YYYY-MM-DD, UTC+8)")
    approval: str = Field(default="", description="the approval number or document behind it")

    def covers(self, system: str, rule_id: str, day: dt.date) -> bool:
        return self.system == system and (not self.rules or rule_id in self.rules) and day <= self.until


class _Rule(Frozen):
    id: RuleId
    citation: str = Field(min_length=1, description="city and article, e.g. Suining art. 14")
    text: str = Field(default="", description="the article's own words")
    enabled: bool = True


class _ActionRule(_Rule):
    """What every rule that can break shares."""

    scope: Literal["system", "server"] = Field(
        description="system: the system's servers (or namespaces) on a cloud together, percent metrics weighted by "
        "capacity; server: each server (or namespace) alone"
    )
    outcome: Outcome
    escalation: tuple[EscalationStep, ...] | None = Field(default=None, description="default: the pack's")
    enforce: bool | None = Field(default=None, description="carry out the outcome when enforceable; default: pack's")
    auto: bool | None = Field(default=None, description="approve plans without an operator; default: the pack's")
    systems: tuple[str, ...] | None = Field(default=None, description="only these systems (keys); null: all")
    min_coverage: float | None = Field(
        default=None, gt=0, le=1, description="share of the window's days with samples needed; default: pack's"
    )
    measured_only: bool = Field(default=True, description="unknown when any figure behind it is an estimate")


class ThresholdRule(_ActionRule):
    type: Literal["threshold"]
    window: Literal["month", "week"] = Field(
        description="month: the calendar month (UTC+8); week: each Monday-Sunday week ending in the month"
    )
    match: Literal["all", "any"] = "all"
    conditions: tuple[Condition, ...] = Field(min_length=1)

    def leaves(self) -> list[MetricCondition]:
        found: list[MetricCondition] = []
        stack: list[MetricCondition | ConditionGroup] = list(self.conditions)
        while stack:
            item = stack.pop(0)
            if isinstance(item, ConditionGroup):
                stack[:0] = item.conditions
            else:
                found.append(item)
        return found

    @model_validator(mode="after")
    def _values_set(self) -> Self:
        if self.enabled:
            unset = [i for i, c in enumerate(self.leaves()) if c.value is None]
            if unset:
                raise ValueError(
                    f"condition {unset[0]} has no value: the text leaves it to the deployment; set it in "
                    f"policy.overrides.{self.id} (e.g. conditions.{unset[0]}.value) and enable the rule"
                )
        return self


class IdleRule(_ActionRule):
    type: Literal["idle"]
    signal: Literal["stopped", "quiet"] = Field(
        description="stopped: no samples at all (host stopped); quiet: no writes and no network above the pack's "
        "activity thresholds (no business data; a stopped host is quiet too)"
    )
    op: Literal["gt", "ge"] = Field(description="gt: more than the period (超过); ge: the whole period (连续)")
    duration: Duration


class MonitoringRule(_Rule):
    """A system is evaluated only from the first day after ``stable_for`` counted from its stable-since date (the
    ledger's, else its first approval's effective date), for whole windows."""

    type: Literal["monitoring"]
    stable_for: Duration


Rule = Annotated[ThresholdRule | IdleRule | MonitoringRule, Field(discriminator="type")]
ActionRule = ThresholdRule | IdleRule


class Activity(Frozen):
    """What counts as activity ("business data") on a UTC+8 day: the day's mean write rate or network rate (received
    plus sent) above these. The texts set no figure; a deployment tunes them."""

    write_bytes_per_s: float = Field(default=1024, ge=0, description="mean disk writes a day, bytes/s")
    network_bytes_per_s: float = Field(default=1024, ge=0, description="mean network rx+tx a day, bytes/s")
