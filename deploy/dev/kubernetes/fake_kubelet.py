#!/usr/bin/env python3
"""A fake kubelet (and metrics-server backend) for the local Kubernetes of deploy/dev/kubernetes.sh.

Standard library only. An HTTPS server on 127.0.0.1:PORT that re-reads its data file(s) on EVERY request, so a test
can change the numbers between two reads. It serves what Yunguan reads through the real kube-apiserver:

  kubelet (reached as /api/v1/nodes/NODE/proxy/...):
    GET /stats/summary          stats/v1alpha1 Summary (node, pods, containers, pod volumes with pvcRef)
    GET /metrics/resource       Prometheus text, the resource metrics a real metrics-server scrapes
    GET /pods                   a PodList of the pods in the data file (metadata only)
    GET /healthz                "ok"
  metrics.k8s.io (reached as /apis/metrics.k8s.io/v1beta1/... through an APIService):
    GET /apis, /apis/metrics.k8s.io, /apis/metrics.k8s.io/v1beta1     discovery
    GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]                     NodeMetricsList / NodeMetrics
    GET /apis/metrics.k8s.io/v1beta1/pods                              PodMetricsList, all namespaces
    GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]         PodMetricsList / PodMetrics
        (?labelSelector=k=v,k2=v2 equality selectors are honoured, other selectors ignored)
    GET /openapi/v2                                                    404 (the aggregator tolerates it)

Data file (JSON; YAML too when PyYAML is importable and the name ends in .yaml/.yml). Every key but "pods" is
optional; numbers are plain integers (bytes, nanocores):

  {
    "node": "node-a",                          # node name; --node wins when the server has one data file
    "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},  # Node status
    "cpu_nanocores": 900000000,                # node usage; default: sum over the containers below
    "memory_working_set_bytes": 2147483648,    # node usage; default: sum over the containers below
    "fs_capacity_bytes": 107374182400, "fs_used_bytes": 10737418240,   # node root fs
    "pods": [
      {"namespace": "ns", "name": "p", "uid": "optional", "labels": {"app": "x"},
       "containers": [{"name": "c", "cpu_nanocores": 250000000, "memory_working_set_bytes": 104857600}],
       "volumes": [{"pvc": "data", "name": "optional volume name (default: the pvc name)",
                    "used_bytes": 1073741824, "capacity_bytes": 10737418240}]}
    ]
  }

Write the file atomically (write a temporary file, then rename) so a request never sees half a file; a file that does
not parse answers 500.

Quantities in metrics.k8s.io are serialised like Kubernetes does: cpu 250000000 nanocores -> "250m",
123456789 -> "123456789n"; memory 104857600 bytes -> "100Mi", 466944 -> "456Ki", 1000 -> "1000".

Usage:
  fake_kubelet.py --port PORT --data FILE [--data FILE...] [--node NAME] [--cert CRT --key KEY]
      without --cert/--key a throw-away self-signed certificate (IP:127.0.0.1, DNS:localhost) is made with openssl
  fake_kubelet.py node-status --node NAME --port PORT --data FILE
      prints the JSON merge patch for /api/v1/nodes/NAME/status (addresses, kubelet port, capacity, Ready)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
from pathlib import Path
from typing import ClassVar

START_TIME = dt.datetime.now(dt.UTC).replace(microsecond=0)
KUBELET_VERSION = "v1.20.2"
WINDOW = "30s"


# ---------------------------------------------------------------------------------------------------------- data
def load(path: str) -> dict:
    with Path(path).open(encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        import yaml  # only when asked for YAML

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError(f"{path}: top level must be an object")
    data.setdefault("pods", [])
    return data


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_uid(pod: dict) -> str:
    return pod.get("uid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"yunguan-fake/{pod['namespace']}/{pod['name']}"))


_SUFFIX = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 0.001,
}


def parse_quantity(q) -> int:
    if isinstance(q, (int, float)):
        return int(q)
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(q))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"bad quantity {q!r}")
    return int(float(m.group(1)) * _SUFFIX[m.group(2)])


def cpu_quantity(nanocores: int) -> str:
    n = int(nanocores)
    for div, suffix in ((10**9, ""), (10**6, "m"), (10**3, "u")):
        if n % div == 0:
            return f"{n // div}{suffix}"
    return f"{n}n"


def memory_quantity(nbytes: int) -> str:
    n = int(nbytes)
    if n == 0:
        return "0"
    for exp, suffix in ((60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")):
        if n % (1 << exp) == 0:
            return f"{n >> exp}{suffix}"
    return str(n)


class Node:
    """One node's data file, read fresh."""

    def __init__(self, path: str, name_override: str | None):
        self.path = path
        self.data = load(path)
        self.name = name_override or self.data.get("node")
        if not self.name:
            raise ValueError(f'{path}: no "node" and no --node')
        self.pods = self.data["pods"]

    def containers(self):
        for pod in self.pods:
            for c in pod.get("containers", []):
                yield pod, c

    def cpu(self) -> int:
        v = self.data.get("cpu_nanocores")
        return int(v) if v is not None else sum(int(c.get("cpu_nanocores", 0)) for _, c in self.containers())

    def memory(self) -> int:
        v = self.data.get("memory_working_set_bytes")
        if v is not None:
            return int(v)
        return sum(int(c.get("memory_working_set_bytes", 0)) for _, c in self.containers())


