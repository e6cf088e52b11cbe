"""Hypervisor utilization: samples say their quality, group and host (value may be missing); sweeps are recorded;
hourly and daily rollups with the state of the rollup; 64-bit sample ids.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SAMPLE_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _rollup_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("scope_kind", sa.String(32), primary_key=True),
        sa.Column("scope_id", sa.String(300), primary_key=True),
        sa.Column("metric", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("mean", sa.Float, nullable=True),
        sa.Column("max", sa.Float, nullable=True),
        sa.Column("min", sa.Float, nullable=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("n_above_80", sa.Integer, nullable=False),
        sa.Column("n_missing", sa.Integer, nullable=False),
        sa.Column("n_estimated", sa.Integer, nullable=False),
    )
    op.create_index(f"ix_{name}_period", name, ["period"])
    op.create_index(f"ix_{name}_group", name, ["cloud", "group_id", "metric", "period"])


def upgrade() -> None:
    # SQLite's INTEGER PRIMARY KEY is already 64-bit; PostgreSQL's serial is not
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("usage_samples", "id", type_=sa.BigInteger, existing_nullable=False)
        op.execute("ALTER SEQUENCE usage_samples_id_seq AS bigint")
    with op.batch_alter_table("usage_samples") as batch:
        batch.alter_column("value", existing_type=sa.Float, nullable=True)
        batch.add_column(sa.Column("quality", sa.String(16), nullable=False, server_default="measured"))
        batch.add_column(sa.Column("group_id", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("host", sa.String(200), nullable=False, server_default=""))
    op.create_index("ix_usage_samples_time", "usage_samples", ["time"])
    op.create_table(
        "usage_sweeps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cloud", sa.String(200), nullable=False),
        sa.Column("started", sa.String(32), nullable=False),
        sa.Column("finished", sa.String(32), nullable=False),
        sa.Column("hosts_ok", sa.Integer, nullable=False),
        sa.Column("hosts_failed", sa.Integer, nullable=False),
        sa.Column("domains", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_usage_sweeps_cloud", "usage_sweeps", ["cloud", "started"])
    _rollup_table("usage_hourly")
    _rollup_table("usage_daily")
    op.create_table(
        "usage_rollup_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_sample_id", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_rollup_state")
    for name in ("usage_daily", "usage_hourly"):
        op.drop_index(f"ix_{name}_group", name)
        op.drop_index(f"ix_{name}_period", name)
        op.drop_table(name)
    op.drop_index("ix_usage_sweeps_cloud", "usage_sweeps")
    op.drop_table("usage_sweeps")
    op.drop_index("ix_usage_samples_time", "usage_samples")
    op.execute("DELETE FROM usage_samples WHERE value IS NULL")  # 0005 cannot hold a missing measurement
    with op.batch_alter_table("usage_samples") as batch:
        batch.drop_column("host")
        batch.drop_column("group_id")
        batch.drop_column("quality")
        batch.alter_column("value", existing_type=sa.Float, nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE usage_samples_id_seq AS integer")
        op.alter_column("usage_samples", "id", type_=sa.Integer, existing_nullable=False)
