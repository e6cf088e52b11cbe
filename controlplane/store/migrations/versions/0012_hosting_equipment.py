"""The hosting zone (托管): equipment vendors register for units, and the evidence files kept for it.

Serials are unique per vendor. Two non-retired pieces of one vendor's equipment never share a rack unit in the same
site, room and rack: the store checks it in its transaction, and the database refuses it too, PostgreSQL with an
exclusion constraint over the U range (btree_gist, a trusted extension the database owner may create), SQLite with
triggers (its writers are serialised, so a check at write time is enough).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from controlplane.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OVERLAP = """
    SELECT 1 FROM equipment AS e
    WHERE e.vendor = NEW.vendor AND e.site = NEW.site AND e.room = NEW.room AND e.rack = NEW.rack
      AND e.state <> 'retired' AND e.id IS NOT NEW.id
      AND e.u_start < NEW.u_start + NEW.u_height AND NEW.u_start < e.u_start + e.u_height
"""


def upgrade() -> None:
    op.create_table(
        "equipment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("serial", sa.String(200), nullable=False),
        sa.Column("asset_tag", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("system", sa.String(200), nullable=True),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("room", sa.String(200), nullable=False),
        sa.Column("rack", sa.String(200), nullable=False),
        sa.Column("u_start", sa.Integer, nullable=False),
        sa.Column("u_height", sa.Integer, nullable=False),
        sa.Column("power_watts", sa.BigInteger, nullable=False),
        sa.Column("ports", sa.Integer, nullable=False),
        sa.Column("bandwidth_bps", sa.BigInteger, nullable=False),
        sa.Column("hosted_since", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("retired_on", sa.Date, nullable=True),
        sa.Column("retire_reason", sa.String(16), nullable=True),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("vendor", "serial", name="uq_equipment_vendor_serial"),
        sa.CheckConstraint("u_start >= 1 AND u_height >= 1", name="ck_equipment_u_range"),
        sa.CheckConstraint("state IN ('registered', 'active', 'retired')", name="ck_equipment_state"),
    )
    op.create_index("ix_equipment_rack", "equipment", ["vendor", "site", "room", "rack"])
    op.create_index("ix_equipment_unit", "equipment", ["unit"])
    op.create_table(
        "equipment_evidence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("equipment_id", sa.Integer, sa.ForeignKey("equipment.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_equipment_evidence_equipment", "equipment_evidence", ["equipment_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE equipment ADD CONSTRAINT ex_equipment_rack_position EXCLUDE USING gist "
            "(vendor WITH =, site WITH =, room WITH =, rack WITH =, int4range(u_start, u_start + u_height) WITH &&) "
            "WHERE (state <> 'retired')"
        )
    else:
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER equipment_rack_position_{event.lower()} BEFORE {event} ON equipment "
                f"WHEN NEW.state <> 'retired' AND EXISTS ({_OVERLAP}) "
                "BEGIN SELECT RAISE(ABORT, 'equipment rack position overlaps'); END"
            )


def downgrade() -> None:
    op.drop_index("ix_equipment_evidence_equipment", "equipment_evidence")
    op.drop_table("equipment_evidence")
    op.drop_index("ix_equipment_unit", "equipment")
    op.drop_index("ix_equipment_rack", "equipment")
    op.drop_table("equipment")
