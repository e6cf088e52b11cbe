"""A local OpenStack replay server for the scale benchmark.

Two modes on one loopback port, each OpenStack service under its own prefix (`/identity`, `/compute`, `/volume`,
`/placement`, `/image`, `/network`), so one `clouds.yaml` pointing at `http://127.0.0.1:PORT/identity/v3` reaches all:

- record: a proxy in front of the real local OpenStack. Every exchange is forwarded, its answer stored (status,
  content headers, body; the token header replaced), and service URLs in bodies are rewritten to the proxy's.
- replay: answers from that recording, multiplied. The collections a reconcile walks are synthesised from the
  recorded items as templates: projects, servers (detail and plain), volumes, one volume per server, with Nova's
  and Cinder's marker pagination (`limit`, `marker`, `*_links` next when a page is full, max 1,000) and Nova's
  `changes-since`. Every other request is answered with the recorded answer for the same path, matched with the IDs
  in the path wildcarded and the recorded IDs in the body replaced by the requested ones (quotas per project,
  instance actions per server, ports per device...). A request nothing matches answers 404 and is listed in
  `misses`, so a benchmark can see it.

Every request is counted (`requests`), which gives the HTTP request count of any contender, ours or not.
"""

from __future__ import annotations

import copy
import datetime as dt
import http.client
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

SERVICES = {"identity": 5000, "compute": 8774, "volume": 8776, "placement": 8778, "image": 9292, "network": 9696}
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
KEEP_HEADERS = {"content-type", "openstack-api-version", "x-openstack-nova-api-version", "vary"}
TOKEN = "replay-token"  # a fixed stand-in: the real token is never stored
MAX_LIMIT = 1000
STAMP = "%Y-%m-%dT%H:%M:%SZ"
NAMESPACE = uuid.UUID("6f1c1d52-6a53-4a4e-9d55-3b0d8f0e6b10")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def kept(query: str) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in parse_qsl(query) if k not in {"marker", "changes-since"})


def shape(service: str, method: str, path: str, query: str) -> str:
    """The key a request is matched by when no exact answer exists: IDs wildcarded, marker and times dropped."""
    keep = [(k, ID.sub("{id}", v)) for k, v in kept(query)]
    return f"{service} {method} {ID.sub('{id}', path)}?{urlencode(keep)}"


def ids(path: str, query: str) -> list[str]:
    """The IDs a request names, in the order `shape` wildcards them."""
    return ID.findall(path) + [i for _, v in kept(query) for i in ID.findall(v)]


@dataclass
class Recording:
    exact: dict[str, Answer] = field(default_factory=dict)
    shaped: dict[str, tuple[list[str], Answer]] = field(default_factory=dict)  # shape -> (recorded IDs, answer)

    def add(self, service: str, method: str, path: str, query: str, answer: Answer) -> None:
        self.exact[f"{service} {method} {path}?{query}"] = answer
        self.shaped.setdefault(shape(service, method, path, query), (ids(path, query), answer))

    def save(self, target: Path, base: str) -> None:
        rows = [
            {"key": k, "status": a.status, "headers": a.headers, "body": a.body.decode("utf-8", "replace")}
            for k, a in self.exact.items()
        ]
        target.write_text(json.dumps({"base": base, "exchanges": rows}), encoding="utf-8")

    @classmethod
    def load(cls, source: Path, base: str) -> Recording:
        """The recording, its URLs moved from the recording proxy's address to `base`."""
        recording = cls()
        saved = json.loads(source.read_text(encoding="utf-8"))
        for row in saved["exchanges"]:
            head, _, query = row["key"].partition("?")
            service, method, path = head.split(" ", 2)
            body = row["body"].replace(saved["base"], base).encode()
            recording.add(service, method, path, query, Answer(row["status"], row["headers"], body))
        return recording

    def find(self, service: str, method: str, path: str, query: str) -> Answer | None:
        exact = self.exact.get(f"{service} {method} {path}?{query}")
        if exact is not None:
            return exact
        found = self.shaped.get(shape(service, method, path, query))
        if found is None:
            return None
        recorded, answer = found  # matched by shape: the recorded IDs become the requested ones
        body = answer.body
        for old, new in zip(recorded, ids(path, query), strict=True):
            body = body.replace(old.encode(), new.encode())
        return Answer(answer.status, answer.headers, body)

    def body(self, service: str, method: str, pattern: str) -> Any:
        """The JSON body of the first recorded GET whose path matches pattern (a regex), or None."""
        for key, answer in self.exact.items():
            svc, verb, rest = key.split(" ", 2)
            if svc == service and verb == method and re.fullmatch(pattern, rest.partition("?")[0]):
                return json.loads(answer.body)
        return None


