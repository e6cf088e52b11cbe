"""Issue 7's end-to-end story, against real things only: a PostgreSQL server of the test's own (so it can be stopped
without disturbing any other test), the agent as a process on loopback with the local OpenStack, the local
kube-apiserver and a hosting zone, the demo ledger imported and tokens made with the CLI. A vendor registers its
equipment over the HTTP API, an operator runs ``yunguan reconcile`` and ``yunguan drift`` over the API, then the
database stops for 30 s: readiness falls while liveness holds, requests get a clean 503, and once the database is
back readiness returns by itself with nothing lost (equipment, the run, drift, the operation log's chain, the job
runs of the outage). SIGTERM then drains the agent to exit 0.

The 30 s outage is the issue's real-time requirement, the one fixed wait; everything else polls with a deadline."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kube  # tests/integration/kube.py
import pytest
import yaml
from sqlalchemy import select
from tcp_proxy import free_port
from test_agent_service import STOP_WITHIN_S, Agent, wait_for

from adapters.openstack.inventory import connect
from controlplane.hosting.form import parse_equipment, read_equipment_file
from controlplane.store.engine import make_engine
from controlplane.store.tables import job_runs

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
YUNGUAN = Path(sys.executable).with_name("yunguan")
OUTAGE_S = 30.0
REQUEST_S = 10.0  # an answer during the outage must come well within this: a clean error, not a hang
VENDOR = "某托管服务商"  # hosting-zone's vendor in deploy/examples/yunguan.yaml
RUN = uuid.uuid4().hex[:6]
ROGUE = f"it-e2e-{RUN}"  # it-: the other reconcile tests leave such projects and namespaces out of their sets
STRAY = f"SN-E2E-{RUN}"  # registered for RS-004, in no approval: unapproved


class OwnPostgres:
    """A PostgreSQL server of this test alone: its own data directory, socket directory and loopback port."""

    def __init__(self, root: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not versions:
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql: run `deploy/dev/postgres.sh start`")
        self.bin = versions[-1]
        self.root = root
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        # initdb and postgres refuse to run as root: as root, run them as the packaged postgres user
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [*as_owner, str(self.bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "start", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "-o", options)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.root / "data"), "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        return (self.root / "data" / "postmaster.pid").exists()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    root = Path(tempfile.mkdtemp(prefix="yunguan-e2e-pg-"))  # short: the socket path must fit in 107 bytes
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = OwnPostgres(root)
    server.init()
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def rogue_project(openstack_clouds: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An OpenStack project nobody applied for, deleted afterwards."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(openstack_clouds))
    conn = connect("yunguan-local")
    project = conn.identity.create_project(name=ROGUE, domain_id="default", description="e2e: nobody's")
    try:
        yield ROGUE
    finally:
        conn.identity.delete_project(project, ignore_missing=True)
        conn.close()


@pytest.fixture
def rogue_namespace(kubeconfig: Path) -> Iterator[str]:
    """A Kubernetes namespace nobody applied for, deleted afterwards."""
    cluster = kube.connect(kubeconfig)
    kube.namespace(cluster, ROGUE)
    try:
        yield ROGUE
    finally:
        kube.drop(cluster, ROGUE)


class Cli:
    """``yunguan`` as a process: admin commands on the local store (``--config``), the operator's commands over the
    agent's API (server and token file from the environment, as an operator's shell would have them)."""

    def __init__(self, config: Path, tmp: Path, env: dict[str, str]) -> None:
        self.config = config
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("YUNGUAN_")}
        self.env |= env | {"YUNGUAN_CLIENT_CONFIG": str(tmp / "no-client.yaml")}
        self.server = ""

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(YUNGUAN), "--lang", "en", *args]
        return subprocess.run(
            command, env=self.env | (env or {}), capture_output=True, text=True, check=False, timeout=300
        )

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run("--config", str(self.config), "--actor", "operator:e2e", *args)
        assert done.returncode == 0, f"yunguan {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def token(self, role: str, *scope: str) -> Path:
        """``yunguan token create``: the token (stdout) into a 0600 file named for the role."""
        path = self.tmp / f"{role}.token"
        path.write_text(self.local("token", "create", "--role", role, *scope, "--name", f"e2e-{role}").stdout)
        path.chmod(0o600)
        return path

    def remote(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.server, "the agent's URL first"
        token = self.tmp / "operator.token"
        return self.run(*args, env={"YUNGUAN_SERVER": self.server, "YUNGUAN_TOKEN_FILE": str(token)})


def config_for(state: Path, database: str, kubeconfig: Path) -> dict[str, Any]:
    """The single-node example with the test's database, a free port and the test's kubeconfig. Reconciles are the
    operator's alone here (a day apart, none at start); rollups every 5 s, so jobs run through the outage."""
    clouds = yaml.safe_load((EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8"))["clouds"]
    for cloud in clouds:
        if cloud["kind"] == "kubernetes":
            cloud["kubeconfig"] = str(kubeconfig)
    return {
        "state_dir": str(state),
        "log": {"format": "json"},
        "database": {"url": database},
        "api": {"port": free_port()},
        "agent": {
            "reconcile_every_s": 86_400,
            "start_now": False,
            "rollup_every_s": 5,
            "health_every_s": 0.5,
            "drain_timeout_s": 30,
        },
        "clouds": clouds,
    }


def demo_equipment() -> list[dict[str, Any]]:
    """deploy/examples/equipment-demo.yaml's rows (RS-004's two approved devices) as API bodies."""
    parsed = parse_equipment(read_equipment_file(EXAMPLES / "equipment-demo.yaml"))
    assert not parsed.errors
    return [row.spec.model_dump(mode="json") for row in parsed.rows]


STRAY_BODY = {
    "serial": STRAY,
    "kind": "server",
    "model": "PowerEdge R650",
    "unit": "市人力资源和社会保障局",
    "system": "RS-004",
    "position": {"site": "遂宁数据中心", "room": "3F-301", "rack": "A07", "u_start": 7, "u_height": 1},
    "power_watts": 500,
    "ports": 2,
    "bandwidth_bps": 10_000_000,
    "hosted_since": "2026-11-02",
}


def drift_set(rows: list[dict[str, Any]], cloud: str) -> set[tuple[str, str | None, str, str]]:
    return {
        (r["drift_class"], r["system"], r["resource_kind"], r["resource_name"] or r["resource_id"])
        for r in rows
        if r["cloud"] == cloud
    }


def every_item(api: httpx.Client, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """A list route's items, page after page (``next`` until null)."""
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit=1000"
    while url:
        page = api.get(url, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        url = page.json()["next"]
    return items


def problem_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == answer.status_code and body["type"].startswith("https://yunguan.io/problems/")
    return body


@pytest.mark.postgres
def test_vendor_operator_and_a_database_outage_end_to_end(
    *,
    own_postgres: OwnPostgres,
    openstack_clouds: Path,
    kubeconfig: Path,
    rogue_project: str,
    rogue_namespace: str,
    tmp_path: Path,
) -> None:
    """Equipment registered by the vendor and drift read by the operator over the API; a 30 s database outage
    turns readiness (not liveness) off and requests into 503 problems; afterwards it is all still there, the
    operation log verifies, and SIGTERM drains the agent to exit 0."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        yaml.safe_dump(config_for(tmp_path / "state", own_postgres.url, kubeconfig), allow_unicode=True),
        encoding="utf-8",
    )
    cli = Cli(config, tmp_path, {"OS_CLIENT_CONFIG_FILE": str(openstack_clouds)})
    cli.local("db", "upgrade")
    cli.local("ledger", "import", str(EXAMPLES / "ledger-demo.csv"))
    vendor = {"Authorization": f"Bearer {cli.token('vendor', '--vendor', VENDOR).read_text().strip()}"}
    operator = {"Authorization": f"Bearer {cli.token('operator').read_text().strip()}"}

    agent = Agent(config, cli.env, tmp_path / "agent.log")
    cli.server = agent.url("")
    api = httpx.Client(base_url=agent.url(""), timeout=REQUEST_S)
    try:
        wait_for("/readyz", lambda: agent.get("/readyz")[0] == 200, log=agent.log)

        # the vendor registers RS-004's two approved devices and one more nobody approved, each once
        registered: dict[str, int] = {}
        for number, body in enumerate([*demo_equipment(), STRAY_BODY]):
            key = {"Idempotency-Key": f"e2e-{RUN}-{number}"}
            made = api.post("/v1/equipment", json=body, headers=vendor | key)
            assert made.status_code == 201, made.text
            again = api.post("/v1/equipment", json=body, headers=vendor | key)
            assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == made.json()
            registered[body["serial"]] = made.json()["id"]

        # the operator reconciles every cloud over the API and reads the drift
        clouds = ["yunguan-local", "k8s-local", "hosting-zone"]
        reconciled = cli.remote("reconcile", *clouds)
        assert reconciled.returncode == 1, reconciled.stdout + reconciled.stderr  # drift, every cloud complete
        assert all(cloud in reconciled.stdout for cloud in clouds)
        drift = cli.remote("drift", "-o", "json")
        assert drift.returncode == 1, drift.stderr
        rows = json.loads(drift.stdout)
        assert ("unapproved", None, "project", rogue_project) in drift_set(rows, "yunguan-local")
        assert ("quota-mismatch", "GA-007", "quota", "GA-007:vcpu") in drift_set(rows, "yunguan-local")
        assert ("unapproved", None, "namespace", rogue_namespace) in drift_set(rows, "k8s-local")
        assert drift_set(rows, "hosting-zone") == {("unapproved", None, "equipment", STRAY)}
        (run,) = api.get("/v1/reconcile-runs", headers=operator).json()["items"]
        assert run["state"] == "done" and run["actor"].startswith("operator:e2e-operator#")
        events_before = every_item(api, "/v1/audit/events", operator)
        assert {e["actor"].split("#")[0] for e in events_before if e["action"] == "equipment.register"} == {
            "vendor:e2e-vendor"
        }
        assert len([e for e in events_before if e["action"] == "equipment.register"]) == 3
        rollups_before = wait_for("a rollup run", lambda: runs_of(own_postgres.url, "rollup"), 30, agent.log)

        # the database goes away for 30 s
        own_postgres.stop("fast")
        stopped = time.monotonic()
        down = wait_for("/readyz to fall", lambda: (a := agent.get("/readyz"))[0] == 503 and a, 20, agent.log)
        assert json.loads(down[1])["ready"] is False and "database" in json.loads(down[1])["detail"]
        assert agent.get("/livez")[0] == 200
        asked = time.monotonic()
        refused = api.get("/v1/drift", headers=operator)
        assert refused.status_code == 503 and time.monotonic() - asked < REQUEST_S, refused.text
        assert "database" in problem_of(refused)["detail"]
        late = {**STRAY_BODY, "serial": f"{STRAY}-LATE", "position": {**STRAY_BODY["position"], "u_start": 8}}
        late_key = {"Idempotency-Key": f"e2e-{RUN}-late"}
        refused_post = api.post("/v1/equipment", json=late, headers=vendor | late_key)
        assert refused_post.status_code == 503, refused_post.text
        problem_of(refused_post)
        cli_down = cli.remote("drift")
        assert cli_down.returncode == 5 and "503" in cli_down.stderr, cli_down.stderr
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))  # the 30 s outage, in real time
        assert agent.get("/livez")[0] == 200 and agent.get("/readyz")[0] == 503
        own_postgres.start()
        wait_for("/readyz to recover", lambda: agent.get("/readyz")[0] == 200, 30, agent.log)

        # nothing lost: the equipment, the run, the drift, the operation log and the outage's job runs
        listed = every_item(api, "/v1/equipment", vendor)
        assert {e["serial"]: e["id"] for e in listed} == registered
        assert api.get(f"/v1/reconcile-runs/{run['id']}", headers=operator).json() == run
        after = cli.remote("drift", "-o", "json")
        assert after.returncode == 1 and json.loads(after.stdout) == rows
        events_after = every_item(api, "/v1/audit/events", operator)
        assert events_after[: len(events_before)] == events_before
        verified = cli.remote("audit", "verify")
        assert verified.returncode == 0 and "operation log intact" in verified.stdout, verified.stderr
        offline = cli.local("audit", "verify", "--offline")
        assert "operation log intact" in offline.stdout
        retried = api.post("/v1/equipment", json=late, headers=vendor | late_key)  # a 5xx is not kept: done now
        assert retried.status_code == 201, retried.text

        def failed_then_ok() -> list[tuple[int, bool, str | None]] | None:
            runs = runs_of(own_postgres.url, "rollup")
            failed = [r for r in runs if not r[1]]
            return runs if failed and any(r[1] and r[0] > failed[-1][0] for r in runs) else None

        rollups = wait_for("the outage's failed rollups written, then good ones", failed_then_ok, 30, agent.log)
        assert rollups[: len(rollups_before)] == rollups_before
        assert all("OperationalError" in (r[2] or "") for r in rollups if not r[1])

        code, took = agent.terminate()
        assert code == 0 and took < STOP_WITHIN_S
        names = [e["event"] for e in agent.events()]
        assert names.index("agent draining") < names.index("agent stopped")
    finally:
        api.close()
        agent.kill()  # only when the story stopped early: the agent has exited by now otherwise


def runs_of(url: str, job: str) -> list[tuple[int, bool, str | None]]:
    """The recorded runs of one job, oldest first, read straight from the store."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(job_runs.c.id, job_runs.c.ok, job_runs.c.error).where(job_runs.c.job == job)
            return [(r.id, r.ok, r.error) for r in conn.execute(query.order_by(job_runs.c.id))]
    finally:
        engine.dispose()
