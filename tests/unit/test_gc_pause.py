"""The collector is paused for the stretch, overlapping pauses keep it paused until the last ends, and it is left off
when it was off before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from controlplane.gc_pause import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_paused_inside_and_running_after_even_on_error() -> None:
    seen: list[bool] = []

    def evaluation() -> None:
        with gc_paused():
            seen.append(gc.isenabled())
            raise RuntimeError("the evaluation failed")

    with pytest.raises(RuntimeError):
        evaluation()
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_overlapping_pauses_end_with_the_last() -> None:
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second is still under way
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
