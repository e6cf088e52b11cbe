"""The PostgreSQL engine's pool: a pooled connection whose session the server ended is replaced before anyone uses
it; a live one is handed out as it is, without a round trip to ask."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from controlplane.store.engine import make_engine

pytestmark = pytest.mark.postgres


def _backend(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_live_pooled_connection_is_used_without_a_ping(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same session serves one checkout after another, and nothing is sent to ask whether it is alive."""
    engine = make_engine(pg_url)
    try:
        first = _backend(engine)
        pings: list[object] = []
        real_ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
        assert [_backend(engine) for _ in range(3)] == [first] * 3
        assert pings == []
    finally:
        engine.dispose()


def test_a_connection_the_server_ended_is_replaced_before_use(pg_url: str) -> None:
    """The server ends the pooled session (as a restart or an administrator does): the next checkout gets a new one
    and its query succeeds; no request sees the dead one."""
    engine = make_engine(pg_url)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        first = _backend(engine)
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
            # the session is gone once the server says so: wait for it, not for a clock
            while conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": first}).first():
                pass
        second = _backend(engine)
        assert second != first
        assert _backend(engine) == second
    finally:
        admin.dispose()
        engine.dispose()
