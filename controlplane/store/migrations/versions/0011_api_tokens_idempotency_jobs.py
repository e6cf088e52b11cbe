"""The HTTP API's own state: bearer tokens (only their SHA-256, looked up by a short public id), the stored first
responses of POSTs sent with an ``Idempotency-Key``, and the background jobs (reconcile runs) a POST starts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("vendor", sa.String(200), nullable=True),
        sa.Column("unit", sa.String(200), nullable=True),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires", UTCDateTime, nullable=False),
        sa.Column("revoked", UTCDateTime, nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("headers", sa.Text, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created"])
    op.create_table(
        "api_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.String(500), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
    )
    op.create_index("ix_api_jobs_created", "api_jobs", ["kind", "created"])


def downgrade() -> None:
    op.drop_index("ix_api_jobs_created", "api_jobs")
    op.drop_table("api_jobs")
    op.drop_index("ix_idempotency_keys_created", "idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("api_tokens")
