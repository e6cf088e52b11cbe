"""Shared fixtures. Integration tests run on both backends: SQLite in a temp dir and a real PostgreSQL server
(``deploy/dev/postgres.sh start``); each PostgreSQL test gets a database of its own, dropped afterwards."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from controlplane.clock import FixedClock
from controlplane.config import Settings, load_settings
from controlplane.runtime import Runtime, open_runtime
from controlplane.store import migrate
from controlplane.store.engine import make_engine

PG_ADMIN_URL = os.environ.get("YUNGUAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "deploy" / "examples"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC))


def _pg_database() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"yunguan_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL.split('@')[-1]}: start it with "
            f"`deploy/dev/postgres.sh start` ({type(exc).__name__})"
        )
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, for tests that are about PostgreSQL itself."""
    yield from _pg_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'yunguan.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        EXAMPLES / "yunguan.yaml",
        state_dir=tmp_path / "state",
        database={"url": db_url},
        audit={"checkpoint_every": 10},
    )


@pytest.fixture
def runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    """A runtime on a migrated, empty store."""
    engine = make_engine(settings.database_url())
    migrate.upgrade(engine)
    engine.dispose()
    rt = open_runtime(settings, clock=clock)
    try:
        yield rt
    finally:
        rt.close()
