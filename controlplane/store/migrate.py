"""Schema migrations through Alembic, driven programmatically: ``yunguan db upgrade`` and the store's check that
the database is at the code's revision before anything reads or writes it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(Exception):
    """The database is not at the schema this code expects."""


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head() -> str:
    head_rev = ScriptDirectory.from_config(_config_no_engine()).get_current_head()
    assert head_rev is not None
    return head_rev


def _config_no_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(_config(engine), revision)


def require_head(engine: Engine) -> None:
    at = current(engine)
    expected = head()
    if at != expected:
        raise SchemaError(
            f"the database schema is at {at or 'nothing (empty database)'}, this Yunguan needs {expected}: "
            "run `yunguan db upgrade`"
        )
