"""HTTP API throughput on loopback: the agent (``agent.py``, its jobs disabled) serving the API with ``api.workers``
processes over a store holding the demo ledger and a reconcile run's drift; concurrent clients read the drift (an
operator's token) and, where the hosting routes are served, register equipment (a vendor's token, one new serial and
rack position per request). Prints requests/s, p50 and p99 latency, the answers that were not 2xx, and the load
average; after the registrations, `yunguan audit verify` checks the operation log's chain the processes wrote.

    .venv/bin/python tests/bench/api_bench.py [--requests 3000] [--concurrency 16] [--backend sqlite|postgresql]
        [--workers N]

Targets (the issue): >= 500 registrations/s, p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, insert, text

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EXAMPLES = REPO / "deploy" / "examples"
PG_ADMIN = os.environ.get("YUNGUAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
HOSTING_VENDOR = "某托管服务商"
DRIFT_ROWS = 300


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(workdir: Path, db_url: str, port: int, workers: int) -> tuple[Path, dict[str, str]]:
    """Config, schema, demo ledger, a run with DRIFT_ROWS drift records, and the tokens."""
    from controlplane.api.tokens import Role, create_token
    from controlplane.config import load_settings
    from controlplane.ledger.forms import read_ledger_file
    from controlplane.ledger.rows import parse_ledger
    from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
    from controlplane.runtime import open_runtime
    from controlplane.store import migrate
    from controlplane.store.engine import make_engine
    from controlplane.store.tables import drift_records, reconcile_run_clouds, reconcile_runs

    config = workdir / "yunguan.yaml"
    settings = yaml.safe_load((EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8"))
    # info: the agent's log says when each API worker serves (nothing is logged a request at that level)
    settings.update(state_dir=str(workdir / "state"), database={"url": db_url}, log={"level": "info", "format": "json"})
    settings["api"].update(port=port, workers=workers)
    # the API alone: no job competes for the cores (the scheduler still runs, as readiness wants)
    settings["agent"].update(
        disabled=["reconcile", "sweep", "rollup", "tick", "evaluate", "checkpoint"], start_now=False
    )
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    rt = open_runtime(load_settings(config))
    tokens: dict[str, str] = {}
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:bench")
        raw = read_ledger_file(EXAMPLES / "ledger-demo.csv")
        apply_batch(conn, parse_ledger(raw, load_clouds(conn)), rt.audit, "operator:bench", rt.clock.now())
        now = rt.clock.now()
        run = conn.execute(
            insert(reconcile_runs).values(
                started_at=now, ended_at=now, status="ok", dry_run=False, clouds="{}", counts="{}", api_calls=0,
                new_drift=DRIFT_ROWS, resolved_drift=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        conn.execute(insert(reconcile_run_clouds).values(run_id=run, cloud="yunguan-local", complete=True, api_calls=0))
        conn.execute(
            insert(drift_records),
            [
                {
                    "run_id": run, "cloud": "yunguan-local", "system": "ZW-001", "drift_class": "over",
                    "resource_kind": "server", "resource_id": f"srv-{i:05d}", "resource_name": f"web-{i}",
                    "detail": json.dumps({"vcpu": {"approved": 4, "observed": 8}}), "is_new": True,
                }
                for i in range(DRIFT_ROWS)
            ],
        )  # fmt: skip
        for role, vendor in (("operator", None), ("vendor", HOSTING_VENDOR)):
            _, tokens[role] = create_token(
                conn, rt.audit, role=Role(role), name=f"bench-{role}", days=1, now=now, actor="operator:bench",
                vendor=vendor,
            )  # fmt: skip
    rt.close()
    return config, tokens


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, request: tuple[str, str, Any]
) -> int:
    """One request on a kept-alive connection; the status. uvicorn answers with a Content-Length."""
    method, url, body = request
    payload = b"" if body is None else json.dumps(body).encode()
    writer.write(
        f"{method} {url} HTTP/1.1\r\n".encode() + head + b"content-length: %d\r\n\r\n" % len(payload) + payload
    )
    answer = await reader.readuntil(b"\r\n\r\n")
    status = int(answer[9:12])
    length = next(
        (int(line.split(b":", 1)[1]) for line in answer.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        None,
    )
    if length is None:
        raise SystemExit(f"{method} {url}: an answer without Content-Length")
    await reader.readexactly(length)
    return status


async def _load(
    base: str, headers: dict[str, str], make: Callable[[int], tuple[str, str, Any]], n: int, concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """n requests, ``concurrency`` in flight, each client on its own kept-alive connection. Plain HTTP/1.1 on asyncio
    streams, not httpx: on these 2 cores httpx's own ~2 ms of CPU a request (more than the server's for /livez) was
    measured as much as the server."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(n))
    host, port = base.removeprefix("http://").split(":")
    head = "".join(
        f"{k}: {v}\r\n" for k, v in {"host": host, "content-type": "application/json", **headers}.items()
    ).encode()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in counter:
                request = make(i)
                started = time.perf_counter()
                status = await _request(reader, writer, head, request)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return wall, latencies, statuses


