"""The agent's HTTP side: the HTTP API (``controlplane.api.create_app``) behind a thin front of the agent's own, and
the uvicorn server it runs in a thread.

The front is the one seam between the agent and the API: it serves ``/metrics`` (the agent's registry, no token,
like the probes) and answers ``/readyz`` with 503 itself while the agent is draining, its scheduler is not running
or its store probe failed; otherwise ``/readyz`` is the API's (a fresh database query within
``api.ready_timeout_s``), and everything else is the API. The listen address and TLS come from ``api:``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from prometheus_client import make_asgi_app

from controlplane.agent.health import Health, Readiness
from controlplane.agent.metrics import AgentMetrics
from controlplane.api.app import create_app
from controlplane.runtime import Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServerError(Exception):
    """The HTTP server did not start (address in use, unreadable TLS files)."""


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def front(api: App, health: Health, metrics: AgentMetrics) -> App:
    """``api`` with the agent's ``/metrics`` and its own readiness checks in front of the API's ``/readyz``."""

    async def readiness() -> Readiness:
        return health.readiness()

    return front_of(api, readiness, make_asgi_app(metrics.registry))


def front_of(api: App, readiness: Callable[[], Awaitable[Readiness]], exposition: App) -> App:
    """``api`` behind ``/metrics`` (``exposition``) and the agent's readiness (``readiness``) before its ``/readyz``:
    the agent's own front, and an API worker's (``api_worker``), whose two answers come from the agent."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await exposition(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/readyz":
            ready = await readiness()
            if not ready.ready:
                why = "; ".join(f"{k}: {v}" for k, v in ready.checks.items() if v != "ok")
                await _json(send, 503, {"ready": False, "detail": f"agent {why}"})
                return
        await api(scope, receive, send)

    return app


def build_app(rt: Runtime, health: Health, metrics: AgentMetrics) -> App:
    """The app the agent serves: the HTTP API over ``rt`` (the agent's own runtime) behind ``front``."""
    api: App = create_app(lambda: rt, api=rt.settings.api)
    return front(api, health, metrics)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here once: the agent's server and its API workers (``workers``) all accept on it
    (a worker gets it by its descriptor, passed to that process alone). ServerError when the address cannot be
    had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class ApiServer:
    """uvicorn in a thread: the main thread keeps the signals (uvicorn installs none outside the main thread)."""

    def __init__(self, app: App, options: dict[str, Any], *, graceful_s: float = 10.0) -> None:
        self._host, self._port = str(options["host"]), int(options["port"])
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=max(1, int(graceful_s)),
            **{k: v for k, v in options.items() if k not in ("host", "port")},
        )
        self.server = uvicorn.Server(config)
        self.socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> tuple[str, int]:
        """Bind and start serving; the address actually bound (port 0 picks a free one). ServerError when it
        cannot."""
        self.socket = listen(self._host, self._port)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="api-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerError("the HTTP server did not start (see the log above: TLS files?)")
            self._thread.join(0.02)
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop accepting, finish open requests; True when the server thread ended in ``timeout_s``."""
        self.server.should_exit = True
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
