"""``api.workers``: the agent as a process with one API worker process beside it, on both stores. Connections land on
both processes (which process holds a connection is read from /proc, not from anything the server says); both
answer at the same time, registrations sent through each land with one valid operation-log chain, a worker answers
/metrics and /readyz with the agent's own, a worker killed is replaced, and SIGTERM to the agent stops every
process. Waits poll with deadlines; nothing sleeps a fixed time."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from tcp_proxy import free_port
from test_agent_service import STOP_WITHIN_S, Agent, wait_for

from controlplane.store.engine import make_engine
from controlplane.store.tables import equipment

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
YUNGUAN = Path(sys.executable).with_name("yunguan")
VENDOR = "某托管服务商"  # hosting-zone's vendor in deploy/examples/yunguan.yaml
RUN = uuid.uuid4().hex[:6]
EACH = 15  # registrations sent through each process at once


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (each thread's: the agent restarts workers from a thread of its own)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text(encoding="ascii").split()]
        except FileNotFoundError:
            continue
    return found


def holder(connection: http.client.HTTPConnection, pids: list[int]) -> int | None:
    """The process (of ``pids``) holding the server side of this client connection: its inode in /proc/net/tcp,
    then the process with a descriptor on that socket."""
    assert connection.sock is not None
    client = connection.sock.getsockname()[1]
    server = connection.sock.getpeername()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == server and int(fields[2].split(":")[1], 16) == client:
            inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if str(fd.readlink()) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    return None


def request(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any = None, token: str = ""
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    answer = connection.getresponse()
    return answer.status, answer.read()


def registration(i: int) -> dict[str, Any]:
    return {
        "serial": f"WORKERS-{RUN}-{i:04d}", "kind": "server", "model": "PowerEdge R750",
        "unit": "市人力资源和社会保障局", "system": "RS-004", "position": {"site": "遂宁数据中心", "room": "B1",
                                         "rack": f"W-{RUN}-{i // 40}", "u_start": i % 40 + 1, "u_height": 1},
        "power_watts": 500, "ports": 2, "bandwidth_bps": 10_000_000, "hosted_since": "2026-03-05",
    }  # fmt: skip


def yunguan(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(YUNGUAN), "--lang", "en", "--config", str(config), "--actor", "operator:test", *args],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


@pytest.fixture
def agent(db_url: str, tmp_path: Path) -> Iterator[tuple[Agent, Path, dict[str, str]]]:
    settings = yaml.safe_load((EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8"))
    settings.update(state_dir=str(tmp_path / "state"), database={"url": db_url})
    settings["log"] = {"format": "json"}
    settings["api"].update(port=free_port(), workers=2)
    jobs = ["reconcile", "sweep", "rollup", "tick", "evaluate", "checkpoint"]
    settings["agent"] = {"disabled": jobs, "start_now": False, "health_every_s": 0.5}
    config = tmp_path / "yunguan.yaml"
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNGUAN_")}
    for step in (("db", "upgrade"), ("ledger", "import", str(EXAMPLES / "ledger-demo.csv"))):
        done = yunguan(config, env, *step)
        assert done.returncode == 0, done.stdout + done.stderr
    running = Agent(config, env, tmp_path / "agent.log")
    try:
        yield running, config, env
    finally:
        running.kill()


def test_two_api_processes_serve_at_once_with_one_chain_and_stop_together(
    agent: tuple[Agent, Path, dict[str, str]], db_url: str
) -> None:
    running, config, env = agent
    made = yunguan(config, env, "token", "create", "--role", "vendor", "--vendor", VENDOR, "--name", "workers")
    assert made.returncode == 0, made.stderr
    vendor = made.stdout.strip()
    wait_for("/readyz", lambda: running.get("/readyz")[0] == 200, log=running.log)
    worker = wait_for("the API worker", lambda: children(running.proc.pid), log=running.log)[0]
    wait_for("the worker serving", lambda: "API worker serving" in running.log.read_text(), log=running.log)
    pids = [running.proc.pid, worker]

    # new connections until each process holds one (the kernel hands a connection to whichever accepts first)
    held: dict[int, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(300):
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        assert request(connection, "GET", "/livez")[0] == 200
        pid = holder(connection, pids)
        assert pid in pids
        if pid in held:
            spare.append(connection)
        else:
            held[pid] = connection
        if len(held) == len(pids):
            break
    assert sorted(held) == sorted(pids), "every connection went to one process"

    # the worker answers /metrics and /readyz with the agent's own
    status, metrics = request(held[worker], "GET", "/metrics")
    assert status == 200 and b"yunguan_database_up 1.0" in metrics
    assert request(held[worker], "GET", "/readyz")[0] == 200

    # both processes register at the same time, each on its own connection
    answers: dict[int, list[int]] = {pid: [] for pid in pids}

    def register(pid: int, first: int) -> None:
        for i in range(first, first + EACH):
            answers[pid].append(request(held[pid], "POST", "/v1/equipment", registration(i), vendor)[0])

    threads = [threading.Thread(target=register, args=(pid, n * EACH)) for n, pid in enumerate(pids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == {pid: [201] * EACH for pid in pids}
    # the same serial again, through the other process: refused by the store, whichever process asks
    status, body = request(held[worker], "POST", "/v1/equipment", registration(0), vendor)
    assert status == 409, body
    verified = yunguan(config, env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = set(
            conn.execute(select(equipment.c.serial).where(equipment.c.serial.like(f"WORKERS-{RUN}-%"))).scalars()
        )
    engine.dispose()
    assert stored == {registration(i)["serial"] for i in range(2 * EACH)}
    for connection in [*held.values(), *spare]:
        connection.close()

    # a worker that dies is replaced
    os.kill(worker, signal.SIGKILL)
    replaced = wait_for(
        "a new API worker",
        lambda: [p for p in children(running.proc.pid) if p != worker and Path(f"/proc/{p}").exists()],
        log=running.log,
    )[0]
    wait_for(
        "the new worker serving", lambda: running.log.read_text().count("API worker serving") == 2, log=running.log
    )

    code, took = running.terminate()
    assert code == 0 and took < STOP_WITHIN_S
    assert not Path(f"/proc/{replaced}").exists(), "the API worker outlived the agent"
    events = [e["event"] for e in running.events()]
    assert "API worker exited: restarting it" in events
    assert "API worker stopped" in events and "API workers did not stop in time" not in events
