"""Daily rollups say what their hours held: the hours with a rollup, those with at least 3 samples above 80% (Bozhou
26) and the first and last of them, so that hours above 80% over closed days read one row a day, not 24. Rows
rolled up before this migration keep NULL there and their hours are read instead (nothing is backfilled).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        batch.add_column(sa.Column("hours", sa.Integer, nullable=True))
        batch.add_column(sa.Column("hot_hours", sa.Integer, nullable=True))
        batch.add_column(sa.Column("first_hot_hour", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_hot_hour", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        batch.drop_column("last_hot_hour")
        batch.drop_column("first_hot_hour")
        batch.drop_column("hot_hours")
        batch.drop_column("hours")
