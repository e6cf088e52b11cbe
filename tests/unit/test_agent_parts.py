"""The agent's pure parts: its config section, the error text of a failed run, the month the evaluation covers, and
the HTTP front (``/metrics`` and the agent's own readiness in front of the API)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from controlplane.agent.health import Readiness
from controlplane.agent.metrics import AgentMetrics
from controlplane.agent.runner import error_text
from controlplane.agent.settings import AgentSettings, hour_minute
from controlplane.agent.store_jobs import previous_month
from controlplane.agent.web import front
from controlplane.clock import CST, FixedClock
from controlplane.config import ConfigError, load_settings
from controlplane.redaction import Redactor


def test_agent_section_defaults_and_a_bad_time_names_the_key(tmp_path: Path) -> None:
    """Defaults: 15-minute reconciles, 5-minute sweeps, hourly rollups; a time of day that is not HH:MM is refused
    at load, naming agent.tick_at and its environment variable."""
    agent = AgentSettings()
    assert (agent.reconcile_every_s, agent.sweep_every_s, agent.rollup_every_s) == (900, 300, 3600)
    assert hour_minute(agent.tick_at) == (9, 0)
    config = tmp_path / "c.yaml"
    config.write_text("agent:\n  tick_at: '9am'\n  disabled: [reconcile]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"{config}: agent.tick_at:" in message and "HH:MM" in message and "YUNGUAN_AGENT__TICK_AT" in message
    config.write_text("agent:\n  disabled: [reconcile, backup]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.disabled\.1"):
        load_settings(config)


def test_error_text_names_causes_redacts_and_cuts() -> None:
    """Type and message of the exception and each cause, secrets masked, cut with an ellipsis."""

    refused = ConnectionRefusedError("pw=Sup3rSecret")
    failed = _with_cause(OSError("connect failed"), refused)
    text = error_text(_with_cause(RuntimeError("store unreachable"), failed), Redactor(["Sup3rSecret"]), 1000)
    assert text == "RuntimeError: store unreachable <- OSError: connect failed <- ConnectionRefusedError: pw=***"
    assert error_text(RuntimeError("x" * 50), Redactor(), 20) == "RuntimeError: xxxxx…"


def _with_cause(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("now", "month"),
    [
        ("2026-11-01T00:30:00+08:00", "2026-10"),  # just after midnight in Beijing: still 10-31 in UTC
        ("2026-11-30T23:59:00+08:00", "2026-10"),
        ("2027-01-01T03:00:00+08:00", "2026-12"),
        ("2026-03-01T00:00:00+08:00", "2026-02"),
    ],
)
def test_the_evaluation_covers_the_previous_month_in_utc8(now: str, month: str) -> None:
    """The month before the current UTC+8 month, across a year's end."""
    assert previous_month(FixedClock(dt.datetime.fromisoformat(now))).label == month


class FakeHealth:
    def __init__(self, ready: bool) -> None:
        self.ready = ready

    def readiness(self) -> Readiness:
        checks = {"draining": "ok" if self.ready else "stopping", "scheduler": "ok", "database": "ok"}
        return Readiness(self.ready, checks)


def call(app: Any, path: str) -> tuple[int, bytes]:
    """One GET through an ASGI app."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8443),
        "client": ("127.0.0.1", 50000),
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_front_serves_metrics_and_refuses_readiness_while_draining() -> None:
    """/metrics is the agent's registry; /readyz is 503 with the agent's reason while it drains, else the API's;
    other paths go to the API."""
    metrics = AgentMetrics()
    metrics.job_done("rollup", ok=False, seconds=0.2, finished_ts=dt.datetime(2026, 11, 1, tzinfo=CST).timestamp())
    reached: list[str] = []

    async def api(scope: Any, _receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"api"})

    draining = FakeHealth(ready=False)
    app = front(api, draining, metrics)  # type: ignore[arg-type]
    status, body = call(app, "/metrics")
    assert status == 200 and b'yunguan_job_failures_total{job="rollup"} 1.0' in body
    status, body = call(app, "/readyz")
    assert status == 503 and json.loads(body) == {"ready": False, "detail": "agent draining: stopping"}
    assert call(app, "/v1/systems") == (200, b"api")
    draining.ready = True
    assert call(app, "/readyz") == (200, b"api")
    assert reached == ["/v1/systems", "/readyz"]
