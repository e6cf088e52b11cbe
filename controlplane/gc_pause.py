"""Pausing Python's cyclic garbage collector over a stretch that builds hundreds of thousands of small objects that
form no cycles: the facts, evaluations and evidence of a month of 10,000 servers. Every few hundred allocations the
collector runs, and its full collections walk every object alive, again and again as the results pile up: that was
~40% of a month's evaluation CPU. Reference counting still frees everything that is not in a cycle while paused;
cycles made meanwhile are collected once it runs again. Pauses may overlap (threads of the agent): the collector
runs again when the last one ends, and only if it ran before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    """How many pauses are under way, and whether the collector ran before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = False


_PAUSES = _Pauses()


@contextmanager
def gc_paused() -> Iterator[None]:
    p = _PAUSES
    with p.lock:
        if p.depth == 0:
            p.was_enabled = gc.isenabled()
            gc.disable()
        p.depth += 1
    try:
        yield
    finally:
        with p.lock:
            p.depth -= 1
            if p.depth == 0 and p.was_enabled:
                gc.enable()