def load_nodes(paths: list[str], node: str | None) -> list[Node]:
    return [Node(p, node if len(paths) == 1 else None) for p in paths]


# ---------------------------------------------------------------------------------------------------------- kubelet
def cpu_stats(nanocores: int, t: str) -> dict:
    elapsed = max(1, int((dt.datetime.now(dt.UTC) - START_TIME).total_seconds()))
    return {"time": t, "usageNanoCores": nanocores, "usageCoreNanoSeconds": nanocores * elapsed}


def memory_stats(ws: int, t: str, capacity: int | None = None) -> dict:
    m = {"time": t, "usageBytes": ws, "workingSetBytes": ws, "rssBytes": ws, "pageFaults": 0, "majorPageFaults": 0}
    if capacity:
        m["availableBytes"] = max(0, capacity - ws)
    return m


def summary(node: Node) -> dict:
    t = now()
    cap = node.data.get("capacity", {})
    mem_cap = parse_quantity(cap["memory"]) if "memory" in cap else None
    fs_cap = int(node.data.get("fs_capacity_bytes", 100 * 2**30))
    fs_used = int(node.data.get("fs_used_bytes", 10 * 2**30))
    pods = []
    for pod in node.pods:
        containers, pod_cpu, pod_mem = [], 0, 0
        for c in pod.get("containers", []):
            cpu, mem = int(c.get("cpu_nanocores", 0)), int(c.get("memory_working_set_bytes", 0))
            pod_cpu, pod_mem = pod_cpu + cpu, pod_mem + mem
            containers.append(
                {
                    "name": c["name"],
                    "startTime": rfc3339(START_TIME),
                    "cpu": cpu_stats(cpu, t),
                    "memory": memory_stats(mem, t),
                }
            )
        volumes = []
        for v in pod.get("volumes", []):
            used, capacity = int(v.get("used_bytes", 0)), int(v.get("capacity_bytes", 0))
            vol = {
                "time": t,
                "availableBytes": int(v.get("available_bytes", max(0, capacity - used))),
                "capacityBytes": capacity,
                "usedBytes": used,
                "inodesFree": 1000000,
                "inodes": 1048576,
                "inodesUsed": 48576,
                "name": v.get("name") or v.get("pvc") or "volume",
            }
            if v.get("pvc"):
                vol["pvcRef"] = {"name": v["pvc"], "namespace": pod["namespace"]}
            volumes.append(vol)
        pods.append(
            {
                "podRef": {"name": pod["name"], "namespace": pod["namespace"], "uid": pod_uid(pod)},
                "startTime": rfc3339(START_TIME),
                "containers": containers,
                "cpu": cpu_stats(pod_cpu, t),
                "memory": memory_stats(pod_mem, t),
                "volume": volumes,
                "ephemeral-storage": {
                    "time": t,
                    "availableBytes": fs_cap - fs_used,
                    "capacityBytes": fs_cap,
                    "usedBytes": 4096,
                    "inodesFree": 1000000,
                    "inodes": 1048576,
                    "inodesUsed": 1,
                },
            }
        )
    fs = {
        "time": t,
        "availableBytes": fs_cap - fs_used,
        "capacityBytes": fs_cap,
        "usedBytes": fs_used,
        "inodesFree": 1000000,
        "inodes": 1048576,
        "inodesUsed": 48576,
    }
    return {
        "node": {
            "nodeName": node.name,
            "systemContainers": [
                {
                    "name": "kubelet",
                    "startTime": rfc3339(START_TIME),
                    "cpu": cpu_stats(0, t),
                    "memory": memory_stats(0, t),
                },
            ],
            "startTime": rfc3339(START_TIME),
            "cpu": cpu_stats(node.cpu(), t),
            "memory": memory_stats(node.memory(), t, mem_cap),
            "network": {
                "time": t,
                "name": "eth0",
                "rxBytes": 0,
                "rxErrors": 0,
                "txBytes": 0,
                "txErrors": 0,
                "interfaces": [{"name": "eth0", "rxBytes": 0, "rxErrors": 0, "txBytes": 0, "txErrors": 0}],
            },
            "fs": fs,
            "runtime": {"imageFs": dict(fs)},
            "rlimit": {"time": t, "maxpid": 4194304, "curproc": 100},
        },
        "pods": pods,
    }


