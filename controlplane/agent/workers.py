"""API worker processes: with ``api.workers`` N > 1 the agent starts N - 1 processes that serve the HTTP API on the
agent's own listening socket (inherited by descriptor; the kernel hands each new connection to whichever process
accepts it first), so requests use more than the one core the GIL lets a process use.

A worker serves the API only: it runs no job and no scheduler, and opens its own store engine. What must agree
across processes lives in the store: idempotency keys, API jobs' rows, the operation log's head (locked for each
append: ``FOR UPDATE`` on PostgreSQL; on SQLite every writing transaction begins IMMEDIATE and waits up to
``database.busy_timeout_s`` for the one write lock). Each process keeps its own token cache, so a revocation still
reaches every one of them within ``api.token_cache_s``.

``/metrics`` and the agent's part of ``/readyz`` are the agent's whichever process a request reaches: a worker asks
the agent over a socket pair of its own (``link``), one byte a question (``r``: readiness, ``m``: the metrics
exposition), a length-prefixed answer. A worker whose agent does not answer is not ready; one whose agent has gone
stops. The agent restarts a worker that exits while it is not draining (at most once per ``RESTART_AFTER_S`` a
worker); on drain it sends every worker SIGTERM (each finishes its open requests) and waits for them.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from controlplane.agent.health import Readiness
from controlplane.agent.web import ServerError

READY = b"r"
METRICS = b"m"
RESTART_AFTER_S = 5.0
_LENGTH = struct.Struct("!I")


def encode_readiness(ready: Readiness) -> bytes:
    return json.dumps({"ready": ready.ready, "checks": ready.checks}).encode()


def decode_readiness(data: bytes) -> Readiness:
    found = json.loads(data)
    return Readiness(bool(found["ready"]), {str(k): str(v) for k, v in found["checks"].items()})


def send_answer(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(data)) + data)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from ``sock``; ConnectionError when it closes first."""
    parts: list[bytes] = []
    while n:
        part = sock.recv(n)
        if not part:
            raise ConnectionError("the other end closed the link")
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_answer(sock: socket.socket) -> bytes:
    return read_exactly(sock, _LENGTH.unpack(read_exactly(sock, _LENGTH.size))[0])


@dataclass
class _Slot:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0


class ApiWorkers:
    """The worker processes of one agent: started once its own server listens, stopped when it drains."""

    def __init__(
        self,
        count: int,
        config: Path | None,
        readiness: Callable[[], Readiness],
        exposition: Callable[[], bytes],
        *,
        graceful_s: float = 10.0,
    ) -> None:
        self.count = count
        self.config = config
        self._readiness = readiness
        self._exposition = exposition
        self.graceful_s = graceful_s
        self._slots = [_Slot(i + 1) for i in range(count)]
        self._listen: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._log = structlog.get_logger("yunguan.agent.workers")

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.poll() is None]

    def start(self, listen: socket.socket) -> None:
        """Start every worker on ``listen`` (the agent's bound socket) and the thread that restarts one that exits;
        ServerError when one cannot be started (the agent then drains what did start)."""
        self._listen = listen
        with self._lock:
            for slot in self._slots:
                try:
                    self._spawn(slot)
                except OSError as exc:  # no process could be started (resources, the interpreter gone)
                    raise ServerError(f"cannot start API worker {slot.index}: {exc}") from None
        self._monitor = threading.Thread(target=self._watch, name="api-workers", daemon=True)
        self._monitor.start()

    def _spawn(self, slot: _Slot) -> None:
        assert self._listen is not None
        ours, theirs = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "controlplane.agent.api_worker",
            "--listen-fd",
            str(self._listen.fileno()),
            "--link-fd",
            str(theirs.fileno()),
            "--worker",
            str(slot.index),
            "--graceful-s",
            str(self.graceful_s),
        ]
        if self.config is not None:
            command += ["--config", str(self.config)]
        try:
            slot.proc = subprocess.Popen(command, pass_fds=(self._listen.fileno(), theirs.fileno()))  # noqa: S603 - our own module, no input
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        slot.started = time.monotonic()
        threading.Thread(target=self._answer, args=(ours,), name=f"api-worker-link-{slot.index}", daemon=True).start()

    def _answer(self, link: socket.socket) -> None:
        """Answer one worker's questions until it closes its end (it exited)."""
        with link:
            while True:
                try:
                    question = link.recv(1)
                    if not question:
                        return
                    if question == READY:
                        send_answer(link, encode_readiness(self._readiness()))
                    elif question == METRICS:
                        send_answer(link, self._exposition())
                    else:
                        return
                except OSError:
                    return

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot in self._slots:
                    code = slot.proc.poll() if slot.proc is not None else None
                    if code is None or time.monotonic() - slot.started < RESTART_AFTER_S:
                        continue
                    self._log.warning("API worker exited: restarting it", worker=slot.index, code=code)
                    try:
                        self._spawn(slot)
                    except OSError as exc:
                        slot.started = time.monotonic()  # tried again after RESTART_AFTER_S
                        self._log.warning("API worker not restarted", worker=slot.index, error=str(exc))

    def stop(self, timeout_s: float = 15.0) -> bool:
        """SIGTERM every worker (each finishes its open requests), wait up to ``timeout_s``, kill what is left; True
        when every one stopped by itself."""
        self._stopping.set()
        with self._lock:
            procs = [s.proc for s in self._slots if s.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        clean = True
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                clean = False
                self._log.warning("an API worker did not stop in time: killed", pid=proc.pid)
                proc.kill()
                proc.wait()
        if self._monitor is not None:
            self._monitor.join(5)
        return clean
