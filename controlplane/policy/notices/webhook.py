"""Delivering a notice as a signed JSON POST.

The body is the notice as compact JSON (UTF-8, keys sorted); ``X-Yunguan-Signature: sha256=<hex>`` is
HMAC-SHA256 of exactly those bytes under the shared secret, ``X-Yunguan-Timestamp`` the try's Unix time (the body
carries the notice's own times, so a receiver can refuse stale or replayed bodies), ``X-Yunguan-Delivery`` the
delivery id (the same on every retry: receivers deduplicate on it). A connection error, a timeout, 408, 429 or a 5xx
is retried with a doubling backoff through the injected ``sleep``; another status is final for this tick. Redirects
are not followed. The transport is a plain function (``http_post``) that tests may replace.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from controlplane.clock import Clock
from controlplane.policy.notices.settings import WebhookSettings
from controlplane.redaction import Redactor

SIGNATURE_HEADER = "X-Yunguan-Signature"
TIMESTAMP_HEADER = "X-Yunguan-Timestamp"
DELIVERY_HEADER = "X-Yunguan-Delivery"
RETRIED_STATUSES = frozenset({408, 429})

Post = Callable[[str, bytes, Mapping[str, str], float], int]  # url, body, headers, timeout -> HTTP status


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    tries: int
    detail: str  # "HTTP 200", or what went wrong (redacted)


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """What a receiver checks (constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body``; the response status (read and discarded). Raises OSError or HTTPException on failure."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()


class WebhookSender:
    def __init__(
        self,
        settings: WebhookSettings,
        secret: str,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        redactor: Redactor,
        post: Post = http_post,
    ) -> None:
        self.settings = settings
        self._secret = secret
        self.clock = clock
        self.sleep = sleep
        self.redactor = redactor.with_secrets([secret])
        self.post = post

    def send(self, payload: Mapping[str, Any], delivery_id: str) -> SendResult:
        body = body_bytes(payload)
        signature = sign(self._secret, body)
        detail = ""
        tries = 0
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            tries += 1
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "yunguan-notices",
                SIGNATURE_HEADER: signature,
                TIMESTAMP_HEADER: str(int(self.clock.now().timestamp())),
                DELIVERY_HEADER: delivery_id,
            }
            try:
                status = self.post(self.settings.url, body, headers, self.settings.timeout_s)
            except (OSError, http.client.HTTPException) as exc:
                detail = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= status < 300:  # HTTP success
                return SendResult(True, tries, f"HTTP {status}")
            detail = f"HTTP {status}"
            if status < 500 and status not in RETRIED_STATUSES:  # not a server error
                break
        where = self.settings.shown_url()
        return SendResult(False, tries, self.redactor.text(f"POST {where}: {detail}"))
