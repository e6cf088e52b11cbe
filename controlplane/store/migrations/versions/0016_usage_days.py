"""A scope's day in one row (``usage_days``): its group, its writes and its network traffic, summed from the day's
daily rollups, so that when a server last ran and was last active, and which servers a project had, read one row a
scope and day instead of one a metric. Filled from the daily rollups already there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_days",
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("scope_kind", sa.String(32), primary_key=True),
        sa.Column("scope_id", sa.String(300), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("writes", sa.Float, nullable=True),
        sa.Column("network", sa.Float, nullable=True),
        sa.Column("measured", sa.Integer, nullable=False),
    )
    op.execute(
        "INSERT INTO usage_days (cloud, scope_kind, scope_id, period, group_id, writes, network, measured)"
        " SELECT cloud, scope_kind, scope_id, period, MAX(group_id),"
        " SUM(CASE WHEN metric = 'disk_write_bytes_per_s' THEN mean END),"  # usage_rollup.WRITES and NETWORK
        " SUM(CASE WHEN metric IN ('net_rx_bytes_per_s', 'net_tx_bytes_per_s') THEN mean END),"
        " SUM(CASE WHEN metric IN ('disk_write_bytes_per_s', 'net_rx_bytes_per_s', 'net_tx_bytes_per_s')"
        " THEN 1 ELSE 0 END)"
        " FROM usage_daily GROUP BY cloud, scope_kind, scope_id, period"
    )
    op.create_index("ix_usage_days_period", "usage_days", ["period"])
    op.create_index("ix_usage_days_group", "usage_days", ["cloud", "group_id", "period", "scope_id"])


def downgrade() -> None:
    op.drop_table("usage_days")
