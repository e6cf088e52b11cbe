"""Table definitions used by queries. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from controlplane.store.types import UTCDateTime

metadata = MetaData()

departments = Table(
    "departments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("parent_id", Integer, ForeignKey("departments.id"), nullable=True),
)

systems = Table(
    "systems",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("department_id", Integer, ForeignKey("departments.id"), nullable=False),
    Column("mlps_level", Integer, nullable=False),
    Column("zone", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("stable_since", Date, nullable=True),
    Column("status", String(16), nullable=False),
)

clouds = Table(
    "clouds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("vendor", String(200), nullable=False),
    Column("zone", String(16), nullable=False),
    Column("connection", String(500), nullable=False),
)

allocation_revisions = Table(
    "allocation_revisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("system_id", Integer, ForeignKey("systems.id"), nullable=False),
    Column("cloud_id", Integer, ForeignKey("clouds.id"), nullable=False),
    Column("vcpu_milli", BigInteger, nullable=False),
    Column("memory_bytes", BigInteger, nullable=False),
    Column("storage_bytes", BigInteger, nullable=False),
    Column("instances", Integer, nullable=False),
    Column("rack_units", Integer, nullable=False),
    Column("power_watts", BigInteger, nullable=False),
    Column("bandwidth_bps", BigInteger, nullable=False),
    Column("devices", Integer, nullable=False),
    Column("approval_ref", String(200), nullable=False),
    Column("approval_date", Date, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("major_change", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("system_id", "cloud_id", "approval_ref", name="uq_revision_approval"),
    Index("ix_revisions_system_cloud", "system_id", "cloud_id"),
)

footprints = Table(
    "footprints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("system_id", Integer, ForeignKey("systems.id"), nullable=False),
    Column("cloud_id", Integer, ForeignKey("clouds.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(200), nullable=False),
    UniqueConstraint("cloud_id", "kind", "ref", name="uq_footprint_resource"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(500), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("request_id", String(100), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_time", "time"),
    Index("ix_audit_events_request_id", "request_id"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("event_hash", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
    Index("ix_audit_checkpoints_seq", "seq"),
)

reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("clouds", Text, nullable=False),
    Column("counts", Text, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("new_drift", Integer, nullable=False),
    Column("resolved_drift", Integer, nullable=False),
)

reconcile_run_clouds = Table(
    "reconcile_run_clouds",
    metadata,
    Column("run_id", Integer, ForeignKey("reconcile_runs.id"), primary_key=True),
    Column("cloud", String(200), primary_key=True),
    Column("complete", Boolean, nullable=False),
    Column("api_calls", Integer, nullable=False),
)

drift_records = Table(
    "drift_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("reconcile_runs.id"), nullable=False),
    Column("cloud", String(200), nullable=False),
    Column("system", String(200), nullable=True),
    Column("drift_class", String(32), nullable=False),
    Column("resource_kind", String(32), nullable=False),
    Column("resource_id", String(300), nullable=False),
    Column("resource_name", String(300), nullable=False),
    Column("detail", Text, nullable=False),
    Column("is_new", Boolean, nullable=False),
    Index("ix_drift_records_run", "run_id"),
    Index("ix_drift_records_cloud", "cloud", "run_id"),
)

record_cursors = Table(
    "record_cursors",
    metadata,
    Column("cloud", String(200), primary_key=True),
    Column("source", String(100), primary_key=True),
    Column("since", String(32), nullable=False),
)

usage_samples = Table(
    "usage_samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("time", String(32), nullable=False),
    Column("cloud", String(200), nullable=False),
    Column("scope_kind", String(32), nullable=False),
    Column("scope_id", String(300), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Index("ix_usage_samples_scope", "cloud", "scope_kind", "scope_id", "metric", "time"),
)
