"""An API worker process (``workers``): the HTTP API over a store engine of its own, served with uvicorn on the
listening socket the agent bound and passed down, ``/metrics`` and the agent's readiness asked of the agent over
the link. Started by the agent only (``python -m controlplane.agent.api_worker``); stops on SIGTERM (open requests
finish) or when the agent that started it is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST

from controlplane.agent.daemon import open_service
from controlplane.agent.health import Readiness
from controlplane.agent.web import App, Receive, Scope, Send, front_of
from controlplane.agent.workers import METRICS, READY, decode_readiness, read_answer
from controlplane.api.app import create_app
from controlplane.api.settings import uvicorn_options

LINK_TIMEOUT_S = 5.0


class AgentLink:
    """Questions to the agent, one at a time; None when it does not answer."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(LINK_TIMEOUT_S)
        self._sock = sock
        self._lock = threading.Lock()

    def ask(self, question: bytes) -> bytes | None:
        with self._lock:
            try:
                self._sock.sendall(question)
                return read_answer(self._sock)
            except OSError:  # a timeout leaves an answer in flight: the link is no use after it
                self._sock.close()
                return None


def worker_front(api: App, link: AgentLink) -> App:
    gone = Readiness(False, {"agent": "does not answer"})

    async def readiness() -> Readiness:
        answer = await asyncio.to_thread(link.ask, READY)
        return gone if answer is None else decode_readiness(answer)

    async def exposition(_scope: Scope, _receive: Receive, send: Send) -> None:
        answer = await asyncio.to_thread(link.ask, METRICS)
        status, body = (503, b"the agent does not answer\n") if answer is None else (200, answer)
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return front_of(api, readiness, exposition)


def _orphaned(server: uvicorn.Server, parent: int, stop: threading.Event) -> None:
    """Stop serving once the agent that started this worker is gone (its pid is no longer our parent)."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            server.should_exit = True
            return


def run(config: Path | None, listen_fd: int, link_fd: int, index: int, graceful_s: float) -> int:
    parent = os.getppid()
    listen = socket.socket(fileno=listen_fd)
    link = AgentLink(socket.socket(fileno=link_fd))
    opened = open_service(config, "yunguan.agent.worker")
    if isinstance(opened, int):
        return opened
    runtime, log = opened
    settings = runtime.settings
    log = log.bind(worker=index)
    options = {k: v for k, v in uvicorn_options(settings.api).items() if k not in ("host", "port")}
    app = worker_front(create_app(lambda: runtime, api=settings.api), link)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_config=None, access_log=False, timeout_graceful_shutdown=max(1, int(graceful_s)), **options
        )
    )
    # a signal before uvicorn has its own handlers stops it as soon as it runs; uvicorn raises the signal that stopped
    # it again once it has: handled here, that ends this process with 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    stop = threading.Event()
    threading.Thread(target=_orphaned, args=(server, parent, stop), name="orphaned", daemon=True).start()
    log.info("API worker serving", pid=os.getpid())
    try:
        server.run(sockets=[listen])
    finally:
        stop.set()
        runtime.close()
    log.info("API worker stopped", pid=os.getpid())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Yunguan API worker (started by the agent)")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--link-fd", type=int, required=True)
    parser.add_argument("--worker", type=int, default=1)
    parser.add_argument("--graceful-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    return run(args.config, args.listen_fd, args.link_fd, args.worker, args.graceful_s)


if __name__ == "__main__":
    sys.exit(main())
