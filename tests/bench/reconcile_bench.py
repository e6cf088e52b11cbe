"""Reconcile benchmark, at two scales.

Real (default): seeds N servers (each with a volume) in P projects into the real local OpenStack (once; seeding is
idempotent by name). Scale (--scale): records the contenders' exchanges with the real local OpenStack through a
proxy, then serves --servers servers (one volume each) in --projects projects from a local replay server that
answers the same requests from that recording, multiplied (tests/bench/openstack_replay.py: same pagination, same
microversions). Each contender runs in a fresh process:
  (a) `yunguan reconcile` of the cloud, as a whole CLI process (imports included): inventory of projects, servers,
      volumes, snapshots, zones, hypervisors, per-project quotas, the engine, the run record, and the incremental
      pull of Nova instance actions (timed on the second run: the first also copies every server's history),
  (b) the floor: a bare openstacksdk paginated listing of the same servers, volumes and quotas,
  (c) with --c7n, Cloud Custodian (c7n + c7n-openstack in their own venv) listing the servers of all projects and
      filtering them by flavor.
Prints wall time, HTTP requests (each contender's own, counted by the recording proxy or the replay server) and
peak RSS of each, and the ratios.

    deploy/dev/openstack.sh start --computes 8
    .venv/bin/python tests/bench/reconcile_bench.py --servers 500 --projects 50 [--c7n]
    .venv/bin/python tests/bench/reconcile_bench.py --scale --servers 10000 --projects 500 [--c7n]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openstack_replay import ReplayServer  # sibling scripts, not a package
from timed_reconcile import print_table, timed_reconcile

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("YUNGUAN_OS_STATE", "/var/tmp/yunguan-openstack"))  # noqa: S108 - dev script's state
CACHE = Path(os.environ.get("YUNGUAN_CACHE", "/var/cache/yunguan"))
C7N_VENV = CACHE / "c7n-venv"
Counter = Callable[[], int]

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
        "volumes": [{"name": f"bench-{p:03d}-data", "project": f"bench-{p:03d}", "size": 1} for p in range(projects)],
    }


def run_yunguan(tmp: Path, env: dict[str, str], count: Counter) -> dict[str, float]:
    cloud = "{name: yunguan-local, kind: openstack, vendor: bench, zone: extranet}"
    figures, db, run = timed_reconcile(tmp, cloud, "yunguan-local", env, count)
    with db:
        # no ledger in the benchmark: every project is unapproved, and its drift counts the servers seen in it
        details = db.execute(
            "SELECT detail FROM drift_records WHERE run_id = ? AND resource_kind = 'project'", (run,)
        ).fetchall()
    db.close()
    return figures | {"servers": sum(json.loads(d)["servers"] for (d,) in details)}


def run_floor(env: dict[str, str], count: Counter) -> dict[str, float]:
    before = count()
    done = subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures | {"requests": count() - before}


def run_c7n(tmp: Path, env: dict[str, str], count: Counter) -> dict[str, float]:
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
    before = count()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    requests = count() - before
    line = next(x for x in done.stderr.splitlines() if x.startswith("C7N"))
    _, wall, rss = line.split()
    resources = tmp / "out" / "small-servers" / "resources.json"
    found = len(json.loads(resources.read_text())) if resources.exists() else -1
    return {"wall": float(wall), "requests": requests, "rss_mb": float(rss), "servers": found}


def seed(tmp: Path, servers: int, projects: int) -> None:
    path = tmp / "scenario.yaml"
    path.write_text(json.dumps(scenario(servers, projects)), encoding="utf-8")
    started = time.perf_counter()
    subprocess.run([str(REPO / "deploy" / "dev" / "openstack.sh"), "seed", str(path)], check=True, capture_output=True)
    print(f"seeded {servers} servers in {projects} projects in {time.perf_counter() - started:.0f} s")


def contenders(tmp: Path, env: dict[str, str], count: Counter, c7n: bool, tag: str) -> dict[str, dict[str, float]]:
    row = {"yunguan reconcile": run_yunguan(tmp / f"y{tag}", env, count), "openstacksdk floor": run_floor(env, count)}
    if c7n:
        row["cloud custodian"] = run_c7n(tmp / f"c{tag}", env, count)
    return row


def record(tmp: Path, env: dict[str, str], c7n: bool) -> tuple[Path, dict[str, dict[str, float]]]:
    """Every exchange the contenders have with the real cloud, through the recording proxy, which also counts
    each contender's own HTTP requests (the services' access logs would add their calls to each other)."""
    proxy = ReplayServer()
    proxy.serve_in_background()
    proxy.clouds_yaml(STATE / "clouds.yaml", tmp / "record-clouds.yaml")
    proxied = env | {"OS_CLIENT_CONFIG_FILE": str(tmp / "record-clouds.yaml")}
    row = contenders(tmp, proxied, lambda: proxy.requests, c7n, "record")
    proxy.shutdown()
    target = tmp / "recording.json"
    proxy.recording.save(target, proxy.base)
    print(f"recorded {len(proxy.recording.exact)} distinct exchanges with the real cloud")
    return target, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--scale", action="store_true", help="serve --servers from the replay server")
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--c7n", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(STATE / "clouds.yaml"), PYTHONWARNINGS="ignore")
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        count: Counter = lambda: 0  # noqa: E731 - real scale: the requests come from the proxied pass below
        if not args.no_seed:  # the scale run records from a small real cloud: 4 servers and 2 volumes are enough
            seed(tmp, *((4, 2) if args.scale else (args.servers, args.projects)))
        recording, counted = record(tmp, env, args.c7n)
        if args.scale:
            replay = ReplayServer(recording=recording, world_args=(args.servers, args.projects))
            replay.serve_in_background()
            replay.clouds_yaml(STATE / "clouds.yaml", tmp / "replay-clouds.yaml")
            env["OS_CLIENT_CONFIG_FILE"] = str(tmp / "replay-clouds.yaml")
            count = lambda: replay.requests  # noqa: E731 - the replay server counts every request
        for i in range(args.repeat):
            for name, figures in contenders(tmp, env, count, args.c7n, str(i)).items():
                if not args.scale:
                    figures["requests"] = counted[name]["requests"]
                rows.setdefault(name, []).append(figures)
        if args.scale:
            replay.shutdown()
            misses = sorted(set(replay.misses))
            print(f"replay: {len(misses)} request shapes not in the recording (answered 404)")
            for miss in misses[:20]:
                print(f"  {miss}")
    medians = print_table(rows, "servers")
    print(f"ratio yunguan / floor: {medians['yunguan reconcile'] / medians['openstacksdk floor']:.2f}")
    if args.c7n:
        print(f"ratio yunguan / c7n:   {medians['yunguan reconcile'] / medians['cloud custodian']:.2f}")


if __name__ == "__main__":
    main()
