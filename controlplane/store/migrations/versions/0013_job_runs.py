"""Agent job runs: one row per run of a scheduled job, with its times, outcome, detail and (cut, redacted) error.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("started", UTCDateTime, nullable=False),
        sa.Column("finished", UTCDateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("period", sa.String(32), nullable=True),
    )
    op.create_index("ix_job_runs_job", "job_runs", ["job", "started"])
    op.create_index("ix_job_runs_started", "job_runs", ["started"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_started", "job_runs")
    op.drop_index("ix_job_runs_job", "job_runs")
    op.drop_table("job_runs")
