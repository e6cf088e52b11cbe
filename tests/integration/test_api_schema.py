"""Schemathesis against the API as served: uvicorn on loopback over a SQLite store with the demo ledger and a
finding, the spec read from /v1/openapi.json, a bounded number of generated requests per operation with an admin
token. Every check must pass: no 5xx, every status, content type, header and body as the spec says, auth enforced,
invalid data rejected. One check is left out: "schema-valid data is accepted" (positive_data_acceptance), since the
spec cannot say what only the store knows (a cursor this API gave out, a month that is over, a cloud that is
configured, a finding's state), and those are answered with a documented 4xx problem."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from api_fixtures import import_demo, make_token, no_openstack, open_finding  # noqa: F401 - no_openstack: fixture
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from controlplane.api.app import create_app
from controlplane.api.tokens import Role
from controlplane.clock import FixedClock
from controlplane.config import load_settings
from controlplane.runtime import Runtime, open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
EXAMPLES_PER_OPERATION = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[str, str, Runtime]]:
    settings = load_settings(
        EXAMPLES / "yunguan.yaml", state_dir=tmp_path / "state", database={"url": f"sqlite:///{tmp_path}/y.db"}
    )
    engine = make_engine(settings.database_url())
    migrate.upgrade(engine)
    engine.dispose()
    rt = open_runtime(settings, clock=clock)
    import_demo(rt)
    open_finding(rt, "GA-007")
    token = make_token(rt, Role.ADMIN)
    app = create_app(lambda: rt)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # the server's own flag, polled while it binds (no clock is involved)
        if server.started or not thread.is_alive():
            break
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", token, rt
    finally:
        server.should_exit = True
        thread.join(30)
        running = app.state.yunguan.jobs.running()
        if running:
            app.state.yunguan.jobs.join(running, timeout=120)
        rt.close()


@pytest.mark.usefixtures("no_openstack")
def test_api_conforms_to_its_spec(served: tuple[str, str, Runtime]) -> None:
    """Generated requests to every operation: zero server errors, zero schema violations."""
    base, token, _ = served
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
