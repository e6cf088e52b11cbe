"""A store that does not answer is a 503 problem with Retry-After, never a 500, and says nothing of the database
URL; any other unexpected error stays a 500 that says nothing of its cause."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from structlog.testing import capture_logs

from controlplane.api import problems

SECRET_URL = "postgresql://yunguan:s3cret@db.internal:5432/yunguan"


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("SELECT 1", {}, ConnectionRefusedError(f"connection to {SECRET_URL} refused")),
        InterfaceError("SELECT 1", {}, RuntimeError(f"the connection to {SECRET_URL} is closed")),
        PoolTimeoutError(f"QueuePool limit reached for {SECRET_URL}"),
    ],
    ids=["unreachable", "connection-closed", "pool-exhausted"],
)
def test_store_away_is_a_clean_503(exc: Exception) -> None:
    """The database unreachable, a dropped connection or an empty pool: 503 store-unavailable, Retry-After, and
    neither the answer nor the log carries the driver's message."""
    with capture_logs() as logs:
        answer = app_raising(exc).get("/boom")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == problems.MEDIA_TYPE
    assert answer.headers["retry-after"] == str(problems.STORE_RETRY_AFTER_S)
    body = answer.json()
    assert body["type"] == problems.TYPE_BASE + "store-unavailable"
    assert (body["status"], body["instance"]) == (503, "/boom")
    assert "database" in body["detail"]
    assert "s3cret" not in answer.text and "db.internal" not in answer.text
    assert [(e["event"], e["error"]) for e in logs] == [("the store does not answer", type(exc).__name__)]
    assert "s3cret" not in repr(logs)


def test_other_errors_stay_500() -> None:
    """An error that is not the store's is still the opaque 500."""
    answer = app_raising(ValueError("a bug")).get("/boom")
    assert answer.status_code == 500
    assert answer.json()["type"] == problems.TYPE_BASE + "internal"
    assert "a bug" not in answer.text
