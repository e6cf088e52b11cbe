"""The schema exists only through migrations, and the migrations build exactly what the code queries."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import metadata


def test_migrations_build_the_schema_the_code_uses(db_url: str) -> None:
    """After `db upgrade` there is no difference between the migrated schema and the table definitions."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_unmigrated_database_is_refused_with_the_fix(db_url: str) -> None:
    """Opening an empty database says to run `yunguan db upgrade`."""
    engine = make_engine(db_url)
    with pytest.raises(migrate.SchemaError, match="run `yunguan db upgrade`"):
        migrate.require_head(engine)
    migrate.upgrade(engine)
    migrate.require_head(engine)
    engine.dispose()
