"""From findings to plans: for each downsize or freeze finding that is urged or enforceable, the action that would
carry it out, sized from the finding's window (``rightsizing``) and recorded for approval (``enforce.plan``).

A plan is made before the deadline so the unit and the operator see it (and an operator can approve it ahead);
the executor acts only once every guard agrees. Reclaim belongs to termination, expand-eligible is a notice: neither
is planned here. A finding that cannot be sized (no measured peak, no smaller flavor, no actuator) gets no plan,
and the report says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Connection

from controlplane.audit.log import AuditLog
from controlplane.clock import Clock
from controlplane.ledger.store import approved_at
from controlplane.policy import enforce
from controlplane.policy.actuation import ActionKind, ActionSpec, Actuator, ActuatorError
from controlplane.policy.deadlines import cst_date
from controlplane.policy.findings import Finding, findings
from controlplane.policy.model import FindingState, Outcome
from controlplane.policy.packs import Pack
from controlplane.policy.rightsizing import Measured, Targets, choose_flavor, choose_quota, monthly_saving_fen
from controlplane.usage_query import Selection, Window, peak, summary

PLANNED_STATES = (FindingState.URGED, FindingState.ENFORCEABLE)


@dataclass
class PlanReport:
    planned: list[str] = field(default_factory=list)  # action keys
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (finding key, why no plan)


def measured(conn: Connection, selection: Selection, window: Window) -> Measured:
    """Mean and peak CPU and memory % of the scope over the finding's window, from the rollups."""

    def pair(metric: str) -> tuple[float | None, float | None]:
        return summary(conn, selection, metric, window).mean, peak(conn, selection, metric, window).value

    cpu_mean, cpu_peak = pair("cpu_percent")
    mem_mean, mem_peak = pair("memory_percent")
    return Measured(cpu_mean, cpu_peak, mem_mean, mem_peak)


def _server_spec(
    conn: Connection, finding: Finding, actuator: Actuator, targets: Targets, prices: Mapping[str, int]
) -> tuple[ActionSpec | None, dict[str, object], str]:
    cloud = finding.cloud or ""
    if finding.outcome is Outcome.FREEZE:
        return ActionSpec(kind=ActionKind.STOP_SERVER, cloud=cloud, target=finding.scope_id), {}, ""
    current = actuator.size(finding.scope_id)
    if current is None:
        return None, {}, "the server is not on the cloud any more"
    window = Window(finding.window_start, finding.window_end)
    figures = measured(conn, Selection.scope(cloud, "server", finding.scope_id), window)
    sized = choose_flavor(current, actuator.flavors(), figures, targets)
    if sized.target is None:
        return None, {}, sized.reason
    detail: dict[str, object] = {
        "before": current.name,
        "after": sized.target.name,
        "why": sized.reason,
        "cpu_mean_after": sized.new_cpu_mean,
        "cpu_peak_after": sized.new_cpu_peak,
        "measured": {"cpu_mean": figures.cpu_mean, "cpu_peak": figures.cpu_peak, "memory_peak": figures.memory_peak},
        "saving_fen_month": monthly_saving_fen(current, sized.target, dict(prices)),
    }
    spec = ActionSpec(kind=ActionKind.RESIZE_SERVER, cloud=cloud, target=finding.scope_id, flavor=sized.target.name)
    return spec, detail, ""


def _namespace_spec(
    conn: Connection, finding: Finding, targets: Targets, clock: Clock
) -> tuple[ActionSpec | None, dict[str, object], str]:
    """A namespace's quota: its approval shrunk to the window's peak use (cores and bytes, measured) over the
    target utilization."""
    cloud = finding.cloud or ""
    approvals = [
        a for a in approved_at(conn, cst_date(clock.now())) if a.system.key == finding.system and a.cloud == cloud
    ]
    if len(approvals) != 1:
        return None, {}, "no single approval in force to shrink"
    current = approvals[0].revision.allocation.quantities
    window = Window(finding.window_start, finding.window_end)
    selection = Selection.scope(cloud, "namespace", finding.scope_id)
    cores = peak(conn, selection, "cpu_cores", window).value
    memory = peak(conn, selection, "memory_bytes", window).value
    if cores is None or memory is None or current.vcpu <= 0 or current.memory_bytes <= 0:
        return None, {}, "no measured peak for CPU and memory"
    figures = Measured(None, cores / float(current.vcpu) * 100, None, memory / current.memory_bytes * 100)
    target = choose_quota(current, figures, targets)
    if target is None:
        return None, {}, "the quota would not shrink"
    detail: dict[str, object] = {
        "before": {"vcpu": str(current.vcpu), "memory_bytes": current.memory_bytes},
        "after": {"vcpu": str(Decimal(target.vcpu)), "memory_bytes": target.memory_bytes},
        "measured": {"cpu_cores_peak": cores, "memory_bytes_peak": memory},
    }
    spec = ActionSpec(kind=ActionKind.SET_NAMESPACE_QUOTA, cloud=cloud, target=finding.scope_id, quantities=target)
    return spec, detail, ""


def plan_findings(
    conn: Connection,
    audit: AuditLog,
    pack: Pack,
    actuators: Mapping[str, Actuator],
    clock: Clock,
    *,
    actor: str,
    targets: Targets | None = None,
    prices: Mapping[str, int] | None = None,
) -> PlanReport:
    """Plan every urged or enforceable downsize/freeze finding of the pack (once each: a plan is keyed)."""
    report = PlanReport()
    targets = targets or Targets()
    for state in PLANNED_STATES:
        for finding in findings(conn, state=state):
            if finding.pack != pack.pack or finding.outcome not in {Outcome.DOWNSIZE, Outcome.FREEZE}:
                continue
            actuator = actuators.get(finding.cloud or "")
            if actuator is None:
                report.skipped.append((finding.key, f"no actuator for cloud {finding.cloud or '(all clouds)'}"))
                continue
            try:
                if finding.scope_kind == "server":
                    spec, detail, why = _server_spec(conn, finding, actuator, targets, prices or {})
                elif finding.scope_kind == "namespace":
                    spec, detail, why = _namespace_spec(conn, finding, targets, clock)
                else:
                    spec, detail, why = None, {}, f"a {finding.scope_kind}-scope finding is not sized automatically"
            except ActuatorError as exc:
                spec, detail, why = None, {}, str(exc)
            if spec is None:
                report.skipped.append((finding.key, why))
                continue
            rule = pack.rule(finding.rule_id)
            key = enforce.plan(
                conn,
                audit,
                finding_id=finding.id,
                finding_key=finding.key,
                rule_id=finding.rule_id,
                spec=spec,
                detail={**detail, "citation": finding.citation},
                now=clock.now(),
                actor=actor,
                auto=bool(getattr(rule, "auto", pack.auto)),
            )
            report.planned.append(key)
    return report
