"""The agent's jobs called directly, on SQLite and PostgreSQL with a fixed clock (no scheduler, no sleeping): each
does its work and its run is recorded in ``job_runs``; a failing job is recorded (error redacted and cut), counted,
and the next run works; a job still running is not started again."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from controlplane.agent.cloud_jobs import SweepState, reconcile_job, sweep_job
from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runner import Done, JobRunner
from controlplane.agent.runs import RunRecorder, recent_runs
from controlplane.agent.schedule import JobSpec, build_scheduler
from controlplane.agent.store_jobs import checkpoint_job, evaluate_job, rollup_job, tick_job
from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST, Clock, FixedClock
from controlplane.config import CloudSettings, HypervisorHost
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.policy import transitions
from controlplane.policy.findings import get_finding
from controlplane.policy.model import Duration, EscalationStep, Evaluation, Evidence, FindingState, Outcome, Verdict
from controlplane.policy.notices.outbox import DeliveryReport
from controlplane.policy.packs import load_pack
from controlplane.reconcile import service
from controlplane.reconcile.observed import Inventory
from controlplane.redaction import Redactor
from controlplane.runtime import Runtime
from controlplane.store.tables import job_runs, reconcile_runs, usage_hourly, usage_sweeps
from controlplane.usage import UsageSample, write_samples
from controlplane.usage_sweep import HostResult, SweepResult

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
STEPS = (
    EscalationStep(to="reminded", after=Duration(days=0), citation="Chongqing art. 17"),
    EscalationStep(to="urged", after=Duration(months=1), citation="Chongqing art. 17"),
)


def escalation_of(rule_id: str) -> tuple[EscalationStep, ...]:
    if rule_id != "cq-17-idle-cpu":
        raise KeyError(rule_id)
    return STEPS


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """The runtime with the demo ledger imported."""
    with runtime.engine.begin() as conn:
        sync_clouds(conn, runtime.configured_clouds(), runtime.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(EXAMPLES / "ledger-demo.csv"), load_clouds(conn))
        apply_batch(conn, batch, runtime.audit, "operator:test", runtime.clock.now())
    return runtime


@pytest.fixture
def metrics() -> AgentMetrics:
    return AgentMetrics()


@pytest.fixture
def runner(rt: Runtime, metrics: AgentMetrics) -> JobRunner:
    return JobRunner(RunRecorder(rt.engine), rt.clock, rt.redactor, metrics, error_chars=200)


def runs_of(rt: Runtime, job: str) -> list[tuple[bool, str, str | None]]:
    with rt.engine.connect() as conn:
        return [(r.ok, r.detail, r.error) for r in reversed(recent_runs(conn, job))]


def cloud_named(rt: Runtime, name: str) -> CloudSettings:
    return next(c for c in rt.settings.clouds if c.name == name)


class FakeInventory:
    """An OpenStack that lists nothing, completely: every approved system of the ledger is missing there."""

    def __init__(self, cloud: CloudSettings, clock: Clock, **_store: object) -> None:
        self.cloud = cloud
        self.clock = clock

    def take(self) -> Inventory:
        return Inventory(cloud=self.cloud.name, taken_at=self.clock.now(), complete=True, api_calls=3)


def test_reconcile_job_records_a_run(
    rt: Runtime, runner: JobRunner, metrics: AgentMetrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconcile job of one cloud records a reconcile run, the job run, its duration and drift per class."""
    monkeypatch.setattr(service, "open_source", FakeInventory)
    cloud = cloud_named(rt, "yunguan-local")
    stop = threading.Event()
    run = runner.run("reconcile:yunguan-local", lambda: reconcile_job(rt, cloud, stop=stop, metrics=metrics))
    assert run is not None and run.ok, run
    assert run.detail.startswith("run 1: ok, drift ") and "3 API calls" in run.detail
    with rt.engine.connect() as conn:
        assert conn.execute(select(reconcile_runs.c.status)).scalars().all() == ["ok"]
    assert runs_of(rt, "reconcile:yunguan-local") == [(True, run.detail, None)]
    assert metrics.value("yunguan_reconcile_duration_seconds_count", {"cloud": "yunguan-local"}) == 1
    assert metrics.value("yunguan_reconcile_complete", {"cloud": "yunguan-local"}) == 1
    assert (metrics.value("yunguan_drift", {"cloud": "yunguan-local", "class": "under"}) or 0) > 0
    assert metrics.value("yunguan_job_runs_total", {"job": "reconcile:yunguan-local"}) == 1


