"""Engines for the two backends, with the settings each needs to be safe.

SQLite: WAL, foreign keys on, a busy timeout, and every transaction begun IMMEDIATE so that two writers queue for
the lock instead of failing on upgrade; except on a ``reader``, whose transactions only read and begin deferred.
PostgreSQL: psycopg 3, and a pooled connection is pinged before use only when its socket has something to read: a
server that restarted, or ended the session (idle timeout, ``pg_terminate_backend``), says so on the socket and
closes it, while a live session's socket stays silent between queries. SQLAlchemy's ``pool_pre_ping`` would send
``SELECT 1`` on every checkout, a round trip a request (~0.1 ms of this process's CPU with psycopg, and the
server's). A dead connection found so is replaced before anyone uses it, and the pool's other connections of
before with it; one whose server vanished without a word (a host gone, no FIN) fails its first query, as it
would its ping.
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InvalidatePoolError


def normalise_url(url: str | URL, password: str | None = None) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


READ_ONLY = "yunguan_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine (and pool) for transactions that only read: on SQLite they begin deferred, so many readers
    never queue behind each other or a writer for the write lock. A write inside one is an error on SQLite."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(url: str | URL, password: str | None = None, busy_timeout_s: float = 30.0) -> Engine:
    parsed = normalise_url(url, password)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_s)
    return _postgresql_engine(parsed)


def _postgresql_engine(url: URL) -> Engine:
    engine = create_engine(url)
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not _has_input(dbapi_connection):
            return
        try:  # the server said something (most likely its goodbye): ask it whether it is still there
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            # the pool replaces this connection and, as after any disconnect, the other ones it holds from before
            raise InvalidatePoolError(f"the pooled connection is gone: {exc}") from exc

    return engine


def _has_input(dbapi_connection: Any) -> bool:
    """Whether an idle psycopg connection's socket has something to read (or is closed); nothing to read when the
    session is alive, as the server speaks only when asked (no LISTEN here)."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control from pysqlite so that BEGIN IMMEDIATE below is what starts a transaction
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # a reader (``reader(engine)``) takes no write lock: in WAL it reads its snapshot and never waits
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine
