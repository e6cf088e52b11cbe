"""The agent's HTTP side: the HTTP API (``controlplane.api.create_app``) behind a thin front of the agent's own, and
the uvicorn server it runs in a thread.

The front is the one seam between the agent and the API: it serves ``/metrics`` (the agent's registry, no token,
like the probes) and answers ``/readyz`` with 503 itself while the agent is draining, its scheduler is not running
or its store probe failed; otherwise ``/readyz`` is the API's (a fresh database query within
``api.ready_timeout_s``), and everything else is the API. The listen address and TLS come from ``api:``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from prometheus_client import make_asgi_app

from controlplane.agent.health import Health
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
    exposition: App = make_asgi_app(metrics.registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics":
            await exposition(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/readyz":
            ready = health.readiness()
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


class ApiServer:
    """uvicorn in a thread: the main thread keeps the signals (uvicorn installs none outside the main thread)."""

    def __init__(self, app: App, options: dict[str, Any], *, graceful_s: float = 10.0) -> None:
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=max(1, int(graceful_s)),
            **options,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)

    def start(self, timeout_s: float = 30.0) -> tuple[str, int]:
        """Start serving; the address actually bound (port 0 picks a free one). ServerError when it cannot."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerError("the HTTP server did not start (see the log above: address in use, TLS files?)")
            self._thread.join(0.02)
        sockets = [s for server in self.server.servers for s in server.sockets]
        host, port = sockets[0].getsockname()[:2]
        return str(host), int(port)

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop accepting, finish open requests; True when the server thread ended in ``timeout_s``."""
        self.server.should_exit = True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
