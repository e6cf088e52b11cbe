"""The engine's models built from values it computed itself, without validating them again, are the models
validation would have built: same fields, defaults, fields set and JSON; a name missing or misspelt is still refused."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, PrivateAttr

from controlplane.policy.facts import Aggregate, WindowFacts
from controlplane.policy.model import Evidence
from controlplane.policy.trusted import trusted

START = dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)
END = dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC)


def test_a_trusted_model_is_the_validated_one() -> None:
    """Evidence with and without its counts (defaults), compared whole: equal, same JSON, same fields set."""
    values = {
        "metric": "memory_percent",
        "aggregate": "mean",
        "window_start": START,
        "window_end": END,
        "value": 12.5,
        "comparison": "le",
        "threshold": 30.0,
        "met": True,
    }
    for extra in ({}, {"samples": 744, "estimated": 2, "missing": 1}):
        made, checked = trusted(Evidence)(**values, **extra), Evidence(**values, **extra)
        assert made == checked
        assert made.model_dump_json() == checked.model_dump_json()
        assert made.model_fields_set == checked.model_fields_set
        assert list(made.__dict__) == list(checked.__dict__)


def test_defaults_made_by_a_factory_are_made_anew() -> None:
    """Two windows left without metrics do not share one dict."""
    build = trusted(WindowFacts)
    first, second = build(label="2026-10", start=START, end=END), build(label="2026-10", start=START, end=END)
    assert first == WindowFacts(label="2026-10", start=START, end=END)
    assert first.metrics == {} and first.metrics is not second.metrics


def test_names_are_still_checked() -> None:
    """A missing or unknown field is a TypeError naming it; the values themselves are not checked (trusted)."""
    build = trusted(Aggregate)
    with pytest.raises(TypeError, match=r"missing \['metric'\]"):
        build(mean=1.0)
    with pytest.raises(TypeError, match=r"unknown \['meen'\]"):
        build(metric="cpu_percent", meen=1.0)


def test_a_model_with_private_state_is_refused() -> None:
    class Kept(BaseModel):
        value: int
        _cache: dict[str, int] = PrivateAttr(default_factory=dict)

    with pytest.raises(TypeError, match="validate it"):
        trusted(Kept)
