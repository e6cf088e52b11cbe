"""The agent as a process, end to end: on SQLite against the real local OpenStack it serves /livez, /readyz, the
HTTP API and /metrics after a reconcile job ran, and exits 0 on SIGTERM within a bounded time; on PostgreSQL behind a
loopback proxy that the test cuts for a few seconds, readiness falls and recovers by itself, and no job run is lost
(those that failed while the store was away are written once it is back). Waits poll with deadlines; nothing sleeps
a fixed time."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy, free_port

from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import job_runs, reconcile_runs

REPO = Path(__file__).resolve().parents[2]
YUNGUAN = Path(sys.executable).with_name("yunguan")
STOP_WITHIN_S = 60


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; at the deadline fail with ``what`` and the agent's log."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8")[-3000:] if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
        time.sleep(0.1)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files), for the agent's TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yunguan-agent-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:  # noqa: S310 - loopback test URL
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except (OSError, http.client.HTTPException):
        return 0, ""


def metric(text: str, name: str, **labels: str) -> float | None:
    """A sample's value from the Prometheus text exposition."""
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want or _sorted_labels(key) == want:
            return float(value)
    return None


def _sorted_labels(key: str) -> str:
    if "{" not in key:
        return key
    name, _, rest = key.partition("{")
    parts = sorted(p for p in rest.rstrip("}").split(",") if p)
    return name + "{" + ",".join(parts) + "}"


