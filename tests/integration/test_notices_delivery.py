"""Notices delivered for real on loopback, from a real store (SQLite and PostgreSQL): the signed webhook to a local
HTTP server (pytest-httpserver) that answers 500 then 200, retried within a tick and on the next tick; e-mail to a
local SMTP server (aiosmtpd) with STARTTLS and login, in Chinese for one unit and English for another; a dead SMTP
server fails the delivery but not the lifecycle, and the failure is recorded and retried."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from findings_data import at, evaluation, record, tick, with_demo_ledger
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from controlplane.audit.log import iter_events
from controlplane.calendar import WorkingCalendar
from controlplane.clock import FixedClock
from controlplane.policy.model import Verdict
from controlplane.policy.notices.outbox import DeliveryReport, Status, deliver_pending, notices
from controlplane.policy.notices.settings import NoticeSettings
from controlplane.policy.notices.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_valid
from controlplane.runtime import Runtime
from controlplane.store.tables import notices as notices_table

D = dt.date
SECRET = "whsec-0123456789abcdef"
SMTP_PASSWORD = "mail-pa55-word"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_demo_ledger(runtime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


def authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:  # noqa: ARG001 - aiosmtpd calls it so
    ok = isinstance(data, LoginPassword) and data.login == b"yunguan" and data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A throw-away certificate for 127.0.0.1: the server's TLS context and the CA file the client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yunguan-test-smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


@pytest.fixture
def smtp(tls: tuple[ssl.SSLContext, Path]) -> Iterator[tuple[Inbox, int, Path]]:
    """A real SMTP server on 127.0.0.1 that requires STARTTLS, then a login; with the CA file that trusts it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox, port, tls[1]
    finally:
        controller.stop()


@pytest.fixture
def secrets(tmp_path: Path) -> tuple[Path, Path]:
    hook, password = tmp_path / "webhook.key", tmp_path / "smtp.pass"
    hook.write_text(SECRET + "\n", encoding="utf-8")
    password.write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    return hook, password


def settings_for(
    secrets: tuple[Path, Path],
    *,
    webhook: str | None = None,
    smtp_port: int | None = None,
    cafile: Path | None = None,
    retries: int = 0,
) -> NoticeSettings:
    data: dict[str, Any] = {"language": "zh"}
    if webhook is not None:
        data["webhook"] = {"url": webhook, "secret_file": str(secrets[0]), "retries": retries, "backoff_s": 0.5}
    if smtp_port is not None:
        data["email"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "starttls": True,
            "cafile": str(cafile) if cafile else None,
            "from": "yunguan@gov.example.cn",
            "to": ["ops@gov.example.cn"],
            "username": "yunguan",
            "password_file": str(secrets[1]),
            "timeout_s": 5,
            "retries": 0,
        }
        data["units"] = {"市公安局": {"language": "en", "email": {"to": ["it@police.example.cn"]}}}
    return NoticeSettings.model_validate(data)


def deliver(rt: Runtime, settings: NoticeSettings, sleeps: list[float]) -> DeliveryReport:
    return deliver_pending(
        rt.engine, rt.audit, settings, clock=rt.clock, actor="agent:notices", redactor=rt.redactor, sleep=sleeps.append
    )


def reminded(rt: Runtime, clock: FixedClock, *systems: str) -> list[int]:
    """Open a finding for each system on 2026-07-20 and tick: one reminder notice each."""
    at(clock, D(2026, 7, 20))
    record(rt, *(evaluation(Verdict.FINDING, "2026-06", system=s) for s in systems))
    result = tick(rt, WorkingCalendar())
    assert len(result.notices) == len(systems)
    return result.notices


def test_webhook_signed_and_retried_after_a_500(
    rt: Runtime, clock: FixedClock, httpserver: HTTPServer, secrets: Any
) -> None:
    """The local server answers 500 then 200: retried within the tick after the backoff; the signature over the
    raw body checks with the shared secret; the timestamp header is the clock's; the body carries both languages."""
    (notice_id,) = reminded(rt, clock, "ZW-001")
    seen: list[Request] = []

    def check(request: Request) -> Response:
        seen.append(request)
        status = 500 if len(seen) == 1 else 200
        return Response("", status=status)

    httpserver.expect_request("/hooks/yunguan", method="POST").respond_with_handler(check)
    settings = settings_for(secrets, webhook=httpserver.url_for("/hooks/yunguan"), retries=2)
    sleeps: list[float] = []
    report = deliver(rt, settings, sleeps)
    assert report.delivered == [(notice_id, "webhook", httpserver.url_for("/hooks/yunguan"))]
    assert sleeps == [0.5]
    assert len(seen) == 2
    body = seen[1].get_data()
    assert seen[0].get_data() == body
    assert signature_valid(SECRET, body, seen[1].headers[SIGNATURE_HEADER])
    assert not signature_valid("another-secret", body, seen[1].headers[SIGNATURE_HEADER])
    assert seen[1].headers[TIMESTAMP_HEADER] == str(int(clock.now().timestamp()))
    payload = json.loads(body)
    assert payload["kind"] == "reminded"
    assert payload["deadline"] == "2026-08-20"
    assert payload["finding"]["unit"] == "市政务服务数据管理局"
    assert "政务服务网" in payload["text"]["zh"]
    assert "by 2026-08-20 (inclusive)" in payload["text"]["en"]
    with rt.engine.connect() as conn:
        (sent,) = notices(conn, finding_id=payload["finding"]["finding_id"])
        delivered = [e for e in iter_events(conn) if e.action == "notice.deliver"]
    assert sent.status is Status.DELIVERED
    assert sent.deliveries[0].attempts == 1
    assert '"tries":2' in delivered[0].after
    assert deliver(rt, settings, sleeps).delivered == []  # delivered once, never again


