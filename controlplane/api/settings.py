"""The ``api:`` configuration section: where the agent serves the HTTP API, with which TLS files, and the defaults
of the tokens ``yunguan token create`` makes. Checked at load, every error naming its key (``api.tls.cert_file``).

The agent runs uvicorn with ``uvicorn_options(settings.api)``: plain HTTP only on a loopback address, TLS anywhere
else, and with ``client_ca_file`` every client must also present a certificate signed by that CA (the bearer token is
still required: the certificate says which machine, the token which role).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _readable(path: Path | None) -> Path | None:
    if path is None:
        return None
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path}: not readable by this user")
    return path


class TlsSettings(_Section):
    cert_file: Path | None = Field(default=None, description="server certificate chain (PEM)")
    key_file: Path | None = Field(default=None, description="its private key (PEM); a secret, mode 0600")
    client_ca_file: Path | None = Field(
        default=None, description="CA bundle (PEM) client certificates must chain to; set: client certificates required"
    )

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        return _readable(value)

    @model_validator(mode="after")
    def _paired(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file: client certificates only work over TLS")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class ApiSettings(_Section):
    host: str = Field(default="127.0.0.1", min_length=1, description="address to listen on")
    port: int = Field(default=8443, ge=1, le=65535, description="TCP port to listen on")
    tls: TlsSettings = TlsSettings()
    token_days: int = Field(
        default=90, ge=1, le=3650, description="validity of a new token when --expires is not given"
    )
    token_max_days: int = Field(default=400, ge=1, le=3650, description="longest validity a token may be given")
    idempotency_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="hours a POST's Idempotency-Key and its first response are kept"
    )
    ready_timeout_s: float = Field(default=2.0, gt=0, le=60, description="/readyz: the database must answer in this")
    token_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="seconds a token that authenticated is believed without reading its row again: a revocation "
        "reaches a running agent at most this late (expiry is checked on every request); 0: read it every time",
    )

    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="processes serving the API on the one listening socket: the agent's own and workers - 1 API-only "
        "worker processes (no jobs), each with its own database connections; about one per core",
    )

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> ApiSettings:
        if not self.tls.enabled and not _loopback(self.host):
            raise ValueError(
                f"api.host {self.host!r} is not a loopback address: serving tokens in clear text off the machine is "
                "refused; set api.tls.cert_file and api.tls.key_file"
            )
        if self.token_days > self.token_max_days:
            raise ValueError(f"token_days ({self.token_days}) is above token_max_days ({self.token_max_days})")
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uvicorn_options(api: ApiSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run``: listen address and TLS."""
    options: dict[str, Any] = {"host": api.host, "port": api.port}
    if api.tls.enabled:
        options["ssl_certfile"] = str(api.tls.cert_file)
        options["ssl_keyfile"] = str(api.tls.key_file)
        if api.tls.client_ca_file is not None:
            options["ssl_ca_certs"] = str(api.tls.client_ca_file)
            options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return options