def test_reconcile_job_stops_at_a_safe_point(rt: Runtime, runner: JobRunner, metrics: AgentMetrics) -> None:
    """Asked to stop before it listed anything, the job lists nothing, records no reconcile run, and its job run
    says why without counting as a failure."""
    stop = threading.Event()
    stop.set()
    cloud = cloud_named(rt, "yunguan-local")
    run = runner.run("reconcile:x", lambda: reconcile_job(rt, cloud, stop=stop, metrics=metrics))
    assert run is not None and run.ok and "stopped before listing" in run.detail
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reconcile_runs)).scalar() == 0
    assert metrics.value("yunguan_job_failures_total", {"job": "reconcile:x"}) is None


def test_rollup_job_rolls_up(rt: Runtime, runner: JobRunner, clock: FixedClock) -> None:
    """Samples of an hour that is over are rolled up, and the run says how many hours."""
    hour = clock.now().replace(minute=0) - dt.timedelta(hours=1)
    samples = [
        UsageSample(
            cloud="yunguan-local",
            scope_kind="server",
            scope_id="vm-1",
            metric="cpu_percent",
            value=Decimal(v),
            time=hour + dt.timedelta(minutes=5 * i),
            source="libvirt",
        )
        for i, v in enumerate(("10", "20", "30"))
    ]
    with rt.engine.begin() as conn:
        write_samples(conn, samples)
    run = runner.run("rollup", lambda: rollup_job(rt, stop=threading.Event()))
    assert run is not None and run.ok
    assert run.detail.startswith("1 hours (1 rows)")
    with rt.engine.connect() as conn:
        assert conn.execute(select(usage_hourly.c.mean, usage_hourly.c.n)).one() == (20, 3)


def evaluation(verdict: Verdict, period: str) -> Evaluation:
    year, month = (int(p) for p in period.split("-"))
    start = dt.datetime(year, month, 1, tzinfo=CST)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CST)
    return Evaluation(
        pack="chongqing",
        rule_id="cq-17-idle-cpu",
        citation="Chongqing art. 17",
        system="ZW-001",
        cloud="yunguan-local",
        scope_kind="system",
        scope_id="ZW-001",
        outcome=Outcome.DOWNSIZE,
        verdict=verdict,
        period=period,
        window_start=start,
        window_end=end,
        evidence=(
            Evidence(
                metric="cpu_percent",
                aggregate="mean",
                window_start=start,
                window_end=end,
                value=4.2,
                comparison="lt",
                threshold=10,
                met=True,
                samples=720,
            ),
        ),
    )


def test_tick_job_moves_a_finding(rt: Runtime, runner: JobRunner, clock: FixedClock) -> None:
    """A finding opened by an evaluation is reminded by the next daily tick, its notice queued and delivered."""
    calendar = WorkingCalendar()
    with rt.engine.begin() as conn:
        opened = transitions.record_evaluations(
            conn, rt.audit, [evaluation(Verdict.FINDING, "2026-10")], escalation_of, clock.now(), "agent:test"
        )
    finding_id = opened.changes[0].finding_id
    clock.advance(dt.timedelta(days=1))
    delivered: list[int] = []

    def deliver(_rt: Runtime) -> DeliveryReport:
        delivered.append(1)
        return DeliveryReport()

    run = runner.run(
        "tick",
        lambda: tick_job(rt, escalation_of=escalation_of, calendar=calendar, stop=threading.Event(), deliver=deliver),
    )
    assert run is not None and run.ok, run
    assert run.detail.startswith("findings: remind 1; 1 notices queued; notices 0 delivered")
    assert delivered == [1]
    with rt.engine.connect() as conn:
        found = get_finding(conn, finding_id)
    assert found is not None and found.state is FindingState.REMINDED


