"""The notices a finding's lifecycle produces, kept in the store until they are delivered.

A transition to reminded, urged or enforceable queues one notice in the transition's own transaction (once per
finding, cycle and kind), and enforcement may queue a maintenance notice for an action that interrupts the system
(Jiuquan 13: at least 2 working days ahead). A notice keeps a snapshot of what it says (finding, unit, evidence,
deadline, articles), so every try says the same. ``deliver_pending`` then sends what is not delivered yet, outside any
store transaction, to every target configured now (the webhook; e-mail to the unit's recipients), records each
delivery's result with an operation-log event, and never raises for a failed delivery: it is tried again on the next
tick, up to ``notices.give_up_after`` ticks. The lifecycle never waits for a delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.calendar import WorkingCalendar
from controlplane.clock import CST, Clock
from controlplane.domain import Frozen
from controlplane.i18n import Lang
from controlplane.policy.findings import Finding, get_finding
from controlplane.policy.notices.mail import Connect, MailSender, smtp_connect
from controlplane.policy.notices.settings import NoticeSettings, Relay, read_secret
from controlplane.policy.notices.text import render
from controlplane.policy.notices.webhook import Post, SendResult, WebhookSender, http_post
from controlplane.redaction import Redactor
from controlplane.store.tables import departments, notice_deliveries, systems
from controlplane.store.tables import notices as notices_table

# Jiuquan 13: an interruption of a system is announced at least 2 working days ahead
MAINTENANCE_WORKING_DAYS = 2


class NoticeKind(StrEnum):
    REMINDED = "reminded"
    URGED = "urged"
    ENFORCEABLE = "enforceable"
    MAINTENANCE = "maintenance"


class Status(StrEnum):
    PENDING = "pending"  # not tried yet, or no channel configured
    DELIVERED = "delivered"
    FAILED = "failed"  # tried, will be tried again on the next tick
    ABANDONED = "abandoned"  # failed on notices.give_up_after ticks


class NoticeError(ValueError):
    """A notice that cannot be queued as asked (e.g. a maintenance day too close)."""


class Delivery(Frozen):
    id: int
    channel: str  # webhook, email
    recipient: str
    lang: str
    status: Status
    attempts: int
    last_attempt: dt.datetime | None
    last_error: str
    delivered_at: dt.datetime | None


class Notice(Frozen):
    id: int
    finding_id: int
    cycle: int
    kind: NoticeKind
    ref: str
    created: dt.datetime
    deadline: dt.date | None
    status: Status
    delivered_at: dt.datetime | None
    snapshot: dict[str, Any]
    deliveries: tuple[Delivery, ...] = ()


def _unit_and_name(conn: Connection, system: str) -> tuple[str, str]:
    row = conn.execute(
        select(departments.c.name, systems.c.name)
        .join(departments, departments.c.id == systems.c.department_id)
        .where(systems.c.key == system)
    ).first()
    return (str(row[0]), str(row[1])) if row else ("", system)


def snapshot(conn: Connection, finding: Finding) -> dict[str, Any]:
    """What a notice about ``finding`` says, frozen now (JSON-ready)."""
    unit, name = _unit_and_name(conn, finding.system)
    return {
        "finding_id": finding.id,
        "key": finding.key,
        "pack": finding.pack,
        "rule_id": finding.rule_id,
        "citation": finding.citation,
        "system": finding.system,
        "system_name": name,
        "unit": unit,
        "cloud": finding.cloud,
        "scope_kind": finding.scope_kind,
        "scope_id": finding.scope_id,
        "outcome": finding.outcome.value,
        "state": finding.state.value,
        "period": finding.period,
        "window_start": finding.window_start.isoformat(),
        "window_end": finding.window_end.isoformat(),
        "evidence": [e.model_dump(mode="json") for e in finding.evidence],
        "reason": finding.reason,
    }


def queue_notice(
    conn: Connection,
    audit: AuditLog,
    finding: Finding,
    kind: NoticeKind | str,
    *,
    now: dt.datetime,
    deadline: dt.date | None,
    actor: str,
    step_citation: str = "",
    next_step: str | None = None,
    ref: str = "",
    action: str | Mapping[str, str] | None = None,
    action_day: dt.date | None = None,
) -> int:
    """Queue a notice about ``finding`` (once per finding, cycle, kind and ref); returns its id. ``deadline`` is the
    last day of the period the finding is now in, ``next_step`` the state after it (``urged``, ``enforceable``),
    ``step_citation`` the article that next step rests on."""
    kind = NoticeKind(kind)
    existing = conn.execute(
        select(notices_table.c.id).where(
            notices_table.c.finding_id == finding.id,
            notices_table.c.cycle == finding.cycle,
            notices_table.c.kind == kind.value,
            notices_table.c.ref == ref,
        )
    ).scalar()
    if existing is not None:
        return int(existing)
    shot = {
        **snapshot(conn, finding),
        "kind": kind.value,
        "deadline": deadline.isoformat() if deadline else None,
        "step_citation": step_citation,
        "next_step": next_step,
    }
    if action is not None:
        shot["action"] = dict(action) if isinstance(action, Mapping) else {"zh": action, "en": action}
    if action_day is not None:
        shot["action_day"] = action_day.isoformat()
    created = conn.execute(
        insert(notices_table).values(
            finding_id=finding.id,
            cycle=finding.cycle,
            kind=kind.value,
            ref=ref,
            created=now,
            deadline=deadline,
            detail=json.dumps(shot, ensure_ascii=False, sort_keys=True),
            status=Status.PENDING.value,
        )
    ).inserted_primary_key
    assert created is not None
    notice_id = int(created[0])
    after = {"notice": notice_id, "kind": kind.value, "deadline": shot["deadline"], "ref": ref}
    audit.append(conn, Entry(actor=actor, action="notice.queue", target=finding.key, after=after))
    return notice_id


@dataclass(frozen=True, slots=True)
class Maintenance:
    notice_id: int
    earliest_day: dt.date  # the first day the action may run, if the notice is delivered today


def announce_maintenance(
    conn: Connection,
    audit: AuditLog,
    finding_id: int,
    *,
    ref: str,
    action: str | Mapping[str, str],
    action_day: dt.date,
    now: dt.datetime,
    calendar: WorkingCalendar,
    actor: str,
) -> Maintenance:
    """Queue the maintenance notice of an action (``ref``: enforcement's key for it) that will interrupt the
    finding's system on ``action_day`` (UTC+8); refused when that is less than 2 working days away (Jiuquan 13).
    Idempotent per finding, cycle and ref. The action may run once ``maintenance_ready`` says so."""
    finding = get_finding(conn, finding_id)
    if finding is None:
        raise NoticeError(f"no finding {finding_id}")
    earliest = calendar.add_working_days(now.astimezone(CST).date(), MAINTENANCE_WORKING_DAYS)
    if action_day < earliest:
        raise NoticeError(
            f"{finding.key}: an interruption on {action_day} cannot be announced at least "
            f"{MAINTENANCE_WORKING_DAYS} working days ahead (Jiuquan art. 13); the earliest day is {earliest}"
        )
    notice_id = queue_notice(
        conn,
        audit,
        finding,
        NoticeKind.MAINTENANCE,
        now=now,
        deadline=action_day,
        actor=actor,
        step_citation="Jiuquan art. 13",
        ref=ref,
        action=action,
        action_day=action_day,
    )
    return Maintenance(notice_id, earliest)


def maintenance_ready(conn: Connection, notice_id: int, day: dt.date, calendar: WorkingCalendar) -> bool:
    """Whether the maintenance notice was delivered at least 2 working days before ``day`` (UTC+8)."""
    delivered = conn.execute(select(notices_table.c.delivered_at).where(notices_table.c.id == notice_id)).scalar()
    if delivered is None:
        return False
    sent = delivered.astimezone(CST).date()
    return calendar.add_working_days(sent, MAINTENANCE_WORKING_DAYS) <= day


# -- reading ---------------------------------------------------------------------------------------------------------


def notices(
    conn: Connection,
    *,
    finding_id: int | None = None,
    status: Status | str | list[Status] | None = None,
    kind: NoticeKind | str | None = None,
) -> list[Notice]:
    """Notices with their deliveries, oldest first."""
    query = select(notices_table).order_by(notices_table.c.id)
    if finding_id is not None:
        query = query.where(notices_table.c.finding_id == finding_id)
    if status is not None:
        statuses = [str(s) for s in status] if isinstance(status, list) else [str(status)]
        query = query.where(notices_table.c.status.in_(statuses))
    if kind is not None:
        query = query.where(notices_table.c.kind == str(kind))
    rows = conn.execute(query).mappings().all()
    ids = [int(r["id"]) for r in rows]
    by_notice: dict[int, list[Delivery]] = {}
    for i in range(0, len(ids), 500):
        chunk = select(notice_deliveries).where(notice_deliveries.c.notice_id.in_(ids[i : i + 500]))
        for d in conn.execute(chunk.order_by(notice_deliveries.c.id)).mappings():
            by_notice.setdefault(int(d["notice_id"]), []).append(
                Delivery(
                    id=int(d["id"]),
                    channel=d["channel"],
                    recipient=d["recipient"],
                    lang=d["lang"],
                    status=Status(d["status"]),
                    attempts=int(d["attempts"]),
                    last_attempt=d["last_attempt"],
                    last_error=d["last_error"],
                    delivered_at=d["delivered_at"],
                )
            )
    return [
        Notice(
            id=int(r["id"]),
            finding_id=int(r["finding_id"]),
            cycle=int(r["cycle"]),
            kind=NoticeKind(r["kind"]),
            ref=r["ref"],
            created=r["created"],
            deadline=r["deadline"],
            status=Status(r["status"]),
            delivered_at=r["delivered_at"],
            snapshot=json.loads(r["detail"]),
            deliveries=tuple(by_notice.get(int(r["id"]), ())),
        )
        for r in rows
    ]


# -- delivering ------------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: list[tuple[int, str, str]] = field(default_factory=list)  # (notice id, channel, recipient)
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)  # ... and why
    abandoned: list[tuple[int, str, str]] = field(default_factory=list)
    undeliverable: list[int] = field(default_factory=list)  # notices with no channel configured


@dataclass(frozen=True, slots=True)
class _Target:
    channel: str
    recipient: str
    lang: Lang
    relay: Relay | None = None


def _targets(settings: NoticeSettings, unit: str) -> list[_Target]:
    targets: list[_Target] = []
    if settings.webhook is not None:
        targets.append(_Target("webhook", settings.webhook.shown_url(), settings.language))
    relay = settings.relay(unit)
    if relay is not None:
        lang = settings.language_of(unit)
        targets += [_Target("email", address, lang, relay) for address in relay.to]
    return targets


def webhook_payload(notice: Notice) -> dict[str, Any]:
    zh, en = render(notice.snapshot, "zh"), render(notice.snapshot, "en")
    return {
        "notice": notice.id,
        "kind": notice.kind.value,
        "created": notice.created.isoformat(),
        "deadline": notice.deadline.isoformat() if notice.deadline else None,
        "finding": notice.snapshot,
        "subject": {"zh": zh.subject, "en": en.subject},
        "text": {"zh": zh.body, "en": en.body},
    }


class _Senders:
    """Built on first use; a secret file that cannot be read fails that channel's deliveries, not the tick."""

    def __init__(
        self,
        settings: NoticeSettings,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        redactor: Redactor,
        post: Post,
        connect: Connect,
    ) -> None:
        self.settings, self.clock, self.sleep, self.redactor = settings, clock, sleep, redactor
        self.post, self.connect = post, connect

    def send(self, notice: Notice, target: _Target, delivery_id: int) -> SendResult:
        try:
            if target.channel == "webhook":
                assert self.settings.webhook is not None
                secret = read_secret(self.settings.webhook.secret_file, "webhook secret")
                webhook = WebhookSender(
                    self.settings.webhook,
                    secret,
                    clock=self.clock,
                    sleep=self.sleep,
                    redactor=self.redactor,
                    post=self.post,
                )
                return webhook.send(webhook_payload(notice), str(delivery_id))
            assert target.relay is not None
            relay = target.relay
            password = read_secret(relay.password_file, "SMTP password") if relay.password_file else None
            mail = MailSender(
                relay, password, clock=self.clock, sleep=self.sleep, redactor=self.redactor, connect=self.connect
            )
            return mail.send(target.recipient, render(notice.snapshot, target.lang), target.lang, notice.id)
        except OSError as exc:
            return SendResult(False, 0, self.redactor.text(str(exc)))


def deliver_pending(
    engine: Engine,
    audit: AuditLog,
    settings: NoticeSettings,
    *,
    clock: Clock,
    actor: str,
    redactor: Redactor | None = None,
    sleep: Callable[[float], None] = time.sleep,
    post: Post = http_post,
    connect: Connect = smtp_connect,
) -> DeliveryReport:
    """Send every notice not delivered yet to every target configured now; see the module docstring."""
    report = DeliveryReport()
    redactor = redactor or Redactor(settings.secret_values())
    senders = _Senders(settings, clock=clock, sleep=sleep, redactor=redactor, post=post, connect=connect)
    work: list[tuple[Notice, _Target, int]] = []
    with engine.begin() as conn:
        for notice in notices(conn, status=[Status.PENDING, Status.FAILED]):
            targets = _targets(settings, str(notice.snapshot.get("unit", "")))
            if not targets:
                report.undeliverable.append(notice.id)
                continue
            known = {(d.channel, d.recipient): d for d in notice.deliveries}
            for target in targets:
                held = known.get((target.channel, target.recipient))
                if held is None:
                    created = conn.execute(
                        insert(notice_deliveries).values(
                            notice_id=notice.id,
                            channel=target.channel,
                            recipient=target.recipient,
                            lang=target.lang,
                            status=Status.PENDING.value,
                            attempts=0,
                            last_error="",
                        )
                    ).inserted_primary_key
                    assert created is not None
                    work.append((notice, target, int(created[0])))
                elif held.status in (Status.PENDING, Status.FAILED):
                    work.append((notice, target, held.id))
    for notice, target, delivery_id in work:
        result = senders.send(notice, target, delivery_id)  # no store transaction is open while sending
        with engine.begin() as conn:
            _record(
                conn,
                audit,
                notice,
                target,
                delivery_id=delivery_id,
                result=result,
                settings=settings,
                now=clock.now(),
                actor=actor,
                report=report,
            )
    return report


def _record(
    conn: Connection,
    audit: AuditLog,
    notice: Notice,
    target: _Target,
    *,
    delivery_id: int,
    result: SendResult,
    settings: NoticeSettings,
    now: dt.datetime,
    actor: str,
    report: DeliveryReport,
) -> None:
    row = conn.execute(
        select(notice_deliveries.c.attempts).where(notice_deliveries.c.id == delivery_id).with_for_update()
    ).scalar_one()
    attempts = int(row) + 1  # ticks tried; result.tries counts the tries within this one
    if result.ok:
        status = Status.DELIVERED
        report.delivered.append((notice.id, target.channel, target.recipient))
    elif attempts >= settings.give_up_after:
        status = Status.ABANDONED
        report.abandoned.append((notice.id, target.channel, target.recipient))
    else:
        status = Status.FAILED
        report.failed.append((notice.id, target.channel, target.recipient, result.detail))
    conn.execute(
        update(notice_deliveries)
        .where(notice_deliveries.c.id == delivery_id)
        .values(
            status=status.value,
            attempts=attempts,
            last_attempt=now,
            last_error="" if result.ok else result.detail,
            delivered_at=now if result.ok else None,
        )
    )
    statuses = {
        Status(s)
        for s in conn.execute(
            select(notice_deliveries.c.status).where(notice_deliveries.c.notice_id == notice.id)
        ).scalars()
    }
    overall = _overall(statuses)
    values: dict[str, Any] = {"status": overall.value}
    if result.ok:
        first = conn.execute(select(notices_table.c.delivered_at).where(notices_table.c.id == notice.id)).scalar()
        if first is None:
            values["delivered_at"] = now  # the unit was told: Jiuquan 13's lead time counts from here
    conn.execute(update(notices_table).where(notices_table.c.id == notice.id).values(**values))
    audit.append(
        conn,
        Entry(
            actor=actor,
            action="notice.deliver",
            target=str(notice.snapshot.get("key", notice.finding_id)),
            after={
                "notice": notice.id,
                "kind": notice.kind.value,
                "channel": target.channel,
                "recipient": target.recipient,
                "status": status.value,
                "tries": result.tries,
                "ticks": attempts,
                "detail": result.detail,
            },
        ),
    )


def _overall(statuses: set[Status]) -> Status:
    if statuses == {Status.DELIVERED}:
        return Status.DELIVERED
    if Status.FAILED in statuses:
        return Status.FAILED
    if Status.PENDING in statuses:
        return Status.PENDING
    return Status.ABANDONED if Status.ABANDONED in statuses else Status.DELIVERED