def resource_metrics(node: Node) -> str:
    """The Prometheus text of the kubelet's /metrics/resource (what metrics-server 0.6 scrapes)."""
    ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    elapsed = max(1, int((dt.datetime.now(dt.UTC) - START_TIME).total_seconds()))
    out = [
        "# TYPE node_cpu_usage_seconds_total counter",
        f"node_cpu_usage_seconds_total {node.cpu() * elapsed / 1e9} {ms}",
        "# TYPE node_memory_working_set_bytes gauge",
        f"node_memory_working_set_bytes {node.memory()} {ms}",
        "# TYPE container_cpu_usage_seconds_total counter",
    ]
    for pod, c in node.containers():
        lbl = f'container="{c["name"]}",namespace="{pod["namespace"]}",pod="{pod["name"]}"'
        out.append(f"container_cpu_usage_seconds_total{{{lbl}}} {int(c.get('cpu_nanocores', 0)) * elapsed / 1e9} {ms}")
    out.append("# TYPE container_memory_working_set_bytes gauge")
    for pod, c in node.containers():
        lbl = f'container="{c["name"]}",namespace="{pod["namespace"]}",pod="{pod["name"]}"'
        out.append(f"container_memory_working_set_bytes{{{lbl}}} {int(c.get('memory_working_set_bytes', 0))} {ms}")
    return "\n".join(out) + "\n"


def pod_list(node: Node) -> dict:
    items = [
        {
            "metadata": {
                "name": p["name"],
                "namespace": p["namespace"],
                "uid": pod_uid(p),
                "labels": p.get("labels", {}),
            },
            "spec": {
                "nodeName": node.name,
                "containers": [{"name": c["name"], "image": "fake"} for c in p.get("containers", [])],
            },
            "status": {"phase": "Running"},
        }
        for p in node.pods
    ]
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}


def node_status_patch(node: Node, port: int) -> dict:
    cap = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    cap.update({k: str(v) for k, v in node.data.get("capacity", {}).items()})
    t = now()
    return {
        "status": {
            "capacity": cap,
            "allocatable": cap,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "fake kubelet (yunguan deploy/dev/kubernetes)",
                    "lastHeartbeatTime": t,
                    "lastTransitionTime": t,
                }
            ],
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "fake",
                "containerRuntimeVersion": "fake://0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
    }


# ------------------------------------------------------------------------------------------------ metrics.k8s.io
GV = "metrics.k8s.io/v1beta1"


def api_resource_list() -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GV,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    }


def api_group() -> dict:
    gv = {"groupVersion": GV, "version": "v1beta1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io", "versions": [gv], "preferredVersion": gv}


def node_metrics(node: Node) -> dict:
    return {
        "kind": "NodeMetrics",
        "apiVersion": GV,
        "metadata": {"name": node.name, "creationTimestamp": now(), "selfLink": f"/apis/{GV}/nodes/{node.name}"},
        "timestamp": now(),
        "window": WINDOW,
        "usage": {"cpu": cpu_quantity(node.cpu()), "memory": memory_quantity(node.memory())},
    }


def pod_metrics(pod: dict) -> dict:
    ns, name = pod["namespace"], pod["name"]
    return {
        "kind": "PodMetrics",
        "apiVersion": GV,
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": now(),
            "labels": pod.get("labels", {}),
            "selfLink": f"/apis/{GV}/namespaces/{ns}/pods/{name}",
        },
        "timestamp": now(),
        "window": WINDOW,
        "containers": [
            {
                "name": c["name"],
                "usage": {
                    "cpu": cpu_quantity(int(c.get("cpu_nanocores", 0))),
                    "memory": memory_quantity(int(c.get("memory_working_set_bytes", 0))),
                },
            }
            for c in pod.get("containers", [])
        ],
    }


