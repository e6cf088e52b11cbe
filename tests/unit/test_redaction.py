"""Secrets never reach the logs: the structlog pipeline masks configured secrets and secret-named keys."""

from __future__ import annotations

import io
import json

from controlplane.logs import configure_logging, get_logger
from controlplane.redaction import Redactor


def test_logged_secrets_are_masked_in_json_output() -> None:
    """A password inside a message, a URL and a 'token' key all come out as ***."""
    stream = io.StringIO()
    configure_logging(Redactor(["hunter2-db-pw"]), "debug", "json", stream)
    log = get_logger("test")
    log.info("connecting with hunter2-db-pw", url="postgresql://yg:other-pw@db/x", token="abc123", rows=3)
    log.error("failed", exc_info=ValueError("password hunter2-db-pw rejected"))
    out = stream.getvalue()
    for secret in ("hunter2-db-pw", "other-pw", "abc123"):
        assert secret not in out
    first = json.loads(out.splitlines()[0])
    assert first["url"] == "postgresql://yg:***@db/x"
    assert first["token"] == "***"
    assert first["rows"] == 3


def test_nested_payloads_are_masked() -> None:
    """Secret-named keys are masked at any depth; other values are kept."""
    redactor = Redactor()
    masked = redactor.value({"cloud": {"auth": {"password": "p", "username": "admin"}}, "api_key": "k"})
    assert masked == {"cloud": {"auth": {"password": "***", "username": "admin"}}, "api_key": "***"}