def test_tick_job_with_a_finding_that_cannot_move_fails_the_run(rt: Runtime, runner: JobRunner) -> None:
    """A due finding of a rule no pack knows stays put and fails the run, naming it; the next run says it again."""
    with rt.engine.begin() as conn:
        transitions.record_evaluations(
            conn, rt.audit, [evaluation(Verdict.FINDING, "2026-10")], escalation_of, rt.clock.now(), "agent:test"
        )

    def unknown(rule_id: str) -> tuple[EscalationStep, ...]:
        raise KeyError(rule_id)

    assert isinstance(rt.clock, FixedClock)
    rt.clock.advance(dt.timedelta(days=1))
    for _ in range(2):
        runner.run(
            "tick",
            lambda: tick_job(
                rt,
                escalation_of=unknown,
                calendar=WorkingCalendar(),
                stop=threading.Event(),
                deliver=lambda _rt: DeliveryReport(),
            ),
        )
    ran = runs_of(rt, "tick")
    assert [ok for ok, _, _ in ran] == [False, False]
    assert (ran[0][2] or "").startswith("JobProblemError: could not move: chongqing/cq-17-idle-cpu/ZW-001/")


def test_evaluate_job_covers_the_previous_month_once(rt: Runtime, runner: JobRunner) -> None:
    """On a day of November the job evaluates October once; the next day it leaves October alone."""
    pack = load_pack("chongqing")

    def work() -> Done:
        return evaluate_job(
            rt,
            job="evaluate",
            pack=pack,
            escalation_of=escalation_of,
            calendar=WorkingCalendar(),
            stop=threading.Event(),
        )

    first = runner.run("evaluate", work)
    assert first is not None and first.ok, first
    assert first.period == "2026-10" and first.detail.startswith("2026-10, pack chongqing: ")
    again = runner.run("evaluate", work)
    assert again is not None and again.ok and again.detail == "2026-10 already evaluated" and again.period is None


def test_checkpoint_job_signs(rt: Runtime, runner: JobRunner) -> None:
    """The daily job signs the head; the log still verifies with the new checkpoint."""
    run = runner.run("checkpoint", lambda: checkpoint_job(rt, job_runs_days=90, stop=threading.Event()))
    assert run is not None and run.ok, run
    with rt.engine.connect() as conn:
        head = read_head(conn)
        checkpoints = read_checkpoints(conn)
        assert head is not None
        assert [c.seq for c in checkpoints if c.kind == "daily"] == [head[0]]
        report = verify(iter_events(conn), checkpoints, rt.signer.public, head)
    assert report.ok
    assert run.detail.startswith(f"checkpoint at seq {head[0]}; 0 events past the retention purged")


def refuse(message: str) -> None:
    raise ConnectionError(message)


def test_failing_job_is_recorded_counted_and_the_next_run_works(
    rt: Runtime, runner: JobRunner, metrics: AgentMetrics
) -> None:
    """A job that raises is a failed run (error with its cause, secrets masked, cut to error_chars), counted; the
    agent goes on and the next run of the same job works."""
    secret = "hunter2-db-password"
    runner.redactor = Redactor([secret])
    calls: list[int] = []

    def flaky() -> Done:
        calls.append(1)
        if len(calls) == 1:
            try:
                refuse(f"postgresql://yunguan:{secret}@db/yunguan refused")
            except ConnectionError as exc:
                raise RuntimeError("listing failed " + "x" * 500) from exc
        return Done("fine")

    failed = runner.run("flaky", flaky)
    assert failed is not None and not failed.ok
    ok = runner.run("flaky", flaky)
    assert ok is not None and ok.ok
    ran = runs_of(rt, "flaky")
    assert [r[0] for r in ran] == [False, True]
    error = ran[0][2] or ""
    assert error.startswith("RuntimeError: listing failed xxx") and error.endswith("…") and len(error) == 200
    assert secret not in error
    assert metrics.value("yunguan_job_runs_total", {"job": "flaky"}) == 2
    assert metrics.value("yunguan_job_failures_total", {"job": "flaky"}) == 1
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(job_runs)).scalar() == 2


def test_cause_is_recorded_within_the_cut(rt: Runtime, runner: JobRunner) -> None:
    """The error text names the cause under the exception, redacted."""
    runner.redactor = Redactor(["s3cret-token"])

    def fails() -> Done:
        try:
            refuse("token s3cret-token rejected")
        except OSError as exc:
            raise RuntimeError("cloud unreadable") from exc

    runner.run("x", fails)
    assert runs_of(rt, "x")[0][2] == "RuntimeError: cloud unreadable <- ConnectionError: token *** rejected"


