"""Readiness of the local dev OpenStack: every API root answers, all N fake computes are up, the hypervisor count
is N, cinder-volume is up. Exit 0 when ready; with --wait SECONDS keep checking until then."""

import argparse
import os
import pathlib
import sys
import time

import requests

APIS = {
    "keystone": "http://127.0.0.1:5000/",
    "placement": "http://127.0.0.1:8778/",
    "nova": "http://127.0.0.1:8774/",
    "glance": "http://127.0.0.1:9292/",
    "neutron": "http://127.0.0.1:9696/",
    "cinder": "http://127.0.0.1:8776/",
}


def dead(pids_dir):
    out = []
    for f in sorted(pathlib.Path(pids_dir).glob("*.pid")):
        try:
            os.kill(int(f.read_text()), 0)
        except (ProcessLookupError, ValueError):
            out.append(f.stem)
    return out


def problems(n, state):
    out = []
    for name, url in APIS.items():
        try:
            code = requests.get(url, timeout=5).status_code
            if code >= 500:
                out.append(f"{name} API answers {code}")
        except requests.RequestException as e:
            out.append(f"{name} API down ({type(e).__name__})")
    if out:
        return out
    import openstack

    if state.get("conn") is None:
        state["conn"] = openstack.connect(cloud="yunguan-local")
    conn = state["conn"]
    computes = [s for s in conn.compute.services(binary="nova-compute") if s.host.startswith("fake-compute-")]
    up = sorted(s.host for s in computes if s.state == "up" and s.status == "enabled")
    if len(up) != n:
        out.append(f"nova-compute up: {len(up)}/{n}")
    hyp = list(conn.compute.hypervisors())
    if len(hyp) != n:
        out.append(f"hypervisors: {len(hyp)}/{n}")
    vols = [s for s in conn.block_storage.services(binary="cinder-volume") if s.state == "up"]
    if not vols:
        out.append("cinder-volume not up")
    elif not list(conn.block_storage.backend_pools()):
        out.append("cinder-scheduler knows no backend pool yet")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--computes", type=int, required=True)
    ap.add_argument("--wait", type=float, default=0, help="seconds to keep trying")
    ap.add_argument("--pids-dir", help="fail at once when a process of a pid file there has died")
    args = ap.parse_args()
    end = time.monotonic() + args.wait
    state, last = {}, None
    while True:
        gone = dead(args.pids_dir) if args.pids_dir else []
        if gone:
            print("died: " + ", ".join(gone), file=sys.stderr)
            return 1
        try:
            p = problems(args.computes, state)
        except Exception as e:  # an API still warming up
            p = [f"{type(e).__name__}: {e}"]
            state["conn"] = None
        if not p:
            print("ready")
            return 0
        if p != last:
            print("waiting: " + "; ".join(p), file=sys.stderr, flush=True)
            last = p
        if time.monotonic() >= end:
            print("not ready: " + "; ".join(p), file=sys.stderr)
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
