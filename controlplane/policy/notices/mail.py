"""Delivering a notice by e-mail through an SMTP relay (``smtplib``), STARTTLS optional, login optional.

One message per recipient (each recipient is its own delivery, retried on its own). A connection error, a timeout
or a 4xx answer is retried with a doubling backoff through the injected ``sleep``; a 5xx answer is final for this
tick. Errors carry the server's answer, never the password.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from controlplane.clock import Clock
from controlplane.i18n import Lang
from controlplane.policy.notices.settings import Relay
from controlplane.policy.notices.text import Rendered
from controlplane.policy.notices.webhook import SendResult
from controlplane.redaction import Redactor

Connect = Callable[[str, int, float], smtplib.SMTP]  # host, port, timeout -> a connected client


def smtp_connect(host: str, port: int, timeout: float) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, timeout=timeout)


def message(relay: Relay, to: str, rendered: Rendered, *, lang: Lang, clock: Clock, notice_id: int) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = relay.sender
    msg["To"] = to
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(idstring=f"notice-{notice_id}", domain=relay.sender.rsplit("@", 1)[-1])
    msg["X-Yunguan-Notice"] = str(notice_id)
    msg.set_content(rendered.body, charset="utf-8")
    msg["Content-Language"] = "zh-CN" if lang == "zh" else "en"  # after set_content, which drops Content-* headers
    return msg


def _final(exc: Exception) -> bool:
    """A 5xx answer will not change by retrying now."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500  # SMTP permanent failures
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPNotSupportedError)


class MailSender:
    def __init__(
        self,
        relay: Relay,
        password: str | None,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        redactor: Redactor,
        connect: Connect = smtp_connect,
    ) -> None:
        self.relay = relay
        self._password = password
        self.clock = clock
        self.sleep = sleep
        self.redactor = redactor.with_secrets([password] if password else [])
        self.connect = connect

    def send(self, to: str, rendered: Rendered, lang: Lang, notice_id: int) -> SendResult:
        msg = message(self.relay, to, rendered, lang=lang, clock=self.clock, notice_id=notice_id)
        detail = ""
        tries = 0
        for attempt in range(self.relay.retries + 1):
            if attempt:
                self.sleep(self.relay.backoff_s * 2 ** (attempt - 1))
            tries += 1
            try:
                self._send_once(msg)
            except (smtplib.SMTPException, OSError) as exc:
                detail = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, smtplib.SMTPException) and _final(exc):
                    break
                continue
            return SendResult(True, tries, f"SMTP {self.relay.host}:{self.relay.port} accepted")
        where = f"SMTP {self.relay.host}:{self.relay.port}"
        return SendResult(False, tries, self.redactor.text(f"{where}: {detail}"))

    def _send_once(self, msg: EmailMessage) -> None:
        with self.connect(self.relay.host, self.relay.port, self.relay.timeout_s) as smtp:
            smtp.ehlo()
            if self.relay.starttls:
                cafile = str(self.relay.cafile) if self.relay.cafile else None
                smtp.starttls(context=ssl.create_default_context(cafile=cafile))
                smtp.ehlo()
            if self.relay.username:
                smtp.login(self.relay.username, self._password or "")
            smtp.send_message(msg)
