"""The jobs that read the clouds: a reconcile of one cloud, a hypervisor sweep of one cloud.

Plain functions of their dependencies (the runtime, the cloud's settings, a stop event, the metrics), so tests call
them directly. A stop event is checked at each safe point (before listing, before a sweep): on SIGTERM a job stops
there instead of starting more work; what it already read is still recorded. No store transaction is open while a
cloud is read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runner import Done, check_stop
from controlplane.clock import Clock
from controlplane.config import CloudSettings, HypervisorHost
from controlplane.reconcile.service import reconcile_clouds
from controlplane.runtime import Runtime
from controlplane.usage import record_sweep
from controlplane.usage_collect import plan_hosts
from controlplane.usage_sweep import HypervisorCollector, open_collector

RECONCILE_ACTOR = "agent:reconcile"
OpenCollector = Callable[[CloudSettings, list[HypervisorHost], Clock], HypervisorCollector]


def reconcile_job(
    rt: Runtime,
    cloud: CloudSettings,
    *,
    stop: threading.Event,
    metrics: AgentMetrics,
    monotonic: Callable[[], float] = time.monotonic,
) -> Done:
    """Reconcile one cloud as ``yunguan reconcile CLOUD`` does (``reconcile.service``): desired from the ledger, the
    inventory, the run recorded with its diff, the cloud's operation records copied into the operation log. The
    safe point is before the listing; once the cloud is read, the run is recorded."""

    def progress(step: str) -> None:
        if step.endswith(": listing"):
            check_stop(stop, "listing")

    check_stop(stop, "listing")
    began = monotonic()
    done = reconcile_clouds(rt, [cloud.name], RECONCILE_ACTOR, progress=progress)
    summary = done.summary
    result = summary.results[0]
    counts = summary.counts()[cloud.name]
    metrics.reconciled(cloud.name, monotonic() - began, counts, result.complete)
    drift = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
    detail = (
        f"run {summary.run_id}: {summary.status}, drift {drift} ({len(summary.new)} new, "
        f"{len(summary.resolved)} resolved), {result.api_calls} API calls, "
        f"{done.pulled.get(cloud.name, 0)} operation records"
    )
    if not result.complete:
        detail += f"; partial: {'; '.join(result.problems)[:500]}"
    return Done(detail)


@dataclass
class SweepState:
    """What a cloud's sweeps keep between runs: the collector (links and the previous readings rates need), the
    hosts it was opened for, and how many sweeps it has done (guest agents are asked every ``agent_every``th)."""

    collector: HypervisorCollector | None = None
    hosts: tuple[HypervisorHost, ...] = ()
    sweeps: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Close the collector; False (left open) when a sweep still holds it after ``timeout_s``: a drain that
        timed out must not wait on a hung sweep (its threads are daemons, gone with the process)."""
        if not self.lock.acquire(timeout=timeout_s):
            return False
        try:
            if self.collector is not None:
                self.collector.close()
            self.collector = None
            self.hosts = ()
            self.sweeps = 0
        finally:
            self.lock.release()
        return True


def sweep_job(
    rt: Runtime,
    cloud: CloudSettings,
    state: SweepState,
    *,
    stop: threading.Event,
    metrics: AgentMetrics,
    open_hypervisors: OpenCollector = open_collector,
    monotonic: Callable[[], float] = time.monotonic,
) -> Done:
    """One sweep of a cloud's hypervisors with the collector kept in ``state``, stored with its samples. The host
    list is planned again each time (discovery); when it changes the collector is opened anew (rates start over)."""
    settings = cloud.hypervisors
    if settings is None:
        return Done("no hypervisors configured")
    check_stop(stop, "planning the hosts")
    plan = plan_hosts(cloud, rt.clock)
    if not plan.hosts:
        raise RuntimeError(f"cloud {cloud.name}: no hypervisor to sweep ({plan.problem or 'none configured'})")
    check_stop(stop, "the sweep")
    with state.lock:
        if state.collector is None or state.hosts != plan.hosts:
            if state.collector is not None:
                state.collector.close()
            state.collector = open_hypervisors(cloud, list(plan.hosts), rt.clock)
            state.hosts, state.sweeps = plan.hosts, 0
        ask = state.sweeps % settings.agent_every == 0
        began = monotonic()
        sweep = state.collector.sweep(ask_agents=ask)
        state.sweeps += 1
    seconds = monotonic() - began
    with rt.engine.begin() as conn:
        record_sweep(conn, sweep)
    failed = [h for h in sweep.hosts if not h.ok]
    metrics.swept(cloud.name, seconds, len(sweep.hosts), len(failed))
    detail = (
        f"{len(sweep.hosts) - len(failed)}/{len(sweep.hosts)} hosts, {sum(h.domains for h in sweep.hosts)} domains, "
        f"{len(sweep.samples)} samples{', guest agents asked' if ask else ''}, {seconds:.1f} s"
    )
    if failed:
        detail += "; failed: " + "; ".join(h.error for h in failed)[:500]
    if sweep.unknown_domains:
        detail += f"; {len(sweep.unknown_domains)} unknown domains"
    if plan.problem:
        detail += f"; discovery: {plan.problem[:300]}"
    return Done(detail)
