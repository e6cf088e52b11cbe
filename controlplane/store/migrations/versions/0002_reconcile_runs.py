"""Reconcile runs and the drift each found.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("clouds", sa.Text, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("api_calls", sa.Integer, nullable=False),
        sa.Column("new_drift", sa.Integer, nullable=False),
        sa.Column("resolved_drift", sa.Integer, nullable=False),
    )
    op.create_table(
        "reconcile_run_clouds",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("reconcile_runs.id"), primary_key=True),
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("api_calls", sa.Integer, nullable=False),
    )
    op.create_table(
        "drift_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("reconcile_runs.id"), nullable=False),
        sa.Column("cloud", sa.String(200), nullable=False),
        sa.Column("system", sa.String(200), nullable=True),
        sa.Column("drift_class", sa.String(32), nullable=False),
        sa.Column("resource_kind", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(300), nullable=False),
        sa.Column("resource_name", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("is_new", sa.Boolean, nullable=False),
    )
    op.create_index("ix_drift_records_run", "drift_records", ["run_id"])
    op.create_index("ix_drift_records_cloud", "drift_records", ["cloud", "run_id"])


def downgrade() -> None:
    op.drop_table("drift_records")
    op.drop_table("reconcile_run_clouds")
    op.drop_table("reconcile_runs")
