"""Cloud records are de-duplicated by their id in the operation log, so the cursor keeps only where to resume.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_request_id", "audit_events", ["request_id"])
    with op.batch_alter_table("record_cursors") as batch:
        batch.drop_column("seen")


def downgrade() -> None:
    with op.batch_alter_table("record_cursors") as batch:
        batch.add_column(sa.Column("seen", sa.Text, nullable=False, server_default="[]"))
    op.drop_index("ix_audit_events_request_id", "audit_events")
