"""The agent's Prometheus metrics, in a registry of its own (passed down, never the library's global one).

Jobs report what they did (reconcile duration and drift per cloud and class, sweep duration and failed hosts); the
runner counts runs, failures and skipped overlaps per job; the health probe refreshes what lives in the store
(findings by state, actions by state) so a scrape never waits on the database.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from controlplane.policy.model import FindingState

DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.job_runs = Counter("yunguan_job_runs", "Job runs, per job", ["job"], registry=r)
        self.job_failures = Counter("yunguan_job_failures", "Job runs that failed, per job", ["job"], registry=r)
        self.job_skipped = Counter(
            "yunguan_job_skipped",
            "Job runs not started because the previous one was still running",
            ["job"],
            registry=r,
        )
        self.job_duration = Histogram(
            "yunguan_job_duration_seconds", "Job run duration", ["job"], buckets=DURATION_BUCKETS, registry=r
        )
        self.job_last_success = Gauge(
            "yunguan_job_last_success_timestamp_seconds",
            "When each job last succeeded (Unix time)",
            ["job"],
            registry=r,
        )
        self.runs_unrecorded = Gauge(
            "yunguan_job_runs_unrecorded",
            "Job runs waiting to be written to the store (it was unreachable)",
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "yunguan_reconcile_duration_seconds",
            "Reconcile duration per cloud (listing, records pull, recording)",
            ["cloud"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.drift = Gauge(
            "yunguan_drift", "Drift found by the latest reconcile, per cloud and class", ["cloud", "class"], registry=r
        )
        self.reconcile_complete = Gauge(
            "yunguan_reconcile_complete",
            "1 when the latest reconcile listed the cloud completely, 0 when partial",
            ["cloud"],
            registry=r,
        )
        self.sweep_duration = Histogram(
            "yunguan_sweep_duration_seconds",
            "Hypervisor sweep duration per cloud",
            ["cloud"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.sweep_hosts = Gauge("yunguan_sweep_hosts", "Hosts in the latest sweep, per cloud", ["cloud"], registry=r)
        self.sweep_failed_hosts = Gauge(
            "yunguan_sweep_failed_hosts", "Hosts that failed in the latest sweep, per cloud", ["cloud"], registry=r
        )
        self.findings = Gauge("yunguan_findings", "Findings per state", ["state"], registry=r)
        self.actions = Gauge("yunguan_actions", "Enforcement actions per state (outcome)", ["state"], registry=r)
        self.database_up = Gauge("yunguan_database_up", "1 when the latest store probe answered", registry=r)
        self.ready = Gauge("yunguan_ready", "1 when the agent reports ready", registry=r)

    def job_done(self, job: str, ok: bool, seconds: float, finished_ts: float) -> None:
        self.job_runs.labels(job).inc()
        self.job_duration.labels(job).observe(seconds)
        if ok:
            self.job_last_success.labels(job).set(finished_ts)
        else:
            self.job_failures.labels(job).inc()

    def reconciled(self, cloud: str, seconds: float, counts: Mapping[str, int], complete: bool) -> None:
        self.reconcile_duration.labels(cloud).observe(seconds)
        for drift_class, n in counts.items():
            self.drift.labels(cloud, drift_class).set(n)
        self.reconcile_complete.labels(cloud).set(1 if complete else 0)

    def swept(self, cloud: str, seconds: float, hosts: int, failed: int) -> None:
        self.sweep_duration.labels(cloud).observe(seconds)
        self.sweep_hosts.labels(cloud).set(hosts)
        self.sweep_failed_hosts.labels(cloud).set(failed)

    def store_counts(self, findings: Mapping[str, int], actions: Mapping[str, int]) -> None:
        """Findings per state (every state shown, 0 included) and actions per state, as counted in the store."""
        for known in FindingState:
            self.findings.labels(known.value).set(findings.get(known.value, 0))
        for name, n in findings.items():
            self.findings.labels(name).set(n)
        self.actions.clear()
        for name, n in actions.items():
            self.actions.labels(name).set(n)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's value (tests and the readiness body): ``name`` as exposed, e.g. ``yunguan_job_runs_total``."""
        return self.registry.get_sample_value(name, dict(labels or {}))