def label_match(labels: dict, selector: str) -> bool:
    for term in filter(None, (s.strip() for s in selector.split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            continue  # set-based selectors are not supported: ignored
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if (labels.get(key) == val) != (op != "!="):
            return False
    return True


def status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


# ---------------------------------------------------------------------------------------------------------- HTTP
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "yunguan-fake-kubelet/1"
    data_files: ClassVar[list[str]] = []
    node_name: str | None = None

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{now()} {self.address_string()} {fmt % args}\n")

    def send(self, code: int, body, ctype: str = "application/json"):
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(url.query)
        try:
            code, body, ctype = self.route(path, query)
        except Exception as exc:  # a half-written or bad data file: say so, keep serving
            code, body, ctype = 500, status(500, "InternalError", f"fake kubelet: {exc}"), "application/json"
        self.send(code, body, ctype)

    def route(self, path: str, query: dict):  # noqa: PLR0911, PLR0912 - one branch per kubelet/metrics path
        j = "application/json"
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok", "text/plain"
        if path == "/openapi/v2" or path.startswith("/openapi/"):
            return 404, status(404, "NotFound", "no openapi here"), j
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group()]}, j
        if path == "/apis/metrics.k8s.io":
            return 200, api_group(), j
        nodes = load_nodes(self.data_files, self.node_name)
        if path == "/stats/summary":
            return 200, summary(nodes[0]), j
        if path == "/metrics/resource":
            return 200, "".join(resource_metrics(n) for n in nodes[:1]), "text/plain; version=0.0.4"
        if path == "/pods":
            return 200, pod_list(nodes[0]), j
        prefix = f"/apis/{GV}"
        if not (path == prefix or path.startswith(prefix + "/")):
            return 404, status(404, "NotFound", f"the fake kubelet does not serve {path}"), j
        rest = path[len(prefix) :].strip("/").split("/") if path != prefix else []
        selector = (query.get("labelSelector") or [""])[0]
        if not rest:
            return 200, api_resource_list(), j
        if rest == ["nodes"]:
            items = [node_metrics(n) for n in nodes]
            return (
                200,
                {
                    "kind": "NodeMetricsList",
                    "apiVersion": GV,
                    "metadata": {"selfLink": f"{prefix}/nodes"},
                    "items": items,
                },
                j,
            )
        if len(rest) == 2 and rest[0] == "nodes":
            for n in nodes:
                if n.name == rest[1]:
                    return 200, node_metrics(n), j
            return 404, status(404, "NotFound", f'nodemetrics.metrics.k8s.io "{rest[1]}" not found'), j
        all_pods = [p for n in nodes for p in n.pods]
        if rest == ["pods"]:
            pods = [p for p in all_pods if label_match(p.get("labels", {}), selector)]
        elif len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "pods":
            pods = [p for p in all_pods if p["namespace"] == rest[1] and label_match(p.get("labels", {}), selector)]
        elif len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "pods":
            for p in all_pods:
                if p["namespace"] == rest[1] and p["name"] == rest[3]:
                    return 200, pod_metrics(p), j
            return 404, status(404, "NotFound", f'podmetrics.metrics.k8s.io "{rest[1]}/{rest[3]}" not found'), j
        else:
            return 404, status(404, "NotFound", f"the server could not find the requested resource {path}"), j
        return (
            200,
            {
                "kind": "PodMetricsList",
                "apiVersion": GV,
                "metadata": {"selfLink": path},
                "items": [pod_metrics(p) for p in pods],
            },
            j,
        )


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def self_signed(tmpdir: str) -> tuple[str, str]:
    crt, key = str(Path(tmpdir) / "tls.crt"), str(Path(tmpdir) / "tls.key")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            crt,
            "-days",
            "30",
            "-subj",
            "/CN=fake-kubelet",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def serve(args) -> None:
    for path in args.data:
        Node(path, args.node if len(args.data) == 1 else None)  # fail at start on a missing or bad file
    Handler.data_files = [str(Path(p).resolve()) for p in args.data]
    Handler.node_name = args.node
    with tempfile.TemporaryDirectory(prefix="fake-kubelet-") as tmp:
        crt, key = (args.cert, args.key) if args.cert else self_signed(tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        httpd = Server(("127.0.0.1", args.port), Handler)
        # handshake lazily in the handler thread, so one stuck client cannot block accept()
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        sys.stderr.write(f"{now()} fake kubelet on https://127.0.0.1:{args.port} data={Handler.data_files}\n")
        sys.stderr.flush()
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()


def main(argv: list[str]) -> None:
    if argv[:1] == ["node-status"]:
        p = argparse.ArgumentParser(prog="fake_kubelet.py node-status")
        p.add_argument("--node", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--data", required=True)
        a = p.parse_args(argv[1:])
        print(json.dumps(node_status_patch(Node(a.data, a.node), a.port)))
        return
    p = argparse.ArgumentParser(prog="fake_kubelet.py", description="fake kubelet / metrics.k8s.io backend")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", action="append", required=True, help="data file; repeat for several nodes")
    p.add_argument("--node", help='node name (single data file only; default: the file\'s "node")')
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args(argv)
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(a)


if __name__ == "__main__":
    main(sys.argv[1:])
