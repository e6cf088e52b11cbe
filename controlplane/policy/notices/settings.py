"""The ``notices:`` section: where notices go (a signed webhook, e-mail per unit or a default) and in which language.

Secrets (the webhook's HMAC key, the SMTP password) live in files named here, never in the YAML, and are added to
the redactor so they reach no log, error or operation-log event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Language = Literal["zh", "en"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def read_secret(path: Path, what: str) -> str:
    """A secret file's content, stripped; the error names the file, never the content."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise OSError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not value:
        raise OSError(f"the {what} file {path} is empty")
    return value


class WebhookSettings(_Section):
    url: str = Field(description="http(s) URL the notices are POSTed to as JSON")
    secret_file: Path = Field(description="file holding the HMAC-SHA256 key that signs each body (a secret)")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="connect and read timeout of one try, seconds")
    retries: int = Field(default=3, ge=0, le=10, description="further tries of one delivery within a tick")
    backoff_s: float = Field(default=1.0, ge=0, le=600, description="wait before the first retry; doubles")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    def shown_url(self) -> str:
        """The URL without credentials or query (those may carry tokens): what lists and logs show."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


class EmailSettings(_Section):
    """An SMTP relay and who receives: the default under ``notices.email``; a unit may override any key."""

    host: str | None = Field(default=None, description="SMTP server")
    port: int | None = Field(default=None, ge=1, le=65535, description="SMTP port (default 25, or 587 with STARTTLS)")
    starttls: bool | None = Field(default=None, description="upgrade the connection with STARTTLS (default false)")
    cafile: Path | None = Field(default=None, description="CA bundle to check the server's certificate (STARTTLS)")
    username: str | None = Field(default=None, description="SMTP login; with password_file")
    password_file: Path | None = Field(default=None, description="file holding the SMTP password (a secret)")
    sender: str | None = Field(default=None, alias="from", description="From address")
    to: tuple[str, ...] | None = Field(default=None, description="recipient addresses")
    timeout_s: float | None = Field(default=None, gt=0, le=300, description="socket timeout, seconds (default 30)")
    retries: int | None = Field(default=None, ge=0, le=10, description="further tries within a tick (default 2)")
    backoff_s: float | None = Field(default=None, ge=0, le=600, description="wait before a retry, doubling (1)")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for address in value or ():
            if "@" not in address or any(c in address for c in " \r\n,;<>"):
                raise ValueError(f"not an e-mail address: {address!r}")
        return value

    def over(self, base: EmailSettings | None) -> EmailSettings:
        """These keys over ``base``'s."""
        if base is None:
            return self
        mine = self.model_dump(exclude_none=True, by_alias=False)
        return base.model_copy(update=mine)

    def complete(self) -> bool:
        return bool(self.host and self.sender and self.to)


class Relay(BaseModel):
    """A complete SMTP configuration with its defaults, as the mail sender uses it."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    starttls: bool
    cafile: Path | None
    username: str | None
    password_file: Path | None
    sender: str
    to: tuple[str, ...]
    timeout_s: float
    retries: int
    backoff_s: float

    @classmethod
    def of(cls, email: EmailSettings) -> Relay:
        assert email.host
        assert email.sender
        assert email.to
        starttls = bool(email.starttls)
        return cls(
            host=email.host,
            port=email.port or (587 if starttls else 25),
            starttls=starttls,
            cafile=email.cafile,
            username=email.username,
            password_file=email.password_file,
            sender=email.sender,
            to=email.to,
            timeout_s=email.timeout_s or 30.0,
            retries=2 if email.retries is None else email.retries,
            backoff_s=1.0 if email.backoff_s is None else email.backoff_s,
        )


class UnitNotices(_Section):
    language: Language | None = Field(default=None, description="the unit's notice language (default: notices')")
    email: EmailSettings | None = Field(default=None, description="keys that differ from notices.email")


class NoticeSettings(_Section):
    language: Language = Field(default="zh", description="language of e-mails (webhooks carry both)")
    webhook: WebhookSettings | None = Field(default=None, description="signed JSON POST of every notice")
    email: EmailSettings | None = Field(default=None, description="default SMTP relay and recipients")
    units: dict[str, UnitNotices] = Field(
        default_factory=dict, description="per using unit (its name in the ledger): language, e-mail overrides"
    )
    give_up_after: int = Field(
        default=30, ge=1, le=1000, description="ticks a failing delivery is tried on before it is abandoned"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.email is not None and not self.email.complete() and not self.units:
            raise ValueError("email needs host, from and to (here, or per unit under units)")
        for name, unit in self.units.items():
            if unit.email is not None and not unit.email.over(self.email).complete():
                raise ValueError(f"units.{name}.email: host, from and to are needed (here or under notices.email)")
        return self

    def relay(self, unit: str) -> Relay | None:
        """The SMTP relay and recipients for ``unit`` (its override over the default); None: no e-mail."""
        override = self.units.get(unit)
        merged = override.email.over(self.email) if override and override.email else self.email
        return Relay.of(merged) if merged is not None and merged.complete() else None

    def language_of(self, unit: str) -> Language:
        override = self.units.get(unit)
        return override.language if override and override.language else self.language

    def secret_values(self) -> list[str]:
        """The secrets in the files named here (for the redactors); files that cannot be read are skipped."""
        files = [self.webhook.secret_file] if self.webhook else []
        emails = [self.email, *(u.email for u in self.units.values())]
        files += [e.password_file for e in emails if e is not None and e.password_file is not None]
        secrets: list[str] = []
        for path in files:
            try:
                secrets.append(read_secret(path, "secret"))
            except OSError:
                continue
        if self.webhook is not None:
            query = urlsplit(self.webhook.url).query
            password = urlsplit(self.webhook.url).password
            secrets += [s for s in (query, password) if s]
        return secrets
