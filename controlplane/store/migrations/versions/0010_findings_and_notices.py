"""Findings and their lifecycle (one row per pack, rule, system, cloud and scope, with the latest evaluation's
evidence, the deadline of the next escalation step, exemption and dispute), each transition beside the operation-log
event that records it, and the notices the transitions produce with one delivery row per channel and recipient.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(1000), nullable=False, unique=True),
        sa.Column("pack", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("citation", sa.String(300), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("cloud", sa.String(200), nullable=True),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("opened", UTCDateTime, nullable=False),
        sa.Column("state_since", UTCDateTime, nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("last_verdict", sa.String(16), nullable=False),
        sa.Column("deadline", sa.Date, nullable=True),
        sa.Column("paused_state", sa.String(16), nullable=True),
        sa.Column("exempt_reason", sa.Text, nullable=True),
        sa.Column("exempt_until", sa.Date, nullable=True),
        sa.Column("exempt_by", sa.String(200), nullable=True),
        sa.Column("dispute_reason", sa.Text, nullable=True),
        sa.Column("notified", sa.Text, nullable=False),
        sa.Column("action_ref", sa.String(500), nullable=True),
    )
    op.create_index("ix_findings_state", "findings", ["state", "deadline"])
    op.create_index("ix_findings_system", "findings", ["system"])
    op.create_table(
        "finding_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id"), nullable=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("transition", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_finding_events_finding", "finding_events", ["finding_id", "id"])
    op.create_index("ix_finding_events_time", "finding_events", ["time"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id"), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("deadline", sa.Date, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("finding_id", "cycle", "kind", "ref", name="uq_notice_once"),
    )
    op.create_index("ix_notices_status", "notices", ["status"])
    op.create_table(
        "notice_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notice_id", sa.Integer, sa.ForeignKey("notices.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(500), nullable=False),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_attempt", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("notice_id", "channel", "recipient", name="uq_notice_delivery"),
    )


def downgrade() -> None:
    op.drop_table("notice_deliveries")
    op.drop_index("ix_notices_status", "notices")
    op.drop_table("notices")
    op.drop_index("ix_finding_events_time", "finding_events")
    op.drop_index("ix_finding_events_finding", "finding_events")
    op.drop_table("finding_events")
    op.drop_index("ix_findings_system", "findings")
    op.drop_index("ix_findings_state", "findings")
    op.drop_table("findings")
