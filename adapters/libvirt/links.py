"""One long-lived libvirt connection per hypervisor, kept alive and reopened with backoff.

Keepalive needs libvirt's default event loop registered before any connection opens and a thread running it
(``virEventRunDefaultImpl``); without it ``setKeepAlive`` raises. That loop watches every link's socket, and every
call on any link wakes it twice (libvirt takes the socket out of the loop while the calling thread does the I/O and
puts it back after), each wake-up polling all the sockets: with 1,000 links open, one call cost ~2 ms of CPU, most
of it in the loop. The loop thread therefore pauses ``EVENT_LOOP_PAUSE_S`` between rounds, so all the wake-ups of a
pause are served by one round (~0.3 ms a call then): calls do their own I/O and never wait for the loop, which only
has keepalives (seconds apart) and close notices to handle, each at most one pause late.

A link that breaks (keepalive timeout, a failed call, the close callback) is reopened on a later sweep, after a
backoff that doubles up to ``reconnect_max_s`` — a dead host costs one failed connect per backoff period, not one
per sweep.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt

from adapters.libvirt.errors import HostUnreachableError, describe, shown_uri

_loop_lock = threading.Lock()
_loop_started = False
EVENT_LOOP_PAUSE_S = 0.02  # at most 50 rounds a second; keepalive intervals are seconds


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation once per process and run it in a daemon thread."""
    global _loop_started  # noqa: PLW0603 - libvirt's event loop is process-wide by libvirt's design
    with _loop_lock:
        if _loop_started:
            return
        # libvirt prints every error to stderr by default; ours are raised, translated and reported instead
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()
                time.sleep(EVENT_LOOP_PAUSE_S)  # coalesces the wake-ups of every call made meanwhile (see above)

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


class Credentials:
    """SASL user and passphrase for ``openAuth``; the passphrase is read from its file when asked for, never kept
    in a message."""

    def __init__(self, username: str | None, passphrase_file: Path | None) -> None:
        self.username = username
        self._file = passphrase_file

    def callback(self, creds: list[list[Any]], _data: object) -> int:
        for cred in creds:
            if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                cred[4] = self.username or ""
            elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                cred[4] = self._file.read_text().strip() if self._file else ""
        return 0


class HostLink:
    """The connection to one host. ``get()`` gives an open connection or raises ``HostUnreachableError``."""

    def __init__(
        self,
        name: str,
        uri: str,
        monotonic: Callable[[], float],
        *,
        credentials: Credentials | None = None,
        keepalive: tuple[int, int] = (5, 3),
        backoff: tuple[float, float] = (5.0, 300.0),
    ) -> None:
        self.name, self.uri = name, uri
        self._monotonic = monotonic
        self._credentials = credentials
        self._keepalive = keepalive
        self._backoff_first, self._backoff_max = backoff
        self._conn: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._delay = 0.0
        self.last_error = ""
        self.opens = 0

    def _open(self) -> Any:
        if self._credentials is not None and self._credentials.username:
            auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], self._credentials.callback, None]
            conn = libvirt.openAuth(self.uri, auth, 0)
        else:
            conn = libvirt.open(self.uri)
        # local drivers (test:///, qemu:///system over the socket) have no keepalive: nothing to keep alive
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(*self._keepalive)
        conn.registerCloseCallback(self._on_close, None)
        return conn

    def _on_close(self, _conn: Any, _reason: int, _opaque: object) -> None:
        # runs on the event-loop thread: only note it; the next get() drops and reopens the link
        self._closed = True

    def get(self) -> Any:
        if self._closed:
            self.broken("closed by the host or by keepalive")
        with self._lock:
            if self._conn is not None:
                return self._conn
            now = self._monotonic()
            if now < self._retry_at:
                raise HostUnreachableError(
                    f"hypervisor {self.name} ({shown_uri(self.uri)}): down, next try in "
                    f"{self._retry_at - now:.0f} s ({self.last_error})"
                )
        # opened without the lock held: a host that hangs in the handshake must not block close()
        try:
            conn = self._open()
        except libvirt.libvirtError as exc:
            with self._lock:
                self._delay = min(self._backoff_max, max(self._backoff_first, self._delay * 2))
                self._retry_at = now + self._delay
                self.last_error = describe(exc)
            raise HostUnreachableError(
                f"hypervisor {self.name} ({shown_uri(self.uri)}): cannot connect: {describe(exc)}"
            ) from exc
        with self._lock:
            self._conn, self._delay = conn, 0.0
            self.opens += 1
        return conn

    def broken(self, why: str) -> None:
        """Forget the connection; the next ``get()`` reopens it (at once: a broken link is not a dead host)."""
        with self._lock:
            conn, self._conn = self._conn, None
            self._closed = False
            self.last_error = why
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):  # already gone
                conn.unregisterCloseCallback()
                conn.close()

    def close(self) -> None:
        self.broken("closed")
