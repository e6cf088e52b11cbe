"""The names of the groups (OpenStack projects) the usage scopes belong to, as the hypervisors report them (Nova's
domain metadata carries project id and name), so a system whose ledger footprint names its projects by name finds
its servers' samples, which carry the project id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_groups",
        sa.Column("cloud", sa.String(200), primary_key=True),
        sa.Column("group_id", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("seen", sa.String(32), nullable=False),
    )
    op.create_index("ix_usage_groups_name", "usage_groups", ["cloud", "name"])


def downgrade() -> None:
    op.drop_index("ix_usage_groups_name", "usage_groups")
    op.drop_table("usage_groups")
