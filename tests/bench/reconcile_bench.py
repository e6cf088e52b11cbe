"""Reconcile benchmark on the real local OpenStack.

Seeds N servers in P projects (once; seeding is idempotent by name), then times, each in a fresh process:
  (a) `yunguan reconcile` of the cloud, as a whole CLI process (imports included): inventory of projects, servers,
      volumes, snapshots, zones, hypervisors, per-project quotas, the engine, the run record, and the incremental
      pull of Nova instance actions (timed on the second run: the first also copies every server's history),
  (b) the floor: a bare openstacksdk paginated listing of the same servers, volumes and quotas,
  (c) with --c7n, Cloud Custodian (c7n + c7n-openstack in their own venv) listing the servers of all projects and
      filtering them by flavor.
Prints wall time, HTTP requests and peak RSS of each, and the ratio (a)/(b).

    deploy/dev/openstack.sh start --computes 8
    .venv/bin/python tests/bench/reconcile_bench.py --servers 500 --projects 50 [--c7n]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("YUNGUAN_OS_STATE", "/var/tmp/yunguan-openstack"))  # noqa: S108 - dev script's state
CACHE = Path(os.environ.get("YUNGUAN_CACHE", "/var/cache/yunguan"))
C7N_VENV = CACHE / "c7n-venv"

FLOOR = textwrap.dedent(
    """
    import json, resource, time, warnings
    warnings.simplefilter("ignore")
    import openstack
    t = time.perf_counter()
    conn = openstack.connect(cloud="yunguan-local")
    conn.compute.default_microversion = "2.87"
    n = [0]
    conn.session.session.hooks.setdefault("response", []).append(lambda r, *a, **k: n.__setitem__(0, n[0] + 1))
    projects = list(conn.identity.projects())
    servers = list(conn.compute.servers(details=True, all_projects=True, limit=1000))
    volumes = list(conn.block_storage.volumes(details=True, all_projects=True, limit=1000))
    for p in projects:
        conn.compute.get_quota_set(p.id)
        conn.block_storage.get_quota_set(p.id)
    print(json.dumps({"wall": time.perf_counter() - t, "requests": n[0], "servers": len(servers),
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)

C7N_WRAPPER = textwrap.dedent(
    """
    import resource, sys, time
    from c7n_openstack.resources.server import Server
    Server.resource_type.enum_spec = ("list_servers", {"all_projects": True})
    from c7n.cli import main
    t = time.perf_counter()
    try:
        main()
    finally:
        print("C7N", time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              file=sys.stderr)
    """
)


def scenario(servers: int, projects: int) -> dict[str, object]:
    per = max(1, servers // projects)
    return {
        "flavors": [{"name": "bench.small", "vcpus": 1, "ram": 512, "disk": 1}],
        "projects": [{"name": f"bench-{p:03d}"} for p in range(projects)],
        "servers": [
            {"name": f"bench-{p:03d}-vm", "project": f"bench-{p:03d}", "flavor": "bench.small", "count": per}
            for p in range(projects)
        ],
    }


def run_yunguan(tmp: Path, env: dict[str, str]) -> dict[str, float]:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "yunguan.yaml"
    config.write_text(
        "clouds:\n  - {name: yunguan-local, kind: openstack, vendor: bench, zone: extranet}\n", encoding="utf-8"
    )
    env = env | {"YUNGUAN_STATE_DIR": str(tmp / "state"), "YUNGUAN_CONFIG": str(config)}
    yunguan = str(Path(sys.executable).with_name("yunguan"))
    subprocess.run([yunguan, "db", "upgrade"], env=env, check=True, capture_output=True)
    code = (
        "import resource, runpy, sys, time\n"
        "sys.argv = ['yunguan', 'reconcile', 'yunguan-local']\n"
        "t = time.perf_counter()\n"
        "from controlplane.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('WALL', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " file=sys.stderr)\n"
    )
    # the first run also copies every server's past instance actions into the operation log (one request per
    # server); later runs ask only about servers changed since: the steady state is what is timed
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    line = next(x for x in done.stderr.splitlines() if x.startswith("WALL"))
    _, wall, rss = line.split()
    with sqlite3.connect(tmp / "state" / "yunguan.db") as db:
        calls = db.execute("SELECT api_calls FROM reconcile_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    return {"wall": float(wall), "requests": calls, "rss_mb": float(rss)}


def run_floor(env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def run_c7n(tmp: Path, env: dict[str, str]) -> dict[str, float]:
    tmp.mkdir(parents=True, exist_ok=True)
    if not (C7N_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(C7N_VENV)], check=True)
        subprocess.run(
            [str(C7N_VENV / "bin" / "pip"), "install", "-q", "c7n==0.9.53", "c7n-openstack==0.1.43"], check=True
        )
    policy = tmp / "policy.yaml"
    policy.write_text(
        "policies:\n  - name: small-servers\n    resource: openstack.server\n    filters:\n"
        "      - {type: value, key: flavor.original_name, value: bench.small}\n",
        encoding="utf-8",
    )
    wrapper = tmp / "c7n_all_projects.py"
    wrapper.write_text(C7N_WRAPPER, encoding="utf-8")
    env = env | {"OS_CLOUD": "yunguan-local"}
    args = [
        str(C7N_VENV / "bin" / "python"),
        str(wrapper),
        "run",
        "--cache-period",
        "0",
        "-s",
        str(tmp / "out"),
        str(policy),
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    line = next(x for x in done.stderr.splitlines() if x.startswith("C7N"))
    _, wall, rss = line.split()
    return {"wall": float(wall), "requests": float("nan"), "rss_mb": float(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--c7n", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(STATE / "clouds.yaml"), PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        if not args.no_seed:
            path = tmp / "scenario.yaml"
            path.write_text(json.dumps(scenario(args.servers, args.projects)), encoding="utf-8")
            started = time.perf_counter()
            subprocess.run(
                [str(REPO / "deploy" / "dev" / "openstack.sh"), "seed", str(path)], check=True, capture_output=True
            )
            print(f"seeded in {time.perf_counter() - started:.0f} s")
        rows: dict[str, list[dict[str, float]]] = {"yunguan reconcile": [], "openstacksdk floor": []}
        if args.c7n:
            rows["cloud custodian"] = []
        for i in range(args.repeat):
            rows["yunguan reconcile"].append(run_yunguan(tmp / f"y{i}", env))
            rows["openstacksdk floor"].append(run_floor(env))
            if args.c7n:
                rows["cloud custodian"].append(run_c7n(tmp / f"c{i}", env))
    print(f"{'contender':<20} {'wall s (median)':>16} {'requests':>9} {'peak RSS MB':>12}")
    medians: dict[str, float] = {}
    for name, runs in rows.items():
        walls = sorted(r["wall"] for r in runs)
        medians[name] = walls[len(walls) // 2]
        print(f"{name:<20} {medians[name]:>16.2f} {runs[0]['requests']:>9} {max(r['rss_mb'] for r in runs):>12.0f}")
    print(f"ratio yunguan / floor: {medians['yunguan reconcile'] / medians['openstacksdk floor']:.2f}")
    if args.c7n:
        print(f"ratio yunguan / c7n:   {medians['yunguan reconcile'] / medians['cloud custodian']:.2f}")


if __name__ == "__main__":
    main()
