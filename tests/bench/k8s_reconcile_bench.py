"""Kubernetes reconcile benchmark on the real local kube-apiserver.

Creates N namespaces (once; creation is idempotent by name), each with a ResourceQuota and a PersistentVolumeClaim,
then times, each in a fresh process:
  (a) `yunguan reconcile` of the cluster, as a whole CLI process (imports included): namespaces, quotas, claims,
      volumes, the engine, the run record, and the events pull,
  (b) the floor: a plain paginated listing of the same objects with the official client (its model objects),
Prints wall time, API calls and peak RSS of each, and the ratio (a)/(b).

    deploy/dev/kubernetes.sh start
    .venv/bin/python tests/bench/k8s_reconcile_bench.py --namespaces 2000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timed_reconcile import print_table, timed_reconcile  # a sibling script, not a package

from adapters.kubernetes.client import Cluster
from adapters.kubernetes.errors import KubernetesConflictError

STATE = Path(os.environ.get("YUNGUAN_K8S_STATE", "/var/tmp/yunguan-k8s"))  # noqa: S108 - the dev script's state
KUBECONFIG = STATE / "kubeconfig"
CONTEXT = "yunguan-local"

FLOOR = textwrap.dedent(
    """
    import json, resource, sys, time
    t = time.perf_counter()
    from kubernetes import client, config
    api = client.CoreV1Api(config.new_client_from_config(config_file=sys.argv[1], context=sys.argv[2]))
    n, counts = 0, {}
    for name, call in (("namespaces", api.list_namespace), ("quotas", api.list_resource_quota_for_all_namespaces),
                       ("claims", api.list_persistent_volume_claim_for_all_namespaces),
                       ("volumes", api.list_persistent_volume)):
        token, items = None, 0
        while True:
            page = call(limit=500, _continue=token)
            n += 1
            items += len(page.items)
            token = page.metadata._continue
            if not token:
                break
        counts[name] = items
    print(json.dumps({"wall": time.perf_counter() - t, "requests": n, "counts": counts,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def create(cluster: Cluster, path: str, body: dict[str, object]) -> None:
    with contextlib.suppress(KubernetesConflictError):  # made by an earlier run
        cluster.request("POST", path, "create", body=body)


def seed_one(cluster: Cluster, i: int) -> None:
    ns = f"bench-{i:05d}"
    create(cluster, "/api/v1/namespaces", {"metadata": {"name": ns}})
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    create(cluster, f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim)
    hard = {"requests.cpu": "4", "requests.memory": "8Gi", "requests.storage": "100Gi"}
    create(
        cluster, f"/api/v1/namespaces/{ns}/resourcequotas", {"metadata": {"name": "approved"}, "spec": {"hard": hard}}
    )


def seed(n: int) -> None:
    cluster = Cluster.connect(KUBECONFIG, CONTEXT, time.sleep)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: seed_one(cluster, i), range(n)))
    print(
        f"seeded {n} namespaces (quota + claim each) in {time.perf_counter() - started:.0f} s",
        f"({cluster.requests} requests)",
    )


def run_yunguan(tmp: Path) -> dict[str, float]:
    cloud = (
        f"{{name: bench-k8s, kind: kubernetes, vendor: bench, zone: extranet, connection: {CONTEXT},"
        f" kubeconfig: {KUBECONFIG}}}"
    )
    figures, db, run = timed_reconcile(tmp, cloud, "bench-k8s", {})
    with db:
        calls = db.execute("SELECT api_calls FROM reconcile_run_clouds WHERE run_id = ?", (run,)).fetchone()[0]
        seen = db.execute(
            "SELECT COUNT(*) FROM drift_records WHERE run_id = ? AND resource_kind = 'namespace'", (run,)
        ).fetchone()[0]
    db.close()
    return figures | {"requests": calls, "namespaces": seen}


def run_floor() -> dict[str, float]:
    import json

    done = subprocess.run(
        [sys.executable, "-c", FLOOR, str(KUBECONFIG), CONTEXT], capture_output=True, text=True, check=True
    )
    figures = json.loads(done.stdout.splitlines()[-1])
    return {k: figures[k] for k in ("wall", "requests", "rss_mb")} | {"namespaces": figures["counts"]["namespaces"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=2000)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.no_seed:
        seed(args.namespaces)
    rows: dict[str, list[dict[str, float]]] = {"yunguan reconcile": [], "client listing (floor)": []}
    with tempfile.TemporaryDirectory() as raw:
        for i in range(args.repeat):
            rows["yunguan reconcile"].append(run_yunguan(Path(raw) / f"y{i}"))
            rows["client listing (floor)"].append(run_floor())
    medians = print_table(rows, "namespaces")
    print(f"ratio yunguan / floor: {medians['yunguan reconcile'] / medians['client listing (floor)']:.2f}")


if __name__ == "__main__":
    main()
