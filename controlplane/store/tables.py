"""Table definitions used by queries. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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

# 64-bit ids: 10,000 servers x 13 metrics every 5 minutes is ~37 million samples a day
SAMPLE_ID = BigInteger().with_variant(Integer, "sqlite")

usage_samples = Table(
    "usage_samples",
    metadata,
    Column("id", SAMPLE_ID, primary_key=True),
    Column("time", String(32), nullable=False),
    Column("cloud", String(200), nullable=False),
    Column("scope_kind", String(32), nullable=False),
    Column("scope_id", String(300), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=True),
    Column("source", String(64), nullable=False),
    Column("quality", String(16), nullable=False, server_default="measured"),
    Column("group_id", String(200), nullable=False, server_default=""),
    Column("host", String(200), nullable=False, server_default=""),
    Index("ix_usage_samples_scope", "cloud", "scope_kind", "scope_id", "metric", "time"),
    Index("ix_usage_samples_time", "time"),
)

usage_sweeps = Table(
    "usage_sweeps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cloud", String(200), nullable=False),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=False),
    Column("hosts_ok", Integer, nullable=False),
    Column("hosts_failed", Integer, nullable=False),
    Column("domains", Integer, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_usage_sweeps_cloud", "cloud", "started"),
)


def _rollup_table(name: str, *extra: Column[Any]) -> Table:
    """Hourly and daily rollups share one shape: per scope, metric and period (its UTC start), the mean, max and min
    of the samples with a value (n), how many of them were above 80% (percent metrics), missing or estimates."""
    return Table(
        name,
        metadata,
        Column("cloud", String(200), primary_key=True),
        Column("scope_kind", String(32), primary_key=True),
        Column("scope_id", String(300), primary_key=True),
        Column("metric", String(64), primary_key=True),
        Column("period", String(32), primary_key=True),
        Column("group_id", String(200), nullable=False),
        Column("mean", Float, nullable=True),
        Column("max", Float, nullable=True),
        Column("min", Float, nullable=True),
        Column("n", Integer, nullable=False),
        Column("n_above_80", Integer, nullable=False),
        Column("n_missing", Integer, nullable=False),
        Column("n_estimated", Integer, nullable=False),
        Index(f"ix_{name}_period", "period"),
        Index(f"ix_{name}_group", "cloud", "group_id", "metric", "period"),
        *extra,
    )


usage_hourly = _rollup_table("usage_hourly")
# a day also says what its hours held, so that Bozhou 26's "hours above 80%" of a scope over closed days reads ~1 row a
# day, not 24 (``usage_batches.hours_above_each``): the hours with a rollup, those with >= ``HOT_K`` samples above 80%
# and the first and last of them; NULL in rows written before migration 0015 (their hours are read instead)
usage_daily = _rollup_table(
    "usage_daily",
    Column("hours", Integer, nullable=True),
    Column("hot_hours", Integer, nullable=True),
    Column("first_hot_hour", String(32), nullable=True),
    Column("last_hot_hour", String(32), nullable=True),
)

# one row a scope and closed UTC+8 day (written with the day's daily rollups, ``usage_rollup.summarise_days``): its
# group, and its writes and network traffic (received plus sent) added up over the day's means, NULL when not
# measured; so that when a scope last ran and was last active (Bozhou 26(二)2, 3) and which servers a project had
# read one row a day, not one a metric and day (``policy.gather``)
usage_days = Table(
    "usage_days",
    metadata,
    Column("cloud", String(200), primary_key=True),
    Column("scope_kind", String(32), primary_key=True),
    Column("scope_id", String(300), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("group_id", String(200), nullable=False),
    Column("writes", Float, nullable=True),
    Column("network", Float, nullable=True),
    Column("measured", Integer, nullable=False),  # its write and network rollups (any: activity is measured)
    Index("ix_usage_days_period", "period"),
    Index("ix_usage_days_group", "cloud", "group_id", "period", "scope_id"),
)

# the same a project (group) and day: its servers' writes and network added up (``usage_rollup.summarise_days``), so
# that a system's activity (its projects' days added up, Bozhou 26(二)3 per system) reads a row a project and day
usage_group_days = Table(
    "usage_group_days",
    metadata,
    Column("cloud", String(200), primary_key=True),
    Column("scope_kind", String(32), primary_key=True),
    Column("group_id", String(200), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("writes", Float, nullable=True),
    Column("network", Float, nullable=True),
    Column("measured", Integer, nullable=False),
    Index("ix_usage_group_days_period", "period"),
)

usage_rollup_state = Table(
    "usage_rollup_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_sample_id", BigInteger, nullable=False),
    Column("updated", String(32), nullable=False),
)

# what vendors report (Suining 14, Bozhou 27): one figure per vendor, month (UTC+8), cloud, system, server ("" for the
# whole system) and metric, a percentage in hundredths of a point
usage_groups = Table(
    "usage_groups",
    metadata,
    Column("cloud", String(200), primary_key=True),
    Column("group_id", String(300), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("seen", String(32), nullable=False),
    Index("ix_usage_groups_name", "cloud", "name"),
)

vendor_reported_usage = Table(
    "vendor_reported_usage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor", String(200), nullable=False),
    Column("month", String(7), nullable=False),
    Column("cloud_id", Integer, ForeignKey("clouds.id"), nullable=False),
    Column("system_id", Integer, ForeignKey("systems.id"), nullable=False),
    Column("server_id", String(300), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("percent_hundredths", Integer, nullable=False),
    Column("source", String(500), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "vendor", "month", "cloud_id", "system_id", "server_id", "metric", name="uq_vendor_reported_figure"
    ),
    Index("ix_vendor_reported_usage_month", "month"),
)


actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("finding_id", Integer, nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("cloud", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("target", String(300), nullable=False),
    Column("spec", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("notice_sent", String(10), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created", String(32), nullable=False),
    Column("updated", String(32), nullable=False),
    Index("ix_actions_state", "state"),
    Index("ix_actions_finding", "finding_id"),
)

# findings (controlplane.policy.findings): one row per pack, rule, system, cloud and scope; every transition is also in
# the operation log (finding_events keeps them queryable beside their audit seq)
findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(1000), nullable=False, unique=True),
    Column("pack", String(100), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("citation", String(300), nullable=False),
    Column("system", String(200), nullable=False),
    Column("cloud", String(200), nullable=True),
    Column("scope_kind", String(16), nullable=False),
    Column("scope_id", String(300), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("opened", UTCDateTime, nullable=False),
    Column("state_since", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("period", String(32), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("last_verdict", String(16), nullable=False),
    Column("deadline", Date, nullable=True),
    Column("paused_state", String(16), nullable=True),
    Column("exempt_reason", Text, nullable=True),
    Column("exempt_until", Date, nullable=True),
    Column("exempt_by", String(200), nullable=True),
    Column("dispute_reason", Text, nullable=True),
    Column("notified", Text, nullable=False),
    Column("action_ref", String(500), nullable=True),
    Index("ix_findings_state", "state", "deadline"),
    Index("ix_findings_system", "system"),
)

finding_events = Table(
    "finding_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", Integer, ForeignKey("findings.id"), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("transition", String(32), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("detail", Text, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
    Index("ix_finding_events_finding", "finding_id", "id"),
    Index("ix_finding_events_time", "time"),
)

# notices the transitions produce (reminded, urged, enforceable) and maintenance notices enforcement asks for; one
# delivery row per channel and recipient, retried on each tick until delivered
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", Integer, ForeignKey("findings.id"), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(200), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("deadline", Date, nullable=True),
    Column("detail", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("finding_id", "cycle", "kind", "ref", name="uq_notice_once"),
    Index("ix_notices_status", "status"),
)

notice_deliveries = Table(
    "notice_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("notice_id", Integer, ForeignKey("notices.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(500), nullable=False),
    Column("lang", String(2), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("notice_id", "channel", "recipient", name="uq_notice_delivery"),
)

# the HTTP API (controlplane.api): bearer tokens kept only as SHA-256 of the whole token, found by their public id
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("vendor", String(200), nullable=True),
    Column("unit", String(200), nullable=True),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Column("revoked", UTCDateTime, nullable=True),
    Column("revoked_by", String(200), nullable=True),
)

# the first response to a POST sent with an Idempotency-Key, per token: replayed for the same body, 409 for another
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status", Integer, nullable=True),
    Column("headers", Text, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("request_id", String(100), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created", "created"),
)

# background work an API call started (a reconcile run), with its progress and result
api_jobs = Table(
    "api_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("progress", String(500), nullable=False),
    Column("params", Text, nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("run_id", Integer, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("request_id", String(100), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Index("ix_api_jobs_created", "kind", "created"),
)

# every run of an agent job (controlplane.agent): when, whether it worked, what it did or why not (error text cut and
# redacted); ``period`` is what a run covered when a job covers one (the evaluated month)
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(200), nullable=False),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("detail", Text, nullable=False),
    Column("period", String(32), nullable=True),
    Index("ix_job_runs_job", "job", "started"),
    Index("ix_job_runs_started", "started"),
)

# the hosting zone (controlplane.hosting): equipment vendors register for units, and its evidence files (kept in the
# state dir by SHA-256). Migration 0012 adds what Core does not describe: no two non-retired pieces of one vendor's
# equipment share a rack unit (a PostgreSQL exclusion constraint, SQLite triggers)
equipment = Table(
    "equipment",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor", String(200), nullable=False),
    Column("serial", String(200), nullable=False),
    Column("asset_tag", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model", String(200), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("system", String(200), nullable=True),
    Column("site", String(200), nullable=False),
    Column("room", String(200), nullable=False),
    Column("rack", String(200), nullable=False),
    Column("u_start", Integer, nullable=False),
    Column("u_height", Integer, nullable=False),
    Column("power_watts", BigInteger, nullable=False),
    Column("ports", Integer, nullable=False),
    Column("bandwidth_bps", BigInteger, nullable=False),
    Column("hosted_since", Date, nullable=False),
    Column("state", String(16), nullable=False),
    Column("retired_on", Date, nullable=True),
    Column("retire_reason", String(16), nullable=True),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("vendor", "serial", name="uq_equipment_vendor_serial"),
    Index("ix_equipment_rack", "vendor", "site", "room", "rack"),
    Index("ix_equipment_unit", "unit"),
)

equipment_evidence = Table(
    "equipment_evidence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("equipment_id", Integer, ForeignKey("equipment.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Index("ix_equipment_evidence_equipment", "equipment_id"),
)

# termination (controlplane.termination): one case per system's termination, and the steps of its wipe (one row per
# target, written before the wiper is called so a crash is resumed from here)
termination_cases = Table(
    "termination_cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("system", String(200), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("state", String(24), nullable=False),
    Column("reason", Text, nullable=False),
    Column("stopped_use_on", Date, nullable=True),
    Column("late", Boolean, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", UTCDateTime, nullable=True),
    Column("transition_ends", Date, nullable=True),
    Column("backup_confirmed_by", String(200), nullable=True),
    Column("backup_confirmed_at", UTCDateTime, nullable=True),
    Column("backup_name", String(200), nullable=True),
    Column("backup_sha256", String(64), nullable=True),
    Column("backup_size", BigInteger, nullable=True),
    Column("wipe_approved_by", String(200), nullable=True),
    Column("wipe_approved_at", UTCDateTime, nullable=True),
    Column("wipe_started_at", UTCDateTime, nullable=True),
    Column("wiped_at", UTCDateTime, nullable=True),
    Column("reclaimed_at", UTCDateTime, nullable=True),
    Column("billing_end", Date, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("leftovers", Text, nullable=False),
    Column("reminders", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_termination_cases_system", "system", "state"),
)

termination_steps = Table(
    "termination_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("termination_cases.id"), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("cloud", String(200), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("target_id", String(500), nullable=False),
    Column("target_group", String(500), nullable=False),
    Column("target", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("method", String(32), nullable=True),
    Column("category", String(16), nullable=True),
    Column("started", UTCDateTime, nullable=True),
    Column("ended", UTCDateTime, nullable=True),
    Column("verified", Boolean, nullable=False),
    Column("already_gone", Boolean, nullable=False),
    Column("samples", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("intent_seq", BigInteger, nullable=True),
    Column("result_seq", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint("case_id", "cloud", "kind", "target_id", name="uq_termination_steps_target"),
    Index("ix_termination_steps_case", "case_id", "ordinal"),
)
