"""The usage store's retention settings: defaults, and 13 months of hourly rollups at least."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.config import ConfigError, load_settings


def test_defaults_keep_two_weeks_raw_and_thirteen_months_hourly(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no usage section: raw samples 14 days, hourly rollups 400 days, daily 1100 days."""
    monkeypatch.delenv("YUNGUAN_CONFIG", raising=False)
    usage = load_settings().usage
    assert (usage.raw_days, usage.hourly_days, usage.daily_days) == (14, 400, 1100)


def test_hourly_under_thirteen_months_is_refused_naming_key_and_rules(tmp_path: Path) -> None:
    """395 days of hourly rollups cannot rebuild a year of monthly reports: refused, naming the key and articles."""
    path = tmp_path / "yunguan.yaml"
    path.write_text("usage:\n  hourly_days: 395\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "usage.hourly_days" in message
    assert "Bozhou art. 27" in message and "Suining art. 14" in message
    assert "396" in message


def test_environment_overrides_the_usage_section(monkeypatch: pytest.MonkeyPatch) -> None:
    """YUNGUAN_USAGE__RAW_DAYS and friends set the retention without a file."""
    monkeypatch.delenv("YUNGUAN_CONFIG", raising=False)
    monkeypatch.setenv("YUNGUAN_USAGE__RAW_DAYS", "7")
    monkeypatch.setenv("YUNGUAN_USAGE__HOURLY_DAYS", "396")
    usage = load_settings().usage
    assert (usage.raw_days, usage.hourly_days) == (7, 396)