def test_a_running_job_is_not_started_again(rt: Runtime, runner: JobRunner, metrics: AgentMetrics) -> None:
    """While a run is held (an Event), another run of the same job returns at once, skipped and counted; another
    job runs meanwhile; once released the job runs again."""
    entered, release = threading.Event(), threading.Event()

    def held() -> Done:
        entered.set()
        assert release.wait(30)
        return Done("held")

    first = threading.Thread(target=runner.run, args=("held", held))
    first.start()
    assert entered.wait(30)
    assert runner.run("held", lambda: Done("second")) is None
    assert metrics.value("yunguan_job_skipped_total", {"job": "held"}) == 1
    other = runner.run("other", lambda: Done("other"))
    assert other is not None and other.ok
    assert runner.running == frozenset({"held"})
    release.set()
    first.join(30)
    assert runner.wait_idle(5)
    again = runner.run("held", lambda: Done("again"))
    assert again is not None and again.detail == "again"
    assert [d for _, d, _ in runs_of(rt, "held")] == ["held", "again"]


def test_the_scheduler_does_not_overlap_a_job(runner: JobRunner) -> None:
    """On the real scheduler, a job asked to run again while its run is held is refused by max_instances=1."""
    entered, release, refused = threading.Event(), threading.Event(), threading.Event()
    calls: list[int] = []

    def held() -> Done:
        calls.append(1)
        entered.set()
        assert release.wait(30)
        return Done("held")

    spec = JobSpec("held", "rollup", IntervalTrigger(hours=1, timezone=CST), held, start_now=True)
    scheduler = build_scheduler([spec], runner, workers=4, now=lambda: dt.datetime.now(CST))

    def on_refused(event: JobExecutionEvent) -> None:
        if event.job_id == "held":
            refused.set()

    scheduler.add_listener(on_refused, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        assert entered.wait(30)
        scheduler.modify_job("held", next_run_time=dt.datetime.now(CST))
        assert refused.wait(30)
        assert calls == [1]
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    assert calls == [1]


class FakeCollector:
    """A hypervisor collector that counts its sweeps (the agent keeps one per cloud between sweeps)."""

    opened = 0

    def __init__(self, cloud: CloudSettings, hosts: list[HypervisorHost], clock: Clock) -> None:
        FakeCollector.opened += 1
        self.cloud, self.hosts, self.clock = cloud, hosts, clock
        self.asked: list[bool] = []
        self.closed = False

    def sweep(self, *, ask_agents: bool, progress: object = None) -> SweepResult:
        self.asked.append(ask_agents)
        now = self.clock.now()
        hosts = tuple(HostResult(h.name, ok=h.name != "dead", domains=2) for h in self.hosts)
        return SweepResult(cloud=self.cloud.name, started=now, finished=now, samples=(), hosts=hosts)

    def close(self) -> None:
        self.closed = True


def test_sweep_job_keeps_its_collector_and_asks_agents_every_nth(rt: Runtime, metrics: AgentMetrics) -> None:
    """Three sweeps share one collector; guest agents are asked on the first and every agent_every-th; each sweep
    is stored; a failed host shows in the metrics; closing the state closes the collector."""
    cloud = CloudSettings.model_validate(
        {
            **cloud_named(rt, "yunguan-local").model_dump(),
            "hypervisors": {
                "hosts": [{"name": "cmp-1", "uri": "test:///default"}, {"name": "dead", "uri": "test:///x"}],
                "agent_every": 2,
            },
        }
    )
    state = SweepState()
    FakeCollector.opened = 0
    details = [
        sweep_job(rt, cloud, state, stop=threading.Event(), metrics=metrics, open_hypervisors=FakeCollector).detail
        for _ in range(3)
    ]
    assert FakeCollector.opened == 1
    collector = state.collector
    assert isinstance(collector, FakeCollector)
    assert collector.asked == [True, False, True]
    assert details[0].startswith("1/2 hosts, 4 domains, 0 samples, guest agents asked")
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(usage_sweeps)).scalar() == 3
    assert metrics.value("yunguan_sweep_failed_hosts", {"cloud": "yunguan-local"}) == 1
    assert metrics.value("yunguan_sweep_duration_seconds_count", {"cloud": "yunguan-local"}) == 3
    state.close()
    assert collector.closed and state.collector is None