def test_webhook_failure_is_retried_on_the_next_tick(
    rt: Runtime, clock: FixedClock, httpserver: HTTPServer, secrets: Any
) -> None:
    """Without retries a 500 fails the delivery (recorded, the lifecycle goes on); the next tick delivers."""
    (notice_id,) = reminded(rt, clock, "ZW-001")
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("", status=204)
    settings = settings_for(secrets, webhook=httpserver.url_for("/hook"))
    first = deliver(rt, settings, [])
    assert [(n, c, why) for n, c, _, why in first.failed] == [
        (notice_id, "webhook", f"POST {settings.webhook.url}: HTTP 500")
    ]  # type: ignore[union-attr]
    with rt.engine.connect() as conn:
        (pending,) = notices(conn)
    assert (pending.status, pending.deliveries[0].status, pending.deliveries[0].attempts) == (
        Status.FAILED,
        Status.FAILED,
        1,
    )
    at(clock, D(2026, 7, 21))
    assert tick(rt, WorkingCalendar()).changes == []  # the lifecycle does not wait for the notice
    second = deliver(rt, settings, [])
    assert second.delivered == [(notice_id, "webhook", settings.webhook.url)]  # type: ignore[union-attr]
    with rt.engine.connect() as conn:
        (done,) = notices(conn)
        delivered_at = conn.execute(select(notices_table.c.delivered_at)).scalar_one()
    assert (done.status, done.deliveries[0].attempts, done.deliveries[0].last_error) == (Status.DELIVERED, 2, "")
    assert delivered_at == clock.now()
    httpserver.check_assertions()


def test_email_in_chinese_and_english_through_a_real_smtp_server(
    rt: Runtime, clock: FixedClock, smtp: tuple[Inbox, int, Path], secrets: Any
) -> None:
    """A reminder for a unit on the default (zh) goes to the default recipients in Chinese; one for 市公安局 goes to
    its own address in English; both after logging in with the password from its file."""
    inbox, port, cafile = smtp
    zw, ga = reminded(rt, clock, "ZW-001", "GA-007")
    report = deliver(rt, settings_for(secrets, smtp_port=port, cafile=cafile), [])
    assert sorted(report.delivered) == [(zw, "email", "ops@gov.example.cn"), (ga, "email", "it@police.example.cn")]
    assert len(inbox.messages) == 2
    by_to = {str(m["To"]): m for m in inbox.messages}
    zh, en = by_to["ops@gov.example.cn"], by_to["it@police.example.cn"]
    assert inbox.envelopes[0][0] == "yunguan@gov.example.cn"
    assert str(zh["Subject"]).startswith("【提醒】市政务服务数据管理局「政务服务网」")
    zh_body = zh.get_content()
    assert "请在 2026-08-20（含）前自行核减资源配置" in zh_body
    assert "CPU利用率平均 4.2%" in zh_body
    assert "Chongqing art. 17" in zh_body
    assert zh["Content-Language"] == "zh-CN"
    assert str(en["Subject"]).startswith("[Reminder] 市公安局 /")
    en_body = en.get_content()
    assert "CPU use mean 4.2% < 10.0% (2026-06-01 to 2026-06-30, 720 samples)" in en_body
    assert "by 2026-08-20 (inclusive)" in en_body
    assert en["X-Yunguan-Notice"] == str(ga)


def test_a_dead_smtp_server_fails_the_delivery_without_leaking_the_password(
    rt: Runtime, clock: FixedClock, smtp: tuple[Inbox, int, Path], secrets: Any
) -> None:
    """Nothing listens: the delivery fails with the connection error, recorded and retried later; a server whose
    certificate is not trusted fails too; the password appears in no error or event."""
    inbox, port, cafile = smtp
    (notice_id,) = reminded(rt, clock, "ZW-001")
    dead = deliver(rt, settings_for(secrets, smtp_port=free_port()), [])
    assert [(n, c) for n, c, _, _ in dead.failed] == [(notice_id, "email")]
    assert "ConnectionRefusedError" in dead.failed[0][3]
    untrusted = deliver(rt, settings_for(secrets, smtp_port=port), [])  # the server's certificate is checked
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.failed[0][3]
    assert inbox.messages == []
    assert [n for n, _, _ in deliver(rt, settings_for(secrets, smtp_port=port, cafile=cafile), []).delivered] == [
        notice_id
    ]
    with rt.engine.connect() as conn:
        events = list(iter_events(conn))
        (done,) = notices(conn)
    assert done.deliveries[0].attempts == 3
    assert all(SMTP_PASSWORD not in e.after for e in events)
