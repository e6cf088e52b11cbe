"""Vendor-reported utilization: one row per (vendor, month, cloud, system, server, metric), a percentage in hundredths
of a point, beside the measured samples.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_reported_usage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("cloud_id", sa.Integer, sa.ForeignKey("clouds.id"), nullable=False),
        sa.Column("system_id", sa.Integer, sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("server_id", sa.String(300), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("percent_hundredths", sa.Integer, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint(
            "vendor", "month", "cloud_id", "system_id", "server_id", "metric", name="uq_vendor_reported_figure"
        ),
    )
    op.create_index("ix_vendor_reported_usage_month", "vendor_reported_usage", ["month"])


def downgrade() -> None:
    op.drop_index("ix_vendor_reported_usage_month", "vendor_reported_usage")
    op.drop_table("vendor_reported_usage")
