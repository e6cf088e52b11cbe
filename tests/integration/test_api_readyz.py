"""/readyz follows the database without a restart: a TCP relay of our own stands between the API's store and the
real PostgreSQL; cutting it (connections dropped, new ones accepted and never answered, as behind a dead network)
makes the probe answer 503 within its timeout, and it answers 200 again once the relay forwards again."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from controlplane.api.app import create_app
from controlplane.api.settings import ApiSettings
from controlplane.clock import FixedClock
from controlplane.config import load_settings
from controlplane.runtime import open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


class Relay:
    """Forwards 127.0.0.1:port to the upstream; ``cut`` drops every connection and holds new ones unanswered."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.forwarding = True
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.open.append(client)
                if not self.forwarding:
                    continue  # held: accepted, never answered
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.open.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()

    def cut(self) -> None:
        self.forwarding = False
        self._drop_all()

    def restore(self) -> None:
        self.forwarding = True
        self._drop_all()  # the held ones fail now, as after a network comes back

    def close(self) -> None:
        self.listener.close()
        self._drop_all()


@pytest.fixture
def relay(pg_url: str) -> Iterator[tuple[Relay, str]]:
    url = make_url(pg_url)
    engine = make_engine(pg_url)
    migrate.upgrade(engine)
    engine.dispose()
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    finally:
        relay.close()


@pytest.mark.postgres
def test_readyz_follows_the_database(relay: tuple[Relay, str], tmp_path: Path, clock: FixedClock) -> None:
    """200 while the database answers, 503 within the timeout while it does not, 200 again when it is back."""
    link, url = relay
    settings = load_settings(EXAMPLES / "yunguan.yaml", state_dir=tmp_path / "state", database={"url": url})
    rt = open_runtime(settings, clock=clock)
    app = create_app(lambda: rt, routers=[], api=ApiSettings(ready_timeout_s=3))
    readiness = app.state.yunguan.readiness
    try:
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
            link.cut()
            down = client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["ready"] is False
            assert client.get("/livez").status_code == 200  # the process is fine
            link.restore()
            assert readiness.settle(30)
            back = client.get("/readyz")
            assert back.status_code == 200, back.text
            assert back.json() == {"ready": True, "detail": "database answers"}
    finally:
        rt.close()