class Agent:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        api = yaml.safe_load(config.read_text(encoding="utf-8"))["api"]
        self.port = api["port"]
        self.context: ssl.SSLContext | None = None
        if "tls" in api:
            self.context = ssl.create_default_context(cafile=api["tls"]["cert_file"])
        self._out = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "agent.py"), "--config", str(config)],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        assert self.proc.poll() is None, f"the agent exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
        return get(self.url(path), self.context)

    def metrics(self) -> str:
        return self.get("/metrics")[1]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long it took."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(STOP_WITHIN_S)
        self._out.close()
        return code, time.monotonic() - began

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[dict[str, Any], dict[str, str]], Agent]]:
    agents: list[Agent] = []

    def start(config: dict[str, Any], extra_env: dict[str, str]) -> Agent:
        path = tmp_path / "yunguan.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("YUNGUAN_")}
        env.update(extra_env)
        up = subprocess.run(
            [str(YUNGUAN), "--config", str(path), "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert up.returncode == 0, up.stderr
        agent = Agent(path, env, tmp_path / "agent.log")
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()


def test_agent_serves_probes_api_and_metrics_and_drains_on_sigterm(
    openstack_clouds: Path, tmp_path: Path, started: Callable[[dict[str, Any], dict[str, str]], Agent]
) -> None:
    """SQLite and the local OpenStack: live, ready, the API mounted, a reconcile job's metrics, then SIGTERM ->
    exit 0 in bounded time, with the run recorded."""
    state = tmp_path / "state"
    config = {
        "state_dir": str(state),
        "log": {"format": "json"},
        "api": {"port": free_port()},
        "agent": {"reconcile_every_s": 3600, "health_every_s": 0.5},
        "clouds": [
            {
                "name": "yunguan-local",
                "kind": "openstack",
                "vendor": "本地测试云",
                "zone": "extranet",
                "connection": "yunguan-local",
            }
        ],
    }
    agent = started(config, {"OS_CLIENT_CONFIG_FILE": str(openstack_clouds)})
    wait_for("/livez", lambda: agent.get("/livez")[0] == 200, log=agent.log)
    assert json.loads(agent.get("/livez")[1]) == {"ready": True, "detail": "alive"}
    wait_for("/readyz", lambda: agent.get("/readyz")[0] == 200, log=agent.log)
    assert agent.get("/v1/systems")[0] == 401  # the HTTP API is mounted, with its tokens
    text = wait_for(
        "a reconcile job's metrics",
        lambda: (m := agent.metrics()) and metric(m, "yunguan_job_runs_total", job="reconcile:yunguan-local") and m,
        timeout=120,
        log=agent.log,
    )
    assert metric(text, "yunguan_reconcile_duration_seconds_count", cloud="yunguan-local") == 1
    assert metric(text, "yunguan_reconcile_complete", cloud="yunguan-local") == 1
    assert metric(text, "yunguan_drift", cloud="yunguan-local", **{"class": "unapproved"}) is not None
    assert metric(text, "yunguan_job_failures_total", job="reconcile:yunguan-local") is None
    assert metric(text, "yunguan_findings", state="open") == 0
    assert metric(text, "yunguan_database_up") == 1
    code, took = agent.terminate()
    assert code == 0 and took < STOP_WITHIN_S
    names = [e["event"] for e in agent.events()]
    assert names.index("agent draining") < names.index("agent stopped")
    engine = make_engine(f"sqlite:///{state / 'yunguan.db'}")
    with engine.connect() as conn:
        runs = conn.execute(select(job_runs.c.job, job_runs.c.ok).where(job_runs.c.job.like("reconcile:%"))).all()
        assert conn.execute(select(reconcile_runs.c.status)).scalars().all() == ["ok"]
    engine.dispose()
    assert runs == [("reconcile:yunguan-local", True)]


@pytest.mark.postgres
def test_agent_rides_out_a_database_outage(
    pg_url: str, tmp_path: Path, started: Callable[[dict[str, Any], dict[str, str]], Agent]
) -> None:
    """PostgreSQL behind a proxy that goes away for a few seconds, the agent serving TLS from its api: config:
    /readyz turns 503, jobs fail and are counted, the agent does not exit; when the proxy is back /readyz is 200
    again by itself, and job_runs holds the runs from before, those that failed meanwhile, and the good ones after."""
    real = make_url(pg_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    engine = make_engine(pg_url)
    migrate.upgrade(engine)
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    cert, key = self_signed(tmp_path)
    config = {
        "state_dir": str(tmp_path / "state"),
        "log": {"format": "json"},
        "database": {"url": via_proxy},
        "api": {"port": free_port(), "tls": {"cert_file": str(cert), "key_file": str(key)}},
        "agent": {"rollup_every_s": 1, "health_every_s": 0.3, "drain_timeout_s": 20},
    }
    agent = started(config, {})
    try:
        wait_for("/readyz", lambda: agent.get("/readyz")[0] == 200, log=agent.log)
        assert get(agent.url("/livez").replace("https:", "http:"))[0] == 0  # TLS only

        def rollups() -> list[tuple[int, bool, str | None]]:
            with engine.connect() as conn:
                query = select(job_runs.c.id, job_runs.c.ok, job_runs.c.error).where(job_runs.c.job == "rollup")
                return [(r.id, r.ok, r.error) for r in conn.execute(query.order_by(job_runs.c.id))]

        before = wait_for("a rollup run recorded", rollups, log=agent.log)
        proxy.stop()
        down = wait_for("/readyz to fall", lambda: (a := agent.get("/readyz"))[0] == 503 and a, 20, agent.log)
        assert json.loads(down[1])["ready"] is False and "database" in json.loads(down[1])["detail"]
        wait_for(
            "a failed rollup counted",
            lambda: (metric(agent.metrics(), "yunguan_job_failures_total", job="rollup") or 0) >= 1,
            20,
            agent.log,
        )
        # /readyz may have fallen because the probe is late (stale) before the probe itself fails: wait for it
        wait_for("the store probe to fail", lambda: metric(agent.metrics(), "yunguan_database_up") == 0, 20, agent.log)
        assert (metric(agent.metrics(), "yunguan_job_runs_unrecorded") or 0) >= 1
        proxy.start()
        wait_for("/readyz to recover", lambda: agent.get("/readyz")[0] == 200, 30, agent.log)

        def failed_then_ok() -> list[tuple[int, bool, str | None]] | None:
            runs = rollups()
            failed = [r for r in runs if not r[1]]
            return runs if failed and any(r[1] and r[0] > failed[-1][0] for r in runs) else None

        after = wait_for("the runs from the outage written, then good ones", failed_then_ok, 30, agent.log)
        assert metric(agent.metrics(), "yunguan_job_runs_unrecorded") == 0
    finally:
        code, took = agent.terminate()
        proxy.stop()
        engine.dispose()
    assert code == 0 and took < STOP_WITHIN_S
    assert [r[0] for r in after[: len(before)]] == [r[0] for r in before]  # nothing from before the outage lost
    failed = [r for r in after if not r[1]]
    assert all("OperationalError" in (r[2] or "") for r in failed)
