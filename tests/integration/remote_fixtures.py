"""The `served` fixture of the remote CLI tests: uvicorn serves the API on a free loopback port over a real store
(SQLite or PostgreSQL, through ``runtime``) holding the demo ledger, and ``Served.run`` runs the CLI through typer's
CliRunner (``Served.remote``: with ``--server`` and a token of a role)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from api_fixtures import import_demo, make_token
from click.testing import Result
from typer.testing import CliRunner

from controlplane.api.app import create_app
from controlplane.api.tokens import Role
from controlplane.cli.app import app, hoist_global_options
from controlplane.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    runtime: Runtime
    tmp: Path
    run: Callable[..., Result]

    def token_file(self, role: Role = Role.OPERATOR, text: str | None = None) -> str:
        path = self.tmp / f"token-{role.value}-{text is not None}"
        path.write_text((text or make_token(self.runtime, role, name=f"cli-{role.value}")) + "\n", encoding="utf-8")
        return str(path)

    def remote(self, *args: str, role: Role = Role.OPERATOR) -> Result:
        return self.run("--server", self.url, "--token-file", self.token_file(role), *args)


@pytest.fixture(name="served")
def served_fixture(runtime: Runtime, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    import_demo(runtime)
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n", encoding="utf-8"
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    monkeypatch.setenv("YUNGUAN_CLIENT_CONFIG", str(tmp_path / "no-client.yaml"))
    monkeypatch.setenv("YUNGUAN_POLL_S", "0.05")
    for name in ("YUNGUAN_SERVER", "YUNGUAN_TOKEN", "YUNGUAN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(lambda: runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # uvicorn's own flag while it binds
        if server.started or not thread.is_alive():
            break
    assert server.started
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, hoist_global_options(list(args)), env=env, catch_exceptions=False)

    try:
        yield Served(f"http://127.0.0.1:{port}", runtime, tmp_path, run)
    finally:
        server.should_exit = True
        thread.join(30)
