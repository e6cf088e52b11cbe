"""Ledger (departments, systems, clouds, allocation revisions, footprints) and the operation log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("departments.id"), nullable=True),
    )
    op.create_table(
        "systems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department_id", sa.Integer, sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("mlps_level", sa.Integer, nullable=False),
        sa.Column("zone", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("stable_since", sa.Date, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "clouds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("zone", sa.String(16), nullable=False),
        sa.Column("connection", sa.String(500), nullable=False),
    )
    op.create_table(
        "allocation_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("system_id", sa.Integer, sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("cloud_id", sa.Integer, sa.ForeignKey("clouds.id"), nullable=False),
        sa.Column("vcpu_milli", sa.BigInteger, nullable=False),
        sa.Column("memory_bytes", sa.BigInteger, nullable=False),
        sa.Column("storage_bytes", sa.BigInteger, nullable=False),
        sa.Column("instances", sa.Integer, nullable=False),
        sa.Column("rack_units", sa.Integer, nullable=False),
        sa.Column("power_watts", sa.BigInteger, nullable=False),
        sa.Column("bandwidth_bps", sa.BigInteger, nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
        sa.Column("approval_ref", sa.String(200), nullable=False),
        sa.Column("approval_date", sa.Date, nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("effective_to", sa.Date, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("major_change", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("system_id", "cloud_id", "approval_ref", name="uq_revision_approval"),
    )
    op.create_index("ix_revisions_system_cloud", "allocation_revisions", ["system_id", "cloud_id"])
    op.create_table(
        "footprints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("system_id", sa.Integer, sa.ForeignKey("systems.id"), nullable=False),
        sa.Column("cloud_id", sa.Integer, sa.ForeignKey("clouds.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.UniqueConstraint("cloud_id", "kind", "ref", name="uq_footprint_resource"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    # the single head row exists from the start, so concurrent first appends queue on it instead of racing
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_hash", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"])


def downgrade() -> None:
    for table in (
        "audit_checkpoints",
        "audit_head",
        "audit_events",
        "footprints",
        "allocation_revisions",
        "clouds",
        "systems",
        "departments",
    ):
        op.drop_table(table)
