"""Secrets never reach a log, an error message or the operation log.

A Redactor knows the configured secret values and the key names that hold secrets; it masks both in any nested
structure. The structlog processor and the operation log's payload encoder both go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|authorization)$", re.IGNORECASE
)
# user:password@ in any URL-looking string
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)", re.IGNORECASE)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a URL is masked whole before its password part
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *secrets])

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return URL_PASSWORD.sub(lambda m: m["scheme"] + MASK + m["at"], value)

    def value(self, value: Any, key: str | None = None) -> Any:
        if key is not None and SECRET_KEY.search(key) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def structlog_processor(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> Mapping[str, Any]:
        return {k: self.value(v, k) if k != "event" else self.value(v) for k, v in event_dict.items()}
