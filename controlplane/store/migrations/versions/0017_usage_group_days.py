"""A project's day in one row (``usage_group_days``): its servers' writes and network traffic added up from
``usage_days``, so that a system's activity reads one row a project and day instead of one a server. Filled from
the days already summarised.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_group_days",
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("scope_kind", sa.String(32), primary_key=True),
        sa.Column("group_id", sa.String(200), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("writes", sa.Float, nullable=True),
        sa.Column("network", sa.Float, nullable=True),
        sa.Column("measured", sa.Integer, nullable=False),
    )
    op.execute(
        "INSERT INTO usage_group_days (cloud, scope_kind, group_id, period, writes, network, measured)"
        " SELECT cloud, scope_kind, group_id, period, SUM(writes), SUM(network), SUM(measured)"
        " FROM usage_days GROUP BY cloud, scope_kind, group_id, period"
    )
    op.create_index("ix_usage_group_days_period", "usage_group_days", ["period"])


def downgrade() -> None:
    op.drop_table("usage_group_days")
