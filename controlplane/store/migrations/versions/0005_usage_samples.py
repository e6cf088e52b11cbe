"""Measured use: one row per sample (cloud, scope, metric, value, time, source).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("cloud", sa.String(200), nullable=False),
        sa.Column("scope_kind", sa.String(32), nullable=False),
        sa.Column("scope_id", sa.String(300), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
    )
    op.create_index("ix_usage_samples_scope", "usage_samples", ["cloud", "scope_kind", "scope_id", "metric", "time"])


def downgrade() -> None:
    op.drop_index("ix_usage_samples_scope", "usage_samples")
    op.drop_table("usage_samples")
