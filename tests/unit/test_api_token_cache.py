"""The memory of tokens that authenticated: kept for api.token_cache_s by the injected clock, expiry checked on every
use, keyed by the token text's digest (another text for the same id is not a hit), bounded, off at 0 seconds."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.api.settings import ApiSettings
from controlplane.api.token_cache import TokenCache
from controlplane.api.tokens import Role, Token
from controlplane.clock import FixedClock

START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def token(ident: str = "0123456789ab", expires: dt.datetime = START + dt.timedelta(days=1)) -> Token:
    return Token(
        id=ident,
        name="t",
        role=Role.VENDOR,
        vendor="v",
        unit=None,
        created=START,
        created_by="operator:x",
        expires=expires,
        revoked=None,
        revoked_by=None,
    )


def text(ident: str = "0123456789ab", secret: str = "s" * 43) -> str:
    return f"yg_{ident}_{secret}"


def test_a_token_is_believed_for_the_ttl_then_read_again() -> None:
    """Within token_cache_s the kept answer; at token_cache_s it is gone (the store must be asked)."""
    clock = FixedClock(START)
    cache = TokenCache(clock, ttl_s=5)
    cache.put(text(), token())
    clock.advance(dt.timedelta(seconds=5) - dt.timedelta(microseconds=1))
    assert cache.get(text()) == token()
    clock.advance(dt.timedelta(microseconds=1))
    assert cache.get(text()) is None


def test_expiry_is_checked_on_every_use() -> None:
    """A kept token past its expiry is not answered, however recently the store said yes."""
    clock = FixedClock(START)
    cache = TokenCache(clock, ttl_s=60)
    cache.put(text(), token(expires=START + dt.timedelta(seconds=1)))
    assert cache.get(text()) is not None
    clock.advance(dt.timedelta(seconds=1))
    assert cache.get(text()) is None


def test_only_the_same_text_is_a_hit() -> None:
    """The same id with another secret is a miss: the key is the digest of the whole text."""
    cache = TokenCache(FixedClock(START), ttl_s=5)
    cache.put(text(), token())
    assert cache.get(text(secret="x" * 43)) is None


def test_zero_seconds_keeps_nothing() -> None:
    """token_cache_s 0: every request reads the token's row."""
    cache = TokenCache(FixedClock(START), ttl_s=0)
    cache.put(text(), token())
    assert cache.get(text()) is None


def test_bounded_the_stale_go_first_then_the_oldest() -> None:
    """Full: entries past their time are dropped first; if none is, the oldest goes."""
    clock = FixedClock(START)
    cache = TokenCache(clock, ttl_s=5, size=2)
    cache.put(text("000000000001"), token("000000000001"))
    clock.advance(dt.timedelta(seconds=5))
    cache.put(text("000000000002"), token("000000000002"))
    cache.put(text("000000000003"), token("000000000003"))  # drops 1 (stale), keeps 2
    assert [cache.get(text(f"00000000000{i}")) is not None for i in (1, 2, 3)] == [False, True, True]
    cache.put(text("000000000004"), token("000000000004"))  # none stale: drops 2, the oldest
    assert [cache.get(text(f"00000000000{i}")) is not None for i in (2, 3, 4)] == [False, True, True]


def test_the_setting_is_bounded_and_named() -> None:
    """api.token_cache_s: 5 s by default, 0 to 60."""
    assert ApiSettings().token_cache_s == 5
    with pytest.raises(ValueError, match="token_cache_s"):
        ApiSettings(token_cache_s=61)
