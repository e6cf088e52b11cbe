"""Enforcement actions: one row per planned action with its idempotency key, state and attempts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("finding_id", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("cloud", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("notice_sent", sa.String(10), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("updated", sa.String(32), nullable=False),
    )
    op.create_index("ix_actions_state", "actions", ["state"])
    op.create_index("ix_actions_finding", "actions", ["finding_id"])


def downgrade() -> None:
    op.drop_index("ix_actions_finding", "actions")
    op.drop_index("ix_actions_state", "actions")
    op.drop_table("actions")