def server_pids(pid: int) -> list[int]:
    """The agent and its API worker processes."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text(encoding="ascii").split()]
        except FileNotFoundError:
            continue
    return pids


def server_rss(pid: int) -> str:
    sizes = []
    for each in server_pids(pid):
        status = Path(f"/proc/{each}/status").read_text(encoding="ascii")
        sizes.append(next(int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmRSS:")))
    return " + ".join(f"{mb} MB" for mb in sizes)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the agent and its API worker processes have used so far, from /proc."""
    ticks = 0
    for each in server_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def phase(name: str, pid: int, load: Any) -> None:
    """Run one phase (``load``: the coroutine of ``_load``) and print its figures with the server's CPU a request."""
    cpu = server_cpu(pid)
    wall, latencies, statuses = asyncio.run(load)
    cpu = server_cpu(pid) - cpu
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:26} {len(ms):5d} requests {len(ms) / wall:6.0f} req/s  p50 {statistics.median(ms):5.1f} ms  "
        f"p99 {p99:5.1f} ms  server CPU {cpu / len(ms) * 1000:4.2f} ms/request  "
        f"statuses {dict(sorted(statuses.items()))}"
    )


def registration(i: int, run: str) -> tuple[str, str, Any]:
    body = {
        "serial": f"BENCH-{run}-{i:06d}",
        "kind": "server",
        "model": "PowerEdge R750",
        "unit": "市人力资源和社会保障局",
        "system": "RS-004",
        "position": {"site": "遂宁数据中心", "room": "B1", "rack": f"{run}-R{i // 40:05d}", "u_start": i % 40 + 1,
                     "u_height": 1},
        "power_watts": 500,
        "ports": 2,
        "bandwidth_bps": 10_000_000,
        "hosted_since": "2026-03-05",
    }  # fmt: skip
    return "POST", "/v1/equipment", body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="api.workers: processes serving the API")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yunguan-api-bench-") as tmp:
        workdir = Path(tmp)
        pg_name = f"yunguan_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT") if args.backend == "postgresql" else None
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
            db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{pg_name}"
        else:
            db_url = f"sqlite:///{workdir / 'yunguan.db'}"
        server: subprocess.Popen[bytes] | None = None
        try:
            port = _port()
            config, tokens = prepare(workdir, db_url, port, args.workers)
            env = {k: v for k, v in os.environ.items() if not k.startswith("YUNGUAN_")}
            log = workdir / "agent.log"
            with log.open("w", encoding="utf-8") as out:
                command = [sys.executable, str(REPO / "agent.py"), "--config", str(config)]
                server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:  # ready, and every API worker serving
                try:
                    ready = httpx.get(f"{base}/readyz", timeout=1).status_code == 200
                except httpx.TransportError:
                    ready = False
                if ready and log.read_text(encoding="utf-8").count("API worker serving") >= args.workers - 1:
                    break
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not become ready:\n{log.read_text(encoding='utf-8')[-2000:]}")
                time.sleep(0.1)
            spec = httpx.get(f"{base}/v1/openapi.json").json()
            print(
                f"{args.backend}, {args.concurrency} in flight, the agent with api.workers {args.workers} on 127.0.0.1 "
                f"({os.cpu_count()} CPUs); load average before: {_load_average()}"
            )
            operator = {"Authorization": f"Bearer {tokens['operator']}"}
            pid = server.pid
            n, c = args.requests, args.concurrency
            phase("/livez (the floor)", pid, _load(base, {}, lambda _i: ("GET", "/livez", None), n, c))
            phase("clouds (token + 1 query)", pid, _load(base, operator, lambda _i: ("GET", "/v1/clouds", None), n, c))
            drift = ("GET", "/v1/drift?limit=20", None)
            asyncio.run(_load(base, operator, lambda _i: drift, 200, c))
            phase("drift reads (20 a page)", pid, _load(base, operator, lambda _i: drift, n, c))
            if "/v1/equipment" in spec["paths"]:
                vendor = {"Authorization": f"Bearer {tokens['vendor']}"}
                run = uuid.uuid4().hex[:6]
                phase("equipment registrations", pid, _load(base, vendor, lambda i: registration(i, run), n, c))
                verify = subprocess.run(
                    [str(Path(sys.executable).with_name("yunguan")), "--config", str(config), "audit", "verify"],
                    env=env, capture_output=True, text=True, check=False,
                )  # fmt: skip
                print(f"audit verify: exit {verify.returncode} {(verify.stdout + verify.stderr).strip()[-300:]}")
            else:
                print("equipment registrations: no /v1/equipment route is served yet")
            print(f"resident memory (the agent + each API worker): {server_rss(server.pid)}")
            print(f"load average after: {_load_average()}")
        finally:
            if server is not None:
                server.terminate()
                print(f"the agent stopped: exit {server.wait(60)}")
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
