"""Where each cloud's operation records were last read up to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_cursors",
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("since", sa.String(32), nullable=False),
        sa.Column("seen", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("record_cursors")
