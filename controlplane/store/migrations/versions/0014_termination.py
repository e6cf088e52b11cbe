"""Termination: the cases (request, approval and transition, backup evidence, two-person wipe approval, reclaim,
billing end) and the steps of each case's wipe, one row per target, written before the wiper acts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "termination_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("stopped_use_on", sa.Date, nullable=True),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("transition_ends", sa.Date, nullable=True),
        sa.Column("backup_confirmed_by", sa.String(200), nullable=True),
        sa.Column("backup_confirmed_at", UTCDateTime, nullable=True),
        sa.Column("backup_name", sa.String(200), nullable=True),
        sa.Column("backup_sha256", sa.String(64), nullable=True),
        sa.Column("backup_size", sa.BigInteger, nullable=True),
        sa.Column("wipe_approved_by", sa.String(200), nullable=True),
        sa.Column("wipe_approved_at", UTCDateTime, nullable=True),
        sa.Column("wipe_started_at", UTCDateTime, nullable=True),
        sa.Column("wiped_at", UTCDateTime, nullable=True),
        sa.Column("reclaimed_at", UTCDateTime, nullable=True),
        sa.Column("billing_end", sa.Date, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("leftovers", sa.Text, nullable=False),
        sa.Column("reminders", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_termination_cases_system", "termination_cases", ["system", "state"])
    op.create_table(
        "termination_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("termination_cases.id"), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("cloud", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("target_id", sa.String(500), nullable=False),
        sa.Column("target_group", sa.String(500), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("started", UTCDateTime, nullable=True),
        sa.Column("ended", UTCDateTime, nullable=True),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("already_gone", sa.Boolean, nullable=False),
        sa.Column("samples", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("intent_seq", sa.BigInteger, nullable=True),
        sa.Column("result_seq", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("case_id", "cloud", "kind", "target_id", name="uq_termination_steps_target"),
    )
    op.create_index("ix_termination_steps_case", "termination_steps", ["case_id", "ordinal"])


def downgrade() -> None:
    op.drop_index("ix_termination_steps_case", "termination_steps")
    op.drop_table("termination_steps")
    op.drop_index("ix_termination_cases_system", "termination_cases")
    op.drop_table("termination_cases")
