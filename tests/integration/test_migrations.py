"""The schema exists only through migrations, and the migrations build exactly what the code queries."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, insert, select, table

from controlplane.store import migrate
from controlplane.store.engine import make_engine
from controlplane.store.tables import metadata, usage_days, usage_group_days


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


def test_upgrades_0016_0017_summarise_the_days_already_rolled_up(db_url: str) -> None:
    """A store rolled up before 0016 gets each closed day's summary of its daily rollups (what the idle rules read
    since), the same rows the rollup writes for a day it closes."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0015")
    day = "2026-10-30T16:00:00.000000Z"
    rollup = {"cloud": "c", "scope_kind": "server", "period": day, "group_id": "p-1", "max": None, "min": None}
    counts = {"n": 1, "n_above_80": 0, "n_missing": 0, "n_estimated": 0}
    daily = [
        {**rollup, **counts, "scope_id": "vm-1", "metric": "disk_write_bytes_per_s", "mean": 5.0},
        {**rollup, **counts, "scope_id": "vm-1", "metric": "net_rx_bytes_per_s", "mean": 1.5},
        {**rollup, **counts, "scope_id": "vm-1", "metric": "net_tx_bytes_per_s", "mean": 2.5},
        {**rollup, **counts, "scope_id": "vm-2", "metric": "cpu_percent", "mean": 30.0},
    ]
    with engine.begin() as conn:
        conn.execute(insert(table("usage_daily", *(column(c) for c in daily[0]))), daily)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        found = conn.execute(
            select(usage_days.c.scope_id, usage_days.c.writes, usage_days.c.network, usage_days.c.measured)
            .where(usage_days.c.period == day)
            .order_by(usage_days.c.scope_id)
        ).all()
        projects = conn.execute(select(usage_group_days.c.group_id, usage_group_days.c.writes)).all()
    engine.dispose()
    assert [tuple(r) for r in found] == [("vm-1", 5.0, 4.0, 3), ("vm-2", None, None, 0)]
    assert [tuple(r) for r in projects] == [("p-1", 5.0)]  # 0017: the project's day, from those (vm-1 and vm-2)
