"""Tokens that authenticated recently, so a busy client's requests do not each read the token's row.

Kept by the SHA-256 of the token text (what the store keeps too; never the text) for ``api.token_cache_s`` seconds
after the store last said yes. Expiry is checked on every use; a revocation (``yunguan token revoke``, another
process) takes effect once the entry ages out: at most ``token_cache_s`` seconds later, 0 turning the cache off.
Refusals are not kept, so a token made a moment ago works at once. Bounded: when full, entries past their time go
first, then the oldest. Ages are read from the injected clock. A dict and a lock: a TTL cache library would bring
a dependency and its type stubs for these few lines.
"""

from __future__ import annotations

import datetime as dt
import threading

from controlplane.api.tokens import Token, digest
from controlplane.clock import Clock


class TokenCache:
    def __init__(self, clock: Clock, ttl_s: float, size: int = 1024) -> None:
        self._clock = clock
        self._ttl = dt.timedelta(seconds=ttl_s)
        self._size = size
        self._kept: dict[str, tuple[Token, dt.datetime]] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> Token | None:
        """The token this text authenticated as within the last ``ttl_s`` seconds, if it has not expired since."""
        if not self._ttl:
            return None
        now = self._clock.now()
        with self._lock:
            kept = self._kept.get(digest(text))
        if kept is None or now - kept[1] >= self._ttl or not kept[0].usable(now):
            return None
        return kept[0]

    def put(self, text: str, token: Token) -> None:
        """Keep a token the store has just accepted."""
        if not self._ttl:
            return
        now = self._clock.now()
        with self._lock:
            if len(self._kept) >= self._size:
                self._kept = {k: v for k, v in self._kept.items() if now - v[1] < self._ttl}
                while len(self._kept) >= self._size:
                    del self._kept[next(iter(self._kept))]
            self._kept[digest(text)] = (token, now)