def parse_stamp(value: str) -> float:
    return dt.datetime.strptime(value, STAMP).replace(tzinfo=dt.UTC).timestamp()


def stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(STAMP)


class World:
    """The multiplied cloud: projects, servers and volumes built from recorded templates."""

    def __init__(self, recording: Recording, servers: int, projects: int, base: str) -> None:
        self.base = base
        listed = recording.body("identity", "GET", r"/v3/projects/?")
        if listed is None:
            raise SystemExit("the recording has no project listing: record a reconcile first")
        kept = [p for p in listed["projects"] if p["name"] in {"admin", "service"}]
        template = next(p for p in listed["projects"] if p["name"] not in {"admin", "service"})
        self.projects = kept + [
            dict(copy.deepcopy(template), id=self.uid("project", i), name=f"scale-{i:04d}") for i in range(projects)
        ]
        self.projects_body = dict(listed, projects=self.projects)
        server = self.template(recording, "compute", r"/v2\.1/servers/detail", "servers")
        volume = self.template(recording, "volume", r"/v3/[0-9a-f]{32}/volumes/detail", "volumes")
        owners = [p["id"] for p in self.projects[len(kept) :]]
        newest = int(parse_stamp(server["updated"]))  # servers changed a second apart, the first most recently
        self.servers: list[dict[str, Any]] = []
        self.volumes: list[dict[str, Any]] = []
        for i in range(servers):
            owner = owners[i % len(owners)]
            sid, vid = self.uid("server", i), self.uid("volume", i)
            s = copy.deepcopy(server)
            s.update(id=sid, name=f"scale-{i:05d}", tenant_id=owner, updated=stamp(newest - i))
            s["links"] = [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{sid}"}]
            s["os-extended-volumes:volumes_attached"] = []
            self.servers.append(s)
            v = copy.deepcopy(volume)
            v.update(id=vid, name=f"scale-{i:05d}-data", attachments=[])
            v["os-vol-tenant-attr:tenant_id"] = owner
            v["links"] = [{"rel": "self", "href": f"{base}/volume/v3/{owner}/volumes/{vid}"}]
            self.volumes.append(v)
        self.pages: dict[str, bytes] = {}
        self.lock = threading.Lock()

    @staticmethod
    def uid(kind: str, i: int) -> str:
        value = uuid.uuid5(NAMESPACE, f"{kind}-{i}")
        return value.hex if kind == "project" else str(value)

    @staticmethod
    def template(recording: Recording, service: str, pattern: str, key: str) -> dict[str, Any]:
        body = recording.body(service, "GET", pattern)
        if not body or not body.get(key):
            raise SystemExit(f"the recording has no {key}: seed at least one into the real cloud and record again")
        return body[key][0]  # type: ignore[no-any-return]

    def answer(self, service: str, path: str, query: str) -> bytes | None:
        if service == "identity" and re.fullmatch(r"/v3/projects/?", path):
            return json.dumps(self.projects_body).encode()
        if service == "compute" and path in {"/v2.1/servers/detail", "/v2.1/servers"}:
            return self.cached(path + "?" + query, lambda: self.server_page(path, query))
        if service == "volume" and re.fullmatch(r"/v3/[0-9a-f]{32}/volumes/detail", path):
            return self.cached(path + "?" + query, lambda: self.volume_page(path, query))
        return None

    def cached(self, key: str, build: Any) -> bytes:
        with self.lock:
            page = self.pages.get(key)
        if page is None:
            page = build()
            with self.lock:
                self.pages[key] = page
        return page  # type: ignore[no-any-return]

    @staticmethod
    def window(query: str, items: list[dict[str, Any]]) -> tuple[list[Any], int, dict[str, str]]:
        """Nova's and Cinder's paging: filter, then the page after the marker, at most `limit` (capped) long."""
        params = dict(parse_qsl(query))
        since = params.get("changes-since")
        if since is not None:
            items = [x for x in items if parse_stamp(x["updated"]) >= parse_stamp(since)]
        limit = min(int(params.get("limit", MAX_LIMIT)), MAX_LIMIT)
        start = 0
        if "marker" in params:
            start = next(i for i, x in enumerate(items) if x["id"] == params["marker"]) + 1
        return items[start : start + limit], limit, params

    def link(self, path: str, params: dict[str, str], last: str) -> list[dict[str, str]]:
        service = "compute" if path.startswith("/v2.1") else "volume"
        return [{"rel": "next", "href": f"{self.base}/{service}{path}?{urlencode(dict(params, marker=last))}"}]

    def server_page(self, path: str, query: str) -> bytes:
        page, limit, params = self.window(query, self.servers)
        if path.endswith("/servers"):
            page = [{"id": s["id"], "name": s["name"], "links": s["links"]} for s in page]
        body: dict[str, Any] = {"servers": page}
        if len(page) == limit:
            body["servers_links"] = self.link(path, params, page[-1]["id"])
        return json.dumps(body).encode()

    def volume_page(self, path: str, query: str) -> bytes:
        page, limit, params = self.window(query, self.volumes)
        body: dict[str, Any] = {"volumes": page}
        if len(page) == limit:
            body["volumes_links"] = self.link(path, params, page[-1]["id"])
        return json.dumps(body).encode()


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, world_args: tuple[int, int] | None = None, recording: Path | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.recording = Recording.load(recording, self.base) if recording else Recording()
        self.world = World(self.recording, *world_args, self.base) if world_args else None
        self.requests = 0
        self.misses: list[str] = []
        self.count_lock = threading.Lock()

    @property
    def recording_mode(self) -> bool:
        return self.world is None

    def rewrite(self, body: bytes) -> bytes:
        for service, port in SERVICES.items():
            body = body.replace(f"http://127.0.0.1:{port}".encode(), f"{self.base}/{service}".encode())
        return body

    def clouds_yaml(self, source: Path, target: Path) -> None:
        text = source.read_text(encoding="utf-8").replace("http://127.0.0.1:5000", f"{self.base}/identity")
        target.write_text(text, encoding="utf-8")

    def serve_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="replay", daemon=True)
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body leave in one write (no delayed-ACK stall per request)
    server: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def handle_one(self) -> None:
        with self.server.count_lock:
            self.server.requests += 1
        split = urlsplit(self.path)
        service, _, rest = split.path.lstrip("/").partition("/")
        path, query = "/" + rest, split.query
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        if service not in SERVICES:
            self.send(Answer(404, {"Content-Type": "text/plain"}, b"unknown service"))
            return
        if self.server.recording_mode:
            answer = self.forward(service, path, query, payload)
            stored = dict(answer.headers)
            if "X-Subject-Token" in stored:  # the client gets the real token; the recording never holds it
                stored["X-Subject-Token"] = TOKEN
            self.server.recording.add(service, self.command, path, query, Answer(answer.status, stored, answer.body))
            self.send(answer)
            return
        self.send(self.replay(service, path, query))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_one  # noqa: N815 - the stdlib's names

    def forward(self, service: str, path: str, query: str, payload: bytes) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", SERVICES[service], timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
        conn.request(self.command, path + ("?" + query if query else ""), body=payload or None, headers=headers)
        reply = conn.getresponse()
        body = self.server.rewrite(reply.read())
        kept = {k: v for k, v in reply.getheaders() if k.lower() in KEEP_HEADERS}
        token = reply.getheader("X-Subject-Token")
        if token:
            kept["X-Subject-Token"] = token
        conn.close()
        return Answer(reply.status, kept, body)

    def replay(self, service: str, path: str, query: str) -> Answer:
        world = self.server.world
        assert world is not None
        if self.command == "GET":
            made = world.answer(service, path, query)
            if made is not None:
                return Answer(200, {"Content-Type": "application/json"} | self.versions(service), made)
        found = self.server.recording.find(service, self.command, path, query)
        if found is None:
            with self.server.count_lock:
                self.server.misses.append(f"{service} {self.command} {path}?{query}")
            return Answer(404, {"Content-Type": "application/json"}, b'{"itemNotFound": {"code": 404}}')
        return found

    def versions(self, service: str) -> dict[str, str]:
        if service == "compute":
            return {"OpenStack-API-Version": "compute 2.87", "X-OpenStack-Nova-API-Version": "2.87"}
        return {}

    def send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
